"""`wfobj export` on a local LMDB store writes each format as it is made, to a file (its
true size reported) or to standard output; one cut short by a damaged object leaves no
file behind. The fake executor ran the run."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.engine.test_integrity import damage
from tests.support_engine import run_with, trigger
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.engine.runs.state import RunState
from wfobj.engine.service import WorkflowService
from wfobj.objstore import LmdbObjectStore

FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": {"image": "none", "command": ["run", "{{item}}"],
                          "for_each": {"param": "n"}, "outputs": {"files": ["o.txt"]}}}}


@pytest.fixture
def finished(tmp_path):
    path = tmp_path / "store"
    assert CliRunner().invoke(cli, ["--store", str(path), "init"]).exit_code == 0
    store = LmdbObjectStore(path)
    try:
        run_id = trigger(WorkflowService(store), FAN, "fan", n=list(range(30)))
        assert run_with(store, run_id)[0] == "success"
    finally:
        store.close()
    return path, run_id


@pytest.mark.parametrize("fmt", ["prov", "openlineage", "in-toto", "ro-crate"])
def test_export_to_a_file_reports_the_bytes_it_wrote(finished, tmp_path, fmt):
    path, run_id = finished
    out = tmp_path / f"run.{fmt}"
    result = CliRunner().invoke(cli, ["--store", str(path), "export", fmt, run_id, "-o",
                                      str(out)], obj=CliContext())
    assert result.exit_code == 0, result.output
    size = out.stat().st_size
    assert size > 1000
    assert f"to {out} ({size} bytes)" in result.stderr


def test_export_to_standard_output_is_the_whole_document(finished):
    path, run_id = finished
    result = CliRunner().invoke(cli, ["--store", str(path), "export", "openlineage", run_id],
                                obj=CliContext())
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout_bytes)) == 2 * 30 + 2


def test_an_export_cut_short_by_a_damaged_object_leaves_no_file(finished, tmp_path):
    path, run_id = finished
    store = LmdbObjectStore(path)
    run = RunState.load(store, run_id)
    last = run.tasks[run.order[-1]].attempts[-1]  # read long after the first bytes left
    damage(store, last)
    out = tmp_path / "run.prov.json"
    result = CliRunner().invoke(cli, ["--store", str(path), "export", "prov", run_id, "-o",
                                      str(out)], obj=CliContext())
    assert result.exit_code != 0
    assert last in result.output and len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.glob("run.prov.json*")) == []
