"""`wfobj workflow …`, `wfobj run …` in local store mode (CliRunner)."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from tests import ROOT
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

EXAMPLES = ROOT / "examples"


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
    return invoke


def test_workflow_apply_list_show_log(wf, tmp_path):
    first = wf("workflow", "apply", str(EXAMPLES / "wordcount.yaml"))
    assert "wordcount version 1 (created)" in first.output
    again = json.loads(wf("workflow", "apply", str(EXAMPLES / "wordcount.yaml"), "--json").output)
    assert again["created"] is False and again["version"] == 1
    changed = yaml.safe_load((EXAMPLES / "wordcount.yaml").read_text())
    changed["description"] = "changed"
    path = tmp_path / "wc.json"
    path.write_text(json.dumps(changed))
    assert "version 2 (created)" in wf("workflow", "apply", str(path)).output
    rows = json.loads(wf("--json", "workflow", "list").output)
    assert [(r["name"], r["version"]) for r in rows] == [("wordcount", 2)]
    log = json.loads(wf("workflow", "log", "wordcount", "--json").output)
    assert [v["version"] for v in log] == [2, 1] and log[0]["registered_by"].startswith("local:")
    shown = json.loads(wf("workflow", "show", "wordcount", "--json").output)
    assert shown["definition"]["description"] == "changed"
    old = json.loads(wf("workflow", "show", "--hash", log[1]["definition_hash"][:8], "--json").output)
    assert old["definition"]["description"] == "Count the words of a text"


def test_bad_definition_exits_with_one_readable_line(wf, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("tasks:\n  a: {image: x, command: ['true'], outputs: {files: ['..']}}\n")
    result = wf("workflow", "apply", str(path), ok=False)
    assert result.exit_code != 0
    assert result.output.strip() == "Error: tasks.a.outputs.files[0]: '..' is not allowed"


def test_trigger_list_show_kill_audit(wf):
    wf("workflow", "apply", str(EXAMPLES / "wordcount.yaml"))
    bad = wf("run", "trigger", "wordcount", "-p", "min_len=3", ok=False)
    assert bad.exit_code != 0 and "parameter 'corpus': missing required value" in bad.output
    bad = wf("run", "trigger", "wordcount", "-p", f"corpus=@{EXAMPLES / 'corpus.txt'}",
             "-p", "min_len=many", ok=False)
    assert "parameter 'min_len': 'many' is not of type int" in bad.output
    started = json.loads(wf("run", "trigger", "wordcount", "-p",
                            f"corpus=@{EXAMPLES / 'corpus.txt'}", "-p", "min_len=4",
                            "--json").output)
    run_id = started["run_id"]
    assert started["state"] == "pending"
    shown = json.loads(wf("run", "show", run_id, "--json").output)
    assert shown["parameters"]["min_len"] == 4 and shown["state"] == "pending"
    listed = json.loads(wf("run", "list", "--workflow", "wordcount", "--json").output)
    assert [r["run_id"] for r in listed["runs"]] == [run_id]
    assert run_id in wf("run", "list").output
    assert "killed" in wf("run", "kill", run_id).output
    again = wf("run", "kill", run_id, ok=False)
    assert again.exit_code != 0 and f"run {run_id} is already killed" in again.output
    audit = wf("run", "audit", run_id).output
    assert "run_created" in audit and "pending -> killed" in audit
    tasks = json.loads(wf("run", "tasks", run_id, "--json").output)
    assert [(t["task"], t["state"]) for t in tasks] == [("split", "skipped"), ("count", "skipped")]
    missing = wf("run", "show", "01234567-89ab-7def-8123-456789abcdef", ok=False)
    assert missing.exit_code != 0 and "unknown run" in missing.output


def test_trigger_by_hash_prefix_pins_the_definition(wf, tmp_path):
    wf("workflow", "apply", str(EXAMPLES / "wordcount.yaml"))
    old = json.loads(wf("workflow", "show", "wordcount", "--json").output)["definition_hash"]
    changed = yaml.safe_load((EXAMPLES / "wordcount.yaml").read_text())
    changed["description"] = "v2"
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(changed))
    wf("workflow", "apply", str(path))
    corpus = EXAMPLES / "corpus.txt"
    started = json.loads(wf("run", "trigger", "--hash", old[:10], "-p", f"corpus=@{corpus}",
                            "--json").output)
    assert started["definition_hash"] == old
    assert json.loads(wf("run", "show", started["run_id"], "--json").output)["definition_hash"] == old


def test_trigger_needs_name_or_hash(wf):
    result = wf("run", "trigger", ok=False)
    assert result.exit_code != 0 and "NAME or --hash" in result.output


@pytest.mark.docker
def test_trigger_wait_runs_and_prints_evidence(wf, docker_client):
    wf("workflow", "apply", str(EXAMPLES / "wordcount.yaml"))
    result = wf("run", "trigger", "wordcount", "-p", f"corpus=@{EXAMPLES / 'corpus.txt'}", "--wait")
    assert "success" in result.stdout.splitlines()[0]
    assert "output    count.txt" in result.stdout and "var       count=" in result.stdout
    # progress goes to stderr, one `time task old -> new` line per change, ending with
    # the run's own last change
    lines = result.stderr.splitlines()
    assert any(line.split()[1:] == ["split", "pending", "->", "running"] for line in lines)
    assert any(line.split()[1:] == ["count", "running", "->", "success"] for line in lines)
    assert lines[-1].split()[1:] == ["(run)", "running", "->", "success"]
    run_id = result.stdout.split()[1]
    files = json.loads(wf("run", "files", run_id, "--json").output)
    assert {f["path"] for f in files} == {"words.txt", "count.txt"}
    lineage = json.loads(wf("run", "lineage", run_id, "--json").output)
    assert any(n["id"].startswith("file:") for n in lineage["nodes"])
    logs = wf("run", "logs", run_id, "count")
    assert logs.exit_code == 0


@pytest.mark.docker
def test_trigger_wait_exits_non_zero_when_the_run_fails(wf, docker_client, tmp_path):
    path = tmp_path / "fails.yaml"
    path.write_text("name: fails\ntasks:\n  a: {image: wfobj/toolbox:local, command: [sh, -c, 'exit 3']}\n")
    wf("workflow", "apply", str(path))
    result = wf("run", "trigger", "fails", "--wait", ok=False)
    assert result.exit_code == 1 and "failed" in result.stdout.splitlines()[0]
    assert "exit      3" in result.output


def test_run_files_lists_output_folders_and_with_r_their_files(tmp_path):
    from tests.support_engine import run_with, task, trigger
    from wfobj.engine.executors.fake import TaskBehavior
    from wfobj.engine.service import WorkflowService
    from wfobj.objstore import init_store

    store_path = tmp_path / "s"
    store = init_store(store_path)
    svc = WorkflowService(store)
    definition = {"tasks": {"make": task("split", outputs={"files": ["parts", "top.txt"]})}}
    run_id = trigger(svc, definition, "folders")
    run_with(store, run_id, {"make": TaskBehavior(
        outputs={"parts": {"a.txt": b"A", "sub/b.txt": b"BB"}, "top.txt": b"top"})})
    store.close()

    def files(*flags):
        result = CliRunner().invoke(cli, ["--store", str(store_path), "run", "files", run_id,
                                          *flags], obj=CliContext())
        assert result.exit_code == 0, result.output
        return result.output

    flat = files()
    assert "make/parts/\n" in flat and "make/top.txt\n" in flat and "a.txt" not in flat
    deep = json.loads(files("-r", "--json"))
    assert [(f["path"], f["kind"]) for f in deep] == [
        ("parts", "dir"), ("parts/a.txt", "file"), ("parts/sub/b.txt", "file"),
        ("top.txt", "file")]
    assert deep[1]["tree"] == deep[0]["hash"]


def test_run_compare_names_the_paths_that_differ_inside_output_folders(tmp_path):
    from tests.support_engine import run_with, task, trigger
    from wfobj.engine.executors.fake import TaskBehavior
    from wfobj.engine.service import WorkflowService
    from wfobj.objstore import init_store

    store_path = tmp_path / "s"
    store = init_store(store_path)
    svc = WorkflowService(store)
    definition = {"tasks": {"make": task("split", outputs={"files": ["parts"]})}}
    runs = []
    for parts in ({"a.txt": b"A", "sub/b.txt": b"B"}, {"a.txt": b"A", "sub/b.txt": b"b!",
                                                       "new.txt": b"N"}):
        runs.append(trigger(svc, definition, "folders", cache=False))
        run_with(store, runs[-1], {"make": TaskBehavior(outputs={"parts": parts})})
    store.close()
    result = CliRunner().invoke(cli, ["--store", str(store_path), "run", "compare", *runs],
                                obj=CliContext())
    assert result.exit_code == 0, result.output
    lines = [line.split(":")[0].split() for line in result.output.splitlines()]
    assert ["added", "parts/new.txt"] in lines and ["changed", "parts/sub/b.txt"] in lines
    assert not any("parts/a.txt" in line for line in result.output.splitlines())
