"""The `wfobj` workflow/run commands with --server/--token against a real `wfobj serve`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.support_e2e import ROOT, served, snapshot, wait_terminal
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]
EXAMPLE = ROOT / "examples" / "wordcount.yaml"
CORPUS = ROOT / "examples" / "corpus.txt"


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-cli"))


def wfobj(server, *args, role="runner", token=None):
    token = token if token is not None else server.tokens[role]
    return CliRunner().invoke(cli, ["--server", server.url, "--token", token, *args],
                              obj=CliContext())


def ok_json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_workflow_commands(server):
    applied = ok_json(wfobj(server, "workflow", "apply", str(EXAMPLE), "--json"))
    assert applied["name"] == "wordcount" and applied["created"] is True
    again = ok_json(wfobj(server, "workflow", "apply", str(EXAMPLE), "--json"))
    assert again["created"] is False
    listed = ok_json(wfobj(server, "workflow", "list", "--json", role="reader"))
    assert [w["name"] for w in listed] == ["wordcount"]
    shown = ok_json(wfobj(server, "workflow", "show", "wordcount", "--json", role="reader"))
    assert shown["definition_hash"] == applied["definition_hash"]
    log = ok_json(wfobj(server, "workflow", "log", "wordcount", "--json", role="reader"))
    assert log[0]["registered_by"] == "runner-user"


def test_trigger_with_file_wait_and_inspect(server):
    wfobj(server, "workflow", "apply", str(EXAMPLE))
    done = wfobj(server, "run", "trigger", "wordcount", "-p", f"corpus=@{CORPUS}", "--wait",
                 "--json")
    body = ok_json(done)
    run = body["run"]
    assert run["state"] == "success" and run["triggered_by"] == "runner-user"
    rid = run["run_id"]
    assert ok_json(wfobj(server, "run", "show", rid, "--json", role="reader"))["state"] == (
        "success")
    listed = ok_json(wfobj(server, "run", "list", "--json", role="reader"))
    assert rid in [r["run_id"] for r in listed["runs"]]
    tasks = ok_json(wfobj(server, "run", "tasks", rid, "--json", role="reader"))
    assert [t["task"] for t in tasks] == ["split", "count"]
    count = ok_json(wfobj(server, "run", "task", rid, "count", "--json", role="reader"))
    assert count["vars"]["count"].isdigit()
    files = ok_json(wfobj(server, "run", "files", rid, "--json", role="reader"))
    assert {f["path"] for f in files} == {"words.txt", "count.txt"}
    lineage = ok_json(wfobj(server, "run", "lineage", rid, "--json", role="reader"))
    assert any(n["kind"] == "file" for n in lineage["nodes"])
    audit = ok_json(wfobj(server, "run", "audit", rid, "--json", role="reader"))
    assert audit[-1]["to"] == "success"
    logs = ok_json(wfobj(server, "run", "logs", rid, "--json", role="reader"))
    assert [entry["task"] for entry in logs] == ["split", "count"]
    killed = wfobj(server, "run", "kill", rid)
    assert killed.exit_code == 1 and "already success" in killed.output
    assert len(killed.output.strip().splitlines()) == 1


def test_trigger_by_hash_and_plain_output(server):
    applied = ok_json(wfobj(server, "workflow", "apply", str(EXAMPLE), "--json"))
    up = wfobj(server, "run", "trigger", "--hash", applied["definition_hash"],
               "-p", f"corpus=@{CORPUS}", "-p", "min_len=4", "--json")
    started = ok_json(up)
    assert started["state"] == "pending"
    assert started["definition_hash"] == applied["definition_hash"]
    assert wait_terminal(server, started["run_id"])["state"] == "success"


def test_cli_errors_are_one_line_and_write_nothing(server):
    wfobj(server, "workflow", "apply", str(EXAMPLE))
    before = snapshot(server.store_path)
    cases = [
        (wfobj(server, "workflow", "list", token="wfo_bogus"), "token"),
        (wfobj(server, "run", "trigger", "wordcount", "-p", "corpus=@" + str(CORPUS),
               role="reader"), "runner"),
        (wfobj(server, "run", "show", "01900000-0000-7000-8000-000000000000"), "unknown run"),
        (wfobj(server, "workflow", "show", "ghost"), "ghost"),
        (wfobj(server, "run", "trigger", "wordcount", "-p", "corpus=" + "e" * 64), "corpus"),
    ]
    for result, word in cases:
        assert result.exit_code != 0, result.output
        assert word in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    after = snapshot(server.store_path)
    # the reader's refused trigger must not even have uploaded its file
    assert after == before
