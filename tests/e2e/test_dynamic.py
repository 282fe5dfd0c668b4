"""Conditions, the failure policy and retry backoff through a real `wfobj serve` (gunicorn,
Docker executor): over HTTP and with the CLI's --server."""

from __future__ import annotations

import json

import pytest
import requests
import yaml
from click.testing import CliRunner

from tests.support_e2e import served, wait_terminal
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = "wfobj/toolbox:local"


def sh(command: str, **extra) -> dict:
    return {"image": IMAGE, "command": ["sh", "-c", command], **extra}


BRANCHES = {
    "params": {"mode": {"type": "string", "default": "fast"}},
    "tasks": {
        "probe": sh("echo rows=42 >> $WFOBJ_VARS", outputs={"vars": ["rows"]}),
        "big": sh("echo big > /out/big.txt", when="tasks.probe.vars.rows > 1000",
                  outputs={"files": ["big.txt"]}),
        "small": sh("true", when="tasks.probe.vars.rows <= 1000 and params.mode == 'fast'"),
        "use_big": sh("cat /in/big", inputs={"big": {"task": "big", "file": "big.txt"}}),
        "after_big": sh("true", after=["big"]),
    },
}
KEEP_GOING = {
    "on_failure": "continue",
    "tasks": {"bad": sh("exit 3"), "needs_bad": sh("true", after=["bad"]),
              "fine": sh("true"), "then": sh("true", after=["fine"])},
}


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-dynamic"))


def wfobj(server, *args):
    return CliRunner().invoke(cli, ["--server", server.url, "--token", server.tokens["runner"],
                                    *args], obj=CliContext())


def run_over_http(server, name: str, definition: dict, **params) -> dict:
    put = requests.put(f"{server.url}/api/workflows/{name}", json=definition, headers=server.h())
    assert put.status_code in (200, 201), put.text
    rid = requests.post(f"{server.url}/api/workflows/{name}/trigger",
                        json={"parameters": params}, headers=server.h()).json()["run_id"]
    return wait_terminal(server, rid)


def audit_skips(server, run_id: str) -> dict:
    audit = requests.get(f"{server.url}/api/runs/{run_id}/audit", headers=server.h()).json()
    return {e["task"]: (e["skip"], e["reason"]) for e in audit if e["to"] == "skipped"}


def test_conditions_over_http(server):
    run = run_over_http(server, "branches", BRANCHES)
    assert run["state"] == "success", run
    assert run["tasks"] == {"probe": "success", "big": "skipped", "small": "success",
                            "after_big": "success", "use_big": "skipped"}
    assert audit_skips(server, run["run_id"]) == {
        "big": ("condition", "skipped: condition false: tasks.probe.vars.rows > 1000"),
        "use_big": ("condition", "skipped: needs the outputs of 'big', skipped by a condition")}


def test_a_bad_condition_is_a_400_naming_task_and_position(server):
    bad = json.loads(json.dumps(BRANCHES))
    bad["tasks"]["small"]["when"] = "tasks.probe.vars.nope == 1"
    put = requests.put(f"{server.url}/api/workflows/badcond", json=bad, headers=server.h())
    assert put.status_code == 400
    assert put.json()["description"] == (
        "tasks.small.when: at character 1: tasks.probe.vars.nope: task 'probe' declares no var 'nope'")
    assert requests.get(f"{server.url}/api/workflows/badcond", headers=server.h()).status_code == 404


def test_on_failure_continue_over_http(server):
    run = run_over_http(server, "keepgoing", KEEP_GOING)
    assert run["state"] == "failed"
    assert run["tasks"] == {"bad": "failed", "fine": "success", "needs_bad": "skipped",
                            "then": "success"}
    assert audit_skips(server, run["run_id"]) == {
        "needs_bad": ("failure", "skipped: upstream 'bad' failed")}


