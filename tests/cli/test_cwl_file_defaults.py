"""`wfobj workflow apply FLOW.cwl` uploads the files and folders a CWL document's
defaults name (docs/cwl.md "Registering a CWL document") and a run uses them under their
names; real LMDB store, real Docker."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = pytest.mark.docker

LISTED = """\
cwlVersion: v1.2
class: CommandLineTool
doc: the name and lines of a default file, the entries of a default folder
baseCommand: [sh, -c, 'echo "$0 `wc -l < $1` `ls $2`"']
inputs:
  table: {type: File, default: {class: File, location: samples.tsv}, inputBinding: {position: 2}}
  refs: {type: Directory, default: {class: Directory, location: refs}, inputBinding: {position: 3}}
arguments: [{position: 1, valueFrom: $(inputs.table.basename)}]
stdout: out.txt
outputs:
  out: stdout
"""


def wfobj(store, *args):
    return CliRunner().invoke(cli, ["--store", str(store), *args], obj=CliContext())


def test_apply_uploads_default_files_and_a_run_uses_them(tmp_path, docker_client):
    store = tmp_path / "store"
    assert wfobj(store, "init").exit_code == 0
    (tmp_path / "samples.tsv").write_text("a\t1\nb\t2\n")
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "hg.fa").write_text(">1\n")
    (tmp_path / "listed.cwl").write_text(LISTED)
    checked = wfobj(store, "workflow", "validate", str(tmp_path / "listed.cwl"))
    assert checked.exit_code == 0, checked.output
    applied = wfobj(store, "workflow", "apply", "--json", str(tmp_path / "listed.cwl"))
    assert applied.exit_code == 0, applied.output
    shown = json.loads(wfobj(store, "workflow", "show", "listed", "--json").output)
    assert shown["definition"]["params"]["table"]["default"] == json.loads(
        wfobj(store, "put", "--json", str(tmp_path / "samples.tsv")).output)[0]["hash"]
    ran = wfobj(store, "run", "trigger", "listed", "--wait", "--json")
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.output)["run"]["run_id"]
    task = json.loads(wfobj(store, "run", "task", run_id, "tool", "--json").output)
    out = json.loads(task["vars"]["cwl"])["out"]["location"].removeprefix("wfobj:")
    assert wfobj(store, "cat", out).output.strip() == "samples.tsv 2 hg.fa"
    (tmp_path / "gone.cwl").write_text(LISTED.replace("samples.tsv", "missing.tsv"))
    refused = wfobj(store, "workflow", "apply", str(tmp_path / "gone.cwl"))
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
