"""Human output and errors of the `wfobj` commands: no `None` anywhere, a header on every
list, JSON errors under --json, `-h` on every command, no ANSI codes when stdout is not a
terminal. CliRunner and real `wfobj` processes on real LMDB stores."""

from __future__ import annotations

import json
import re
import subprocess

import click
import pytest
from click.testing import CliRunner

from tests.support_e2e import ROOT, wfobj_argv
from tests.support_engine import run_with, task, trigger
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.engine.access.tokens import TokenStore
from wfobj.engine.service import WorkflowService
from wfobj.objstore import init_store

TWO = {"tasks": {"a": task("echo hi > /out/x", outputs={"files": ["x"]}),
                 "b": task("true", after=["a"])}}
# a task whose container can never start: its evidence has no exit code
NEVER = {"tasks": {"a": {"image": "wfobj/not-here:none", "pull": "never",
                         "command": ["true"]},
                   "b": task("true", after=["a"])}}
ANSI = re.compile(r"\x1b\[")


@pytest.fixture
def store_path(tmp_path):
    """A store with an ended run (fake executor), a pending and a killed one, a token."""
    path = tmp_path / "store"
    store = init_store(path)
    svc = WorkflowService(store)
    ended = trigger(svc, TWO, "two")
    run_with(store, ended)
    svc.trigger(name="two", parameters={}, user="alice")
    killed = svc.trigger(name="two", parameters={}, user="alice")["run_id"]
    svc.kill_run(killed, user="alice")
    svc.trigger(name="two", parameters={}, user="alice")  # stays pending: the latest
    TokenStore(store).create("ci", "reader")
    store.close()
    return path


def wf(path, *args, ok: bool = True):
    result = CliRunner().invoke(cli, ["--store", str(path), *args], obj=CliContext())
    if ok:
        assert result.exit_code == 0, (args, result.output, result.stderr)
    return result


def run_ids(path) -> list[str]:
    return [r["run_id"] for r in json.loads(wf(path, "run", "list", "--json").output)["runs"]]


def human_outputs(path) -> dict[tuple, str]:
    latest, killed, _, ended = run_ids(path)
    commands = [("run", "list"), ("workflow", "list"), ("workflow", "log", "two"),
                ("token", "list"), ("ls",), ("refs",), ("log", f"runs/{latest}")]
    for run_id in (latest, killed, ended):
        commands += [("run", "show", run_id), ("run", "tasks", run_id),
                     ("run", "task", run_id, "a"), ("run", "task", run_id, "b"),
                     ("run", "audit", run_id), ("run", "files", run_id),
                     ("run", "lineage", run_id), ("run", "logs", run_id)]
    commands.append(("run", "compare", ended, latest))
    return {args: wf(path, *args).output for args in commands}


def test_human_output_never_says_none(store_path):
    for args, out in human_outputs(store_path).items():
        assert "None" not in out, (args, out)
    latest = run_ids(store_path)[0]
    shown = wf(store_path, "run", "show", latest).output
    assert re.search(r"^started_at\s+-$", shown, re.M) and re.search(r"^ended_at\s+-$", shown, re.M)
    audit = wf(store_path, "run", "audit", latest).output
    assert "run_created: pending" in audit


@pytest.mark.docker
def test_evidence_without_exit_code_says_dash(tmp_path, docker_client):
    path = tmp_path / "store"
    store = init_store(path)
    WorkflowService(store).apply_workflow("never", NEVER, user="alice")
    store.close()
    result = wf(path, "run", "trigger", "never", "--wait", ok=False)
    assert result.exit_code == 1
    assert "None" not in result.output and "None" not in result.stderr
    assert re.search(r"^  exit      -  ", result.output, re.M), result.output
    run_id = run_ids(path)[0]
    for args in (("run", "task", run_id, "a"), ("run", "tasks", run_id),
                 ("run", "audit", run_id), ("run", "show", run_id)):
        assert "None" not in wf(path, *args).output


HEADERS = {("run", "list"): "RUN", ("workflow", "list"): "NAME",
           ("workflow", "log", "two"): "VER", ("token", "list"): "ID", ("ls",): "HASH",
           ("refs",): "HASH"}


def test_list_commands_start_with_a_header(store_path):
    ended = run_ids(store_path)[-1]
    for args, first in [*HEADERS.items(), (("run", "tasks", ended), "TASK"),
                        (("run", "files", ended), "HASH")]:
        lines = wf(store_path, *args).output.splitlines()
        assert lines[0].split()[0] == first, (args, lines[:2])
        assert lines[0] == lines[0].upper(), lines[0]
        assert len(lines) > 1, (args, lines)
    # --json output has no header: it is the data
    assert json.loads(wf(store_path, "run", "list", "--json").output)["runs"]


@pytest.mark.parametrize("args, code", [
    (("run", "show", "nope", "--json"), 1),
    (("--json", "run", "show", "01a2340f-f789-7c70-9e1c-0749246983dc"), 1),
    (("run", "show", "--json"), 2),
    (("workflow", "show", "missing", "--json"), 1),
    (("run", "list", "--limit", "0", "--json"), 2),
])
def test_errors_under_json_are_one_json_line_on_stderr(store_path, args, code):
    result = wf(store_path, *args, ok=False)
    assert result.exit_code == code
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    error = json.loads(lines[0])
    assert set(error) == {"error", "exit_code"} and error["exit_code"] == code
    assert error["error"] and "\n" not in error["error"]


def test_errors_without_json_stay_one_plain_line(store_path):
    result = wf(store_path, "run", "show", "nope", ok=False)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: 'nope' is not a run id, a prefix of one or latest"]


def all_commands(group: click.Group, path: tuple = ()) -> list[tuple]:
    found = [path]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += all_commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def test_dash_h_is_help_on_every_command():
    commands = all_commands(cli)
    assert ("run", "logs") in commands and ("serve",) in commands
    for path in commands:
        short = CliRunner().invoke(cli, [*path, "-h"], obj=CliContext())
        long = CliRunner().invoke(cli, [*path, "--help"], obj=CliContext())
        assert short.exit_code == 0, (path, short.output)
        assert short.output == long.output and short.output.startswith("Usage: ")


def test_no_ansi_codes_when_stdout_is_not_a_terminal(store_path):
    # real processes: stdout and stderr are pipes, as in a script
    latest = run_ids(store_path)[0]
    for args in (("run", "list"), ("run", "show", latest), ("run", "audit", latest),
                 ("workflow", "list"), ("run", "show", "nope"), ("run", "show"),
                 ("run", "-h")):
        done = subprocess.run(wfobj_argv("--store", str(store_path), *args), cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.stdout or done.stderr
        assert not ANSI.search(done.stdout) and not ANSI.search(done.stderr), args