def test_conditions_and_policy_with_the_cli(server, tmp_path):
    path = tmp_path / "branches.yaml"
    path.write_text(yaml.safe_dump({**BRANCHES, "on_failure": "continue"}))
    applied = wfobj(server, "workflow", "apply", str(path), "--name", "cli-branches", "--json")
    assert applied.exit_code == 0, applied.output
    done = wfobj(server, "run", "trigger", "cli-branches", "-p", "mode=slow", "--wait", "--json")
    assert done.exit_code == 0, done.output
    run = json.loads(done.output)["run"]
    assert run["state"] == "success" and run["tasks"]["small"] == "skipped"
    audit = wfobj(server, "run", "audit", run["run_id"])
    assert audit.exit_code == 0
    assert "(skipped: condition false: tasks.probe.vars.rows <= 1000 and params.mode == 'fast')" in audit.output
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({"tasks": {"t": sh("true", when="1 <")}}))
    refused = wfobj(server, "workflow", "apply", str(broken), "--name", "broken")
    assert refused.exit_code != 0
    assert refused.output.strip() == (
        "Error: tasks.t.when: at character 4: expected a value: a string, a number, true, "
        "false, a reference, a list or '(', found the end (HTTP 400 Invalid definition)")


MEMORY_CHECK = ("m=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes); echo mem=$m >> $WFOBJ_VARS; "
                "test $m -ge 100000000")
GROWING = {"tasks": {"hungry": sh(
    MEMORY_CHECK, retries=2, resources={"memory": "64m"}, outputs={"vars": ["mem"]},
    retry={"delay": "1s", "backoff": 2, "memory_factor": 2})}}


def test_retry_waits_and_grows_memory_in_real_containers(server):
    """The first attempt's container gets 64 MiB and fails its check; the second, after a
    1 s delay, gets 128 MiB and passes. Evidence records both."""
    run = run_over_http(server, "growing", GROWING)
    assert run["state"] == "success", run
    rid = run["run_id"]
    second = requests.get(f"{server.url}/api/runs/{rid}/tasks/hungry", headers=server.h()).json()
    # the first attempt's evidence object as stored (numbers as decimal text)
    first = requests.get(f"{server.url}/api/objects/{second['attempts'][0]}",
                         headers=server.h()).json()
    assert first["state"] == "failed" and second["state"] == "success"
    assert first["retry"] == {"delay_s": "0", "resources": {"cpus": None, "memory": "64m", "pids": None}}
    assert second["retry"] == {"delay_s": 1, "resources": {"cpus": None, "memory": "128m", "pids": None}}
    assert first["limits"]["memory"] == 64 << 20 and second["limits"]["memory"] == 128 << 20
    assert second["vars"] == {"mem": str(128 << 20)}
    from wfobj.engine.clock import parse_time

    gap = parse_time(second["started_at"]) - parse_time(first["ended_at"])
    assert gap.total_seconds() >= 1


def test_retry_evidence_with_the_cli(server, tmp_path):
    path = tmp_path / "growing.yaml"
    path.write_text(yaml.safe_dump(GROWING))
    assert wfobj(server, "workflow", "apply", str(path), "--name", "cli-growing").exit_code == 0
    done = wfobj(server, "run", "trigger", "cli-growing", "--no-cache", "--wait", "--json")
    assert done.exit_code == 0, done.output
    rid = json.loads(done.output)["run"]["run_id"]
    shown = wfobj(server, "run", "task", rid, "hungry", "--json")  # the last attempt
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["retry"] == {
        "delay_s": 1, "resources": {"cpus": None, "memory": "128m", "pids": None}}
    # with the cache, the first attempt reuses that success: it ran nothing, so it
    # records no retry facts (the evidence it reuses has them)
    cached = wfobj(server, "run", "trigger", "cli-growing", "--wait", "--json")
    rid = json.loads(cached.output)["run"]["run_id"]
    hit = json.loads(wfobj(server, "run", "task", rid, "hungry", "--json").output)
    assert hit["attempt"] == 1 and hit["cached_from"] and hit["retry"] is None
