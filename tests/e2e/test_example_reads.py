"""examples/reads-qc.yaml through a real `wfobj serve` (gunicorn + engine worker, real
Docker), driven by the CLI with --server: a folder fanned out one instance per sample,
paired instances, a gather, a condition on a gathered var; then the same folder with one
sample more runs one instance per fanned-out task, every other a cache hit; an instance
is fetched by name over HTTP (URL-encoded) and the task list is paged."""

from __future__ import annotations

import json
import shutil
from urllib.parse import quote

import pytest
import requests
from click.testing import CliRunner

from tests import ROOT
from tests.support_e2e import served
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]
EXAMPLE = ROOT / "examples"


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-reads"))


def wfobj(server, *args):
    result = CliRunner().invoke(cli, ["--server", server.url, "--token", server.tokens["runner"],
                                      *args], obj=CliContext())
    assert result.exit_code == 0, result.output
    return result.output


def run_reads(server, folder) -> dict:
    return json.loads(wfobj(server, "run", "trigger", "reads-qc", "-p", f"samples=@{folder}",
                            "--wait", "--json"))


def test_the_reads_example_fans_out_gathers_and_reruns_one_sample(server, tmp_path):
    wfobj(server, "workflow", "apply", str(EXAMPLE / "table-stats.yaml"))
    wfobj(server, "workflow", "apply", str(EXAMPLE / "reads-qc.yaml"))
    folder = tmp_path / "reads"
    shutil.copytree(EXAMPLE / "reads", folder)
    first = run_reads(server, folder)
    assert first["run"]["state"] == "success"
    tasks = {t["task"]: t for t in first["tasks"]}
    samples = sorted(p.name for p in folder.iterdir())
    assert {f"qc[{s}]" for s in samples} | {f"filter[{s}]" for s in samples} <= set(tasks)
    assert tasks["flag_low"]["state"] == "success"  # sampleC has 3 reads, fewer than 5
    summary = next(o for o in tasks["summary"]["outputs"] if o["path"] == "summary.tsv")
    h = {"Authorization": f"Bearer {server.tokens['reader']}"}
    table = requests.get(f"{server.url}/api/objects/{summary['hash']}", headers=h,
                         timeout=10).text.splitlines()
    assert table[0].split("\t") == ["sample", "reads", "mean_len", "gc_pct", "kept"]
    assert [row.split("\t")[0] for row in table[1:]] == samples
    assert table[3].split("\t")[:2] == ["sampleC.fq", "3"]
    child = tasks["read_stats"]  # the sub-workflow's child run, over the gathered table
    assert child["state"] == "success" and child["vars"] == {"stats.mean": "9.75"}
    assert child["child"]["run_id"] != first["run"]["run_id"]

    (folder / "sampleE.fq").write_text("@e1\nACGTACGTACGTACGTACGTACGT\n+\nFFFFFFFFFFFFFFFFFFFFFFFF\n")
    second = run_reads(server, folder)
    assert second["run"]["state"] == "success"
    ran = sorted(t["task"] for t in second["tasks"]
                 if t.get("cached_from") is None and t["attempt"] > 0)
    assert [t for t in ran if not t.startswith("read_stats")] == [
        "filter[sampleE.fq]", "flag_low", "qc[sampleE.fq]", "summary"]

    run_id = second["run"]["run_id"]
    one = requests.get(f"{server.url}/api/runs/{run_id}/tasks/{quote('qc[sampleE.fq]')}",
                       headers=h, timeout=10)
    assert one.status_code == 200 and one.json()["vars"] == {"reads": "1"}
    page = requests.get(f"{server.url}/api/runs/{run_id}/tasks?limit=5", headers=h, timeout=10)
    assert len(page.json()) == 5 and "start=5" in page.headers["Link"]
