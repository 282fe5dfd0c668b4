"""Run ids by prefix and `latest`, workflow refs without `workflows/`, `workflow validate`
(local store mode, CliRunner; the --server side is in test_e2e_cli_remote.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from tests import ROOT
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.engine.clock import Clock
from wfobj.engine.errors import RunIdUnresolved
from wfobj.engine.runs.ids import resolve_run_id
from wfobj.engine.service import WorkflowService

EXAMPLES = ROOT / "examples"
CORPUS = EXAMPLES / "corpus.txt"
ONE_TASK = "name: {name}\ntasks:\n  a: {{image: wfobj/toolbox:local, command: ['true']}}\n"


@pytest.fixture
def wf(tmp_path):
    store = str(tmp_path / "store")
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True, store_opt: bool = True):
        result = runner.invoke(cli, [*(["--store", store] if store_opt else []), *args],
                               obj=CliContext())
        if ok:
            assert result.exit_code == 0, result.output
        return result

    invoke("init")
    return invoke


def apply_one_task(wf, tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(ONE_TASK.format(name=name))
    wf("workflow", "apply", str(path))


def trigger(wf, name: str) -> str:
    return json.loads(wf("run", "trigger", name, "--json").output)["run_id"]


def test_run_commands_take_a_unique_prefix_and_latest(wf, tmp_path):
    apply_one_task(wf, tmp_path, "first")
    apply_one_task(wf, tmp_path, "second")
    a = trigger(wf, "first")
    b = trigger(wf, "second")
    shown = json.loads(wf("run", "show", b[:-4], "--json").output)
    assert shown["run_id"] == b
    assert json.loads(wf("run", "show", "latest", "--json").output)["run_id"] == b
    latest_first = json.loads(wf("run", "show", "latest", "--workflow", "first", "--json").output)
    assert latest_first["run_id"] == a
    # the workflow may be named as its ref, too
    assert json.loads(wf("run", "tasks", "latest", "--workflow", "workflows/first",
                         "--json").output)[0]["task"] == "a"
    assert f"{a} killed" in wf("run", "kill", a[:-3]).output


def test_bad_run_references_are_one_line(wf, tmp_path):
    apply_one_task(wf, tmp_path, "first")
    none_yet = wf("run", "show", "latest", ok=False)
    assert none_yet.exit_code == 1 and none_yet.output == "Error: there is no run yet\n"
    run_id = trigger(wf, "first")
    short = wf("run", "show", run_id[:7], ok=False)
    assert short.output.strip() == (f"Error: run id prefix {run_id[:7]!r} is too short: give "
                                    "at least 8 characters")
    unknown = wf("run", "audit", "ffffffff-f", ok=False)
    assert unknown.output.strip() == "Error: no run has an id starting with ffffffff-f"
    other = wf("run", "show", run_id[:-1], "--workflow", "second", ok=False)
    assert "no run of workflow second has an id starting with" in other.output
    garbage = wf("run", "show", "not-a-run", ok=False)
    assert "'not-a-run' is not a run id, a prefix of one or latest" in garbage.output


class FixedClock(Clock):
    """Every run made in the same millisecond: their ids share the first 13 characters."""

    def now(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_an_ambiguous_prefix_says_how_many_runs_match(store):
    svc = WorkflowService(store, clock=FixedClock())
    svc.apply_workflow("w", ONE_TASK.format(name="w"), user="u",
                       content_type="application/yaml")
    ids = [svc.trigger(name="w", user="u")["run_id"] for _ in range(3)]
    prefix = ids[0][:13]
    assert all(i.startswith(prefix) for i in ids)
    with pytest.raises(RunIdUnresolved) as caught:
        resolve_run_id(svc.list_runs, prefix)
    assert caught.value.matches == 3
    assert str(caught.value).startswith(f"run id prefix {prefix} is ambiguous: 3 runs match")
    for run_id in ids:
        assert resolve_run_id(svc.list_runs, run_id[:30]) == run_id
    assert resolve_run_id(svc.list_runs, "latest", "w") == ids[-1]
    page = svc.list_runs(id_prefix=prefix, limit=2)
    assert [r["run_id"] for r in page["runs"]] == ids[:0:-1] and page["next_cursor"]
    rest = svc.list_runs(id_prefix=prefix, limit=2, cursor=page["next_cursor"])
    assert [r["run_id"] for r in rest["runs"]] == ids[:1] and rest["next_cursor"] is None


def test_object_log_takes_a_workflow_name(wf):
    wf("workflow", "apply", str(EXAMPLES / "wordcount.yaml"))
    rows = json.loads(wf("log", "wordcount", "--json").output)
    assert rows[0]["type"] == "workflow_version" and rows[0]["name"] == "wordcount"
    assert json.loads(wf("log", "workflows/wordcount", "--json").output) == rows
    missing = wf("log", "nothing-here", ok=False)
    assert missing.output.strip() == ("Error: not found: nothing-here (neither a ref, a "
                                      "workflow nor a hash)")
    assert json.loads(wf("workflow", "log", "workflows/wordcount", "--json").output)[0][
        "version"] == 1


def test_workflow_validate_registers_nothing(wf, tmp_path):
    checked = json.loads(wf("workflow", "validate", str(EXAMPLES / "wordcount.yaml"),
                            "--json").output)
    assert checked["name"] == "wordcount" and checked["tasks"] == ["split", "count"]
    assert checked["registered"] is False
    assert json.loads(wf("workflow", "list", "--json").output) == []
    applied = json.loads(wf("workflow", "apply", str(EXAMPLES / "wordcount.yaml"),
                            "--json").output)
    assert applied["definition_hash"] == checked["definition_hash"]
    again = wf("workflow", "validate", str(EXAMPLES / "wordcount.yaml")).output
    assert again.startswith(f"{EXAMPLES / 'wordcount.yaml'}: valid workflow wordcount "
                            "(2 tasks: split, count)")
    assert "registered as the newest version" in again


def test_workflow_validate_names_the_problem_and_needs_no_store(wf, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  a: {image: x, command: ['true'], pull: sometimes}\n")
    result = wf("workflow", "validate", str(bad), ok=False)
    assert result.exit_code == 1
    assert result.output == ("Error: tasks.a.pull: 'sometimes' is not one of missing, "
                             "always, never\n")
    good = wf("workflow", "validate", str(EXAMPLES / "wordcount.yaml"), store_opt=False)
    assert "valid workflow wordcount" in good.output
