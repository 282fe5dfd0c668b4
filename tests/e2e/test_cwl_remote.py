"""`wfobj --server URL cwl run`: CWL jobs run on a real `wfobj serve` (gunicorn, engine
workers, real Docker) instead of a local store. The staged inputs go up as trees, each
job is a run on the server, and its outputs come back as trees checked against their
hashes; nothing is stored on the client."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner

from tests.cli.test_cwl import TREE_TOOL, WORDS_TOOL, write
from tests.support_e2e import served
from wfobj.cli.client.service import RemoteService
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-cwl-remote"))


def cwl_on(server, *args: str):
    return CliRunner().invoke(cli, ["--server", server.url, "--token", server.tokens["runner"],
                                    "cwl", "run", "--quiet", *args], obj=CliContext())


def cwl_runs(server) -> list[dict]:
    svc = RemoteService(server.url, server.tokens["reader"])
    return [r for r in svc.list_runs(limit=500)["runs"] if r["workflow"].startswith("cwl-")]


def test_a_tool_runs_on_the_server_and_its_outputs_come_back(server, tmp_path):
    tool = write(tmp_path, "count.cwl", WORDS_TOOL)
    (tmp_path / "lines.txt").write_text("one\ntwo\nthree\n")
    job = write(tmp_path, "job.yml", "text: {class: File, path: lines.txt}\n")
    before = {r["run_id"] for r in cwl_runs(server)}

    result = cwl_on(server, "--outdir", str(tmp_path / "results"), str(tool), str(job))

    assert result.exit_code == 0, result.output
    count = json.loads(result.stdout)["count"]
    path = Path(urlparse(count["location"]).path)
    assert path.parent == tmp_path / "results" and path.read_text().split()[0] == "3"
    assert count["checksum"] == "sha1$" + hashlib.sha1(path.read_bytes()).hexdigest()
    (run,) = [r for r in cwl_runs(server) if r["run_id"] not in before]
    assert run["workflow"] == "cwl-count-cwl" and run["state"] == "success"
    svc = RemoteService(server.url, server.tokens["reader"])
    evidence = svc.run_task(run["run_id"], "tool")
    assert svc.get_run(run["run_id"])["triggered_by"] == "runner-user"
    (out,) = evidence["outputs"]
    listed = svc.get_tree(out["hash"], recursive=True)
    assert [e["path"] for e in listed["entries"]] == ["count.txt"]
    assert not (tmp_path / "store").exists()


def test_a_directory_goes_up_and_comes_back_as_trees(server, tmp_path):
    tool = write(tmp_path, "copy.cwl", TREE_TOOL)
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.txt").write_text("alpha\n")
    (tmp_path / "data" / "sub" / "b.txt").write_text("beta\n")
    job = write(tmp_path, "job.yml", "src: {class: Directory, path: data}\n")

    result = cwl_on(server, "--outdir", str(tmp_path / "results"), str(tool), str(job))

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    root = Path(urlparse(out["copied"]["location"]).path)
    assert (root / "a.txt").read_text() == "alpha\n"
    assert (root / "sub" / "b.txt").read_text() == "beta\n"
    assert Path(urlparse(out["names"]["location"]).path).read_text().split() == ["a.txt", "sub"]


def test_a_failing_tool_on_the_server_exits_non_zero(server, tmp_path):
    tool = write(tmp_path, "fail.cwl", "cwlVersion: v1.2\nclass: CommandLineTool\n"
                 "baseCommand: [sh, -c, 'exit 3']\ninputs: []\noutputs: []\n")
    result = cwl_on(server, "--outdir", str(tmp_path / "results"), str(tool))
    assert result.exit_code not in (0, 33), result.output
    runs = [r for r in cwl_runs(server) if r["workflow"] == "cwl-fail-cwl"]
    assert len(runs) == 1 and runs[0]["state"] == "success"  # the tool ran; CWL judged rc 3


def test_a_bad_token_is_one_readable_failure(server, tmp_path):
    tool = write(tmp_path, "count.cwl", WORDS_TOOL)
    (tmp_path / "lines.txt").write_text("x\n")
    job = write(tmp_path, "job.yml", "text: {class: File, path: lines.txt}\n")
    result = CliRunner().invoke(cli, ["--server", server.url, "--token", "not-a-token", "cwl",
                                      "run", "--quiet", "--outdir", str(tmp_path / "r"),
                                      str(tool), str(job)], obj=CliContext())
    assert result.exit_code not in (0, 33)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
