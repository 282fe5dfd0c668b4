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
    human = wfobj(server, "run", "task", rid, "hungry").output
    assert "  retry     waited 1.000s; cpus -, memory 128m, pids -" in human.splitlines(), human
    # with the cache, the first attempt reuses that success: it ran nothing, so it
    # records no retry facts (the evidence it reuses has them)
    cached = wfobj(server, "run", "trigger", "cli-growing", "--wait", "--json")
    rid = json.loads(cached.output)["run"]["run_id"]
    hit = json.loads(wfobj(server, "run", "task", rid, "hungry", "--json").output)
    assert hit["attempt"] == 1 and hit["cached_from"] and hit["retry"] is None


CHILD = {"params": {"word": {"type": "string"}, "times": {"type": "int", "default": 2}},
         "tasks": {"say": sh("for i in $(seq {{params.times}}); do echo {{params.word}}; done "
                             "> /out/said.txt; echo lines=$(wc -l < /out/said.txt) >> $WFOBJ_VARS",
                             outputs={"files": ["said.txt"], "vars": ["lines"]})}}
PARENT = {"params": {"word": {"type": "string", "default": "hello"}},
          "tasks": {
              "prep": sh("echo times=3 >> $WFOBJ_VARS", outputs={"vars": ["times"]}),
              "sub": {"workflow": {"name": "child"},
                      "params": {"word": "{{params.word}}", "times": "{{tasks.prep.vars.times}}"},
                      "outputs": {"files": ["say/said.txt"], "vars": ["say.lines"]}},
              "report": sh("echo {{tasks.sub.vars.say.lines}} > /out/n; cat /in/said >> /out/n",
                           inputs={"said": {"task": "sub", "file": "say/said.txt"}},
                           outputs={"files": ["n"]}, when="tasks.sub.vars.say.lines >= 3"),
          }}


def get(server, path: str):
    answer = requests.get(f"{server.url}{path}", headers=server.h())
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_sub_workflow_over_http(server):
    assert requests.put(f"{server.url}/api/workflows/child", json=CHILD,
                        headers=server.h()).status_code == 201
    run = run_over_http(server, "parent", PARENT, word="hi")
    assert run["state"] == "success", run
    assert run["tasks"] == {"prep": "success", "sub": "success", "report": "success"}
    sub = get(server, f"/api/runs/{run['run_id']}/tasks/sub")
    child = get(server, f"/api/runs/{sub['child']['run_id']}")
    assert child["state"] == "success" and child["workflow"] == "child"
    assert child["parent"] == {"run_id": run["run_id"], "task": "sub"}
    assert child["parameters"] == {"word": "hi", "times": 3}
    assert sub["child"]["manifest_hash"] == child["manifest_hash"]
    assert sub["vars"] == {"say.lines": "3"}
    files = {f["path"]: f["hash"] for f in get(server, f"/api/runs/{run['run_id']}/files")}
    child_files = {f["path"]: f["hash"] for f in get(server, f"/api/runs/{child['run_id']}/files")}
    assert files["say/said.txt"] == child_files["said.txt"]
    n = requests.get(f"{server.url}/api/objects/{files['n']}", headers=server.h()).content
    assert n == b"3\nhi\nhi\nhi\n"
    pinned = get(server, "/api/workflows/parent")["definition"]["tasks"]["sub"]["workflow"]
    assert pinned == {"name": "child", "hash": get(server, "/api/workflows/child")["definition_hash"]}


def test_sub_workflow_refusals_over_http(server):
    requests.put(f"{server.url}/api/workflows/child", json=CHILD, headers=server.h())
    bad = json.loads(json.dumps(PARENT))
    bad["tasks"]["sub"]["params"]["colour"] = "red"
    put = requests.put(f"{server.url}/api/workflows/badparent", json=bad, headers=server.h())
    assert put.status_code == 400
    assert put.json()["description"].startswith(
        "tasks.sub.params.colour: workflow 'child' has no param 'colour'")
    loop = {"tasks": {"again": {"workflow": {"name": "loop"}}}}
    requests.put(f"{server.url}/api/workflows/loop", json={"tasks": {"t": sh("true")}},
                 headers=server.h())
    put = requests.put(f"{server.url}/api/workflows/loop", json=loop, headers=server.h())
    assert put.status_code == 400
    assert put.json()["description"] == "tasks.again.workflow: workflow cycle: loop -> loop"


