"""`wfobj schedule …`, `tag`, `data …`, `trigger-on` and `triggers …` with --server
against a real `wfobj serve` (gunicorn on loopback, no engine worker): the CLI's
RemoteService gives what the local service gives, and the server's roles hold."""

from __future__ import annotations

import json

import pytest
import requests
import yaml
from click.testing import CliRunner

from tests.support_e2e import served
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = pytest.mark.slow
WF = {"params": {"f": {"type": "file"}, "n": {"type": "int", "default": 1}},
      "tasks": {"a": {"image": "wfobj/toolbox:local", "command": ["true"]}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-cli-schedules"), engine_workers=0)


def wfobj(server, *args, role="admin"):
    return CliRunner().invoke(cli, ["--server", server.url, "--token", server.tokens[role],
                                    *args], obj=CliContext())


def ok_json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def inputs(server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inputs")
    (tmp / "wf.yaml").write_text(yaml.safe_dump(WF))
    (tmp / "in.txt").write_text("remote input\n")
    assert wfobj(server, "workflow", "apply", str(tmp / "wf.yaml"),
                 role="runner").exit_code == 0
    return tmp


def test_schedules_over_the_server(server, inputs):
    denied = wfobj(server, "schedule", "add", "s", "--cron", "0 * * * *", "--workflow", "wf",
                   "-p", "f=" + "a" * 64, role="runner")
    assert denied.exit_code == 1 and "HTTP 403" in denied.output
    made = ok_json(wfobj(server, "--json", "schedule", "add", "s", "--cron", "0 6 * * *",
                         "--workflow", "wf", "-p", f"f=@{inputs / 'in.txt'}",
                         "--timezone", "Asia/Tokyo", "--catchup", "all"))
    assert made["changed_by"] == "admin-user" and made["catchup"] == "all"
    assert made["next_slots"][0].endswith("T21:00:00.000000Z")  # 06:00 in Tokyo
    bad = wfobj(server, "schedule", "add", "s", "--cron", "0 6 * *", "--workflow", "wf",
                "-p", "f=" + "a" * 64)
    assert bad.exit_code == 1 and "invalid cron '0 6 * *'" in bad.output
    assert "s " in wfobj(server, "schedule", "list").output
    assert ok_json(wfobj(server, "--json", "schedule", "pause", "s"))["paused"] is True
    assert ok_json(wfobj(server, "--json", "schedule", "resume", "s"))["paused"] is False
    shown = ok_json(wfobj(server, "--json", "schedule", "show", "s"))
    assert [h["change"] for h in shown["history"]] == ["resumed", "paused", "created"]
    assert ok_json(wfobj(server, "--json", "schedule", "rm", "s"))["removed"] is True
    gone = wfobj(server, "schedule", "show", "s")
    assert gone.exit_code == 1 and "unknown schedule: s" in gone.output


def test_data_refs_and_triggers_over_the_server(server, inputs):
    oid = requests.post(f"{server.url}/api/objects", data=b"remote data", headers=server.h(),
                        timeout=10).json()["hash"]
    tagged = ok_json(wfobj(server, "--json", "tag", "data/remote", oid, "--new", role="runner"))
    assert tagged == {"ref": "data/remote", "hash": oid, "kind": "file", "previous": None}
    stale = wfobj(server, "tag", "data/remote", oid, "--old", "b" * 64, role="runner")
    assert stale.exit_code == 1 and "HTTP 409" in stale.output
    outside = wfobj(server, "tag", "runs/x", oid, role="runner")
    assert outside.exit_code == 1 and "not a data ref" in outside.output
    assert wfobj(server, "tag", "data/remote", oid, role="reader").exit_code == 1
    assert ok_json(wfobj(server, "--json", "data", "show", "data/remote",
                         role="reader"))["hash"] == oid
    assert [d["ref"] for d in ok_json(wfobj(server, "--json", "data", "list",
                                            role="reader"))] == ["data/remote"]
    denied = wfobj(server, "trigger-on", "data/remote", "--workflow", "wf", "--param", "f",
                   role="runner")
    assert denied.exit_code == 1 and "HTTP 403" in denied.output
    made = ok_json(wfobj(server, "--json", "trigger-on", "data/remote", "--workflow", "wf",
                         "--param", "f"))
    assert made["created"] is True and made["seen"] == oid
    wrong = wfobj(server, "trigger-on", "workflows/wf", "--workflow", "wf", "--param", "f")
    assert wrong.exit_code == 1 and "not a data ref" in wrong.output and "HTTP 400" in wrong.output
    assert [t["param"] for t in ok_json(wfobj(server, "--json", "triggers", "list"))] == ["f"]
    assert ok_json(wfobj(server, "--json", "triggers", "rm", "data/remote", "--workflow", "wf",
                         "--param", "f"))["removed"] is True
    assert ok_json(wfobj(server, "--json", "triggers", "list")) == []
