"""`wfobj schedule …`, `tag`, `data …`, `trigger-on` and `triggers …` on a local store:
exit codes, one-line errors, --json shapes."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

WF = {"params": {"f": {"type": "file"}, "n": {"type": "int", "default": 1}},
      "tasks": {"a": {"image": "wfobj/toolbox:local", "command": ["true"]}}}


@pytest.fixture
def wf(tmp_path):
    store = str(tmp_path / "store")
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(cli, ["--store", store, *args], obj=CliContext())
        if ok:
            assert result.exit_code == 0, result.output
        return result

    invoke("init")
    (tmp_path / "wf.yaml").write_text(yaml.safe_dump(WF))
    (tmp_path / "in.txt").write_text("input\n")
    invoke("workflow", "apply", str(tmp_path / "wf.yaml"))
    return invoke


def test_schedule_add_list_show_pause_resume_rm(wf, tmp_path):
    made = json.loads(wf("--json", "schedule", "add", "nightly", "--cron", "30 2 * * *",
                         "--workflow", "wf", "-p", f"f=@{tmp_path / 'in.txt'}", "-p", "n=4",
                         "--timezone", "Europe/Paris", "--catchup", "latest", "--pin").output)
    assert made["parameters"]["n"] == 4 and len(made["parameters"]["f"]) == 64
    assert made["catchup"] == "latest" and made["pinned"] and len(made["next_slots"]) == 5
    listed = wf("schedule", "list").output
    assert "nightly" in listed and "Europe/Paris" in listed and "30 2 * * *" in listed
    assert "paused" in wf("schedule", "pause", "nightly").output
    assert "active" in wf("schedule", "resume", "nightly").output
    shown = wf("schedule", "show", "nightly").output
    assert "v3 resumed by local:" in shown and "v1 created by local:" in shown
    assert "removed schedule nightly" in wf("schedule", "rm", "nightly").output
    gone = wf("schedule", "show", "nightly", ok=False)
    assert gone.exit_code == 1 and gone.output.strip() == "Error: unknown schedule: nightly"


@pytest.mark.parametrize(("args", "says"), [
    (["--cron", "* * *"], "invalid cron '* * *'"),
    (["--cron", "0 0 * * *", "--timezone", "Not/AZone"], "invalid timezone 'Not/AZone'"),
    (["--cron", "0 0 * * *", "--catchup", "some"], "Invalid value for '--catchup'"),
])
def test_bad_schedules_exit_non_zero_with_one_line(wf, args, says):
    result = wf("schedule", "add", "s", "--workflow", "wf", "-p", "f=" + "a" * 64, *args,
                ok=False)
    assert result.exit_code != 0 and says in result.output
    assert wf("--json", "schedule", "list").output.strip() == "[]"


def test_tag_data_and_trigger_on(wf, tmp_path):
    put = json.loads(wf("--json", "put", str(tmp_path / "in.txt")).output)
    oid = put[0]["hash"]
    tagged = json.loads(wf("--json", "tag", "data/in", oid[:8], "--new").output)
    assert tagged == {"ref": "data/in", "hash": oid, "kind": "file", "previous": None}
    again = wf("tag", "data/in", oid, "--new", ok=False)
    assert again.exit_code == 1 and "conflict on ref data/in" in again.output
    outside = wf("tag", "workflows/wf", oid, ok=False)
    assert outside.exit_code == 1 and "not a data ref" in outside.output
    assert f"data/in -> {oid} (file)" in wf("data", "show", "data/in").output
    assert "data/in" in wf("data", "list").output
    bad = wf("trigger-on", "runs/x", "--workflow", "wf", "--param", "f", ok=False)
    assert bad.exit_code == 1 and "not a data ref" in bad.output
    bad_value = wf("trigger-on", "data/in", "--workflow", "wf", "--param", "f", "-p", "n=x",
                   ok=False)
    assert bad_value.exit_code != 0 and "n" in bad_value.output
    assert "subscribed: data/in -> wf" in wf("trigger-on", "data/in", "--workflow", "wf",
                                             "--param", "f", "-p", "n=7").output
    rows = json.loads(wf("--json", "triggers", "list").output)
    assert [(r["ref"], r["workflow"], r["param"], r["seen"], r["parameters"]) for r in rows] == [
        ("data/in", "wf", "f", oid, {"n": 7})]
    assert "removed" in wf("triggers", "rm", "data/in", "--workflow", "wf", "--param", "f").output
    assert json.loads(wf("--json", "triggers", "list").output) == []