def test_killing_a_parent_kills_its_child_over_http(server):
    slow = {"tasks": {"nap": sh("sleep 60")}}
    calls = {"tasks": {"sub": {"workflow": {"name": "slow"}}}}
    for name, body in (("slow", slow), ("calls-slow", calls)):
        assert requests.put(f"{server.url}/api/workflows/{name}", json=body,
                            headers=server.h()).status_code in (200, 201)
    rid = requests.post(f"{server.url}/api/workflows/calls-slow/trigger", json={},
                        headers=server.h()).json()["run_id"]
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sub = get(server, f"/api/runs/{rid}/tasks/sub")
        children = [r for r in get(server, "/api/runs?workflow=slow")["runs"]]
        if children and get(server, f"/api/runs/{children[0]['run_id']}")["tasks"]["nap"] == "running":
            break
        time.sleep(0.2)
    assert requests.post(f"{server.url}/api/runs/{rid}/kill", headers=server.h()).status_code in (200, 202)
    parent = wait_terminal(server, rid)
    assert parent["state"] == "killed"
    sub = get(server, f"/api/runs/{rid}/tasks/sub")
    child = wait_terminal(server, sub["child"]["run_id"])
    assert child["state"] == "killed" and child["parent"]["run_id"] == rid


def test_a_sub_workflow_with_the_cli(server, tmp_path):
    for name, body in (("child", CHILD), ("cli-parent", PARENT)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(body))
        applied = wfobj(server, "workflow", "apply", str(path), "--name", name)
        assert applied.exit_code == 0, applied.output
    done = wfobj(server, "run", "trigger", "cli-parent", "-p", "word=yo", "--wait", "--json")
    assert done.exit_code == 0, done.output
    rid = json.loads(done.output)["run"]["run_id"]
    sub = json.loads(wfobj(server, "run", "task", rid, "sub", "--json").output)
    child = json.loads(wfobj(server, "run", "show", sub["child"]["run_id"], "--json").output)
    assert child["parent"] == {"run_id": rid, "task": "sub"} and child["parameters"]["word"] == "yo"
    shown = wfobj(server, "workflow", "show", "cli-parent", "--json")
    assert json.loads(shown.output)["definition"]["tasks"]["sub"]["workflow"]["name"] == "child"
    human = wfobj(server, "run", "task", rid, "sub").output
    assert f"  child     run {sub['child']['run_id']}" in human.splitlines()
    human = wfobj(server, "run", "show", sub["child"]["run_id"]).output
    assert f"parent           {rid} task sub" in human.splitlines()


def test_the_word_report_example_with_the_cli(server):
    from tests.support_e2e import ROOT

    examples = ROOT / "examples"
    for name in ("wordcount", "word-report"):
        applied = wfobj(server, "workflow", "apply", str(examples / f"{name}.yaml"))
        assert applied.exit_code == 0, applied.output
    done = wfobj(server, "run", "trigger", "word-report",
                 "-p", f"corpus=@{examples / 'corpus.txt'}", "--wait", "--json")
    assert done.exit_code == 0, done.output
    run = json.loads(done.output)["run"]
    assert run["state"] == "success", run
    tasks = run["tasks"]
    assert {tasks["long_text"], tasks["short_text"]} == {"success", "skipped"}
    assert tasks["count"] == tasks["top"] == tasks["report"] == "success"
    count = json.loads(wfobj(server, "run", "task", run["run_id"], "count", "--json").output)
    child = json.loads(wfobj(server, "run", "show", count["child"]["run_id"], "--json").output)
    assert child["workflow"] == "wordcount" and child["state"] == "success"
    assert count["vars"]["count.count"] == json.loads(wfobj(
        server, "run", "task", child["run_id"], "count", "--json").output)["vars"]["count"]
    clean = json.loads(wfobj(server, "run", "task", run["run_id"], "clean", "--json").output)
    assert child["parameters"]["corpus"] == clean["outputs"][0]["hash"]
