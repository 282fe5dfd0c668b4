"""`wfobj workflow apply|validate FLOW.cwl` on a local store (docs/cwl.md "Registering a
CWL document"): the document and the tool file it names packed and registered, triggered
with `run trigger --wait` and run by the engine on real Docker as one run."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.support_exports import crate_metadata, rocrate_validation
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

COUNT_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
doc: count the words of a text
baseCommand: [wc, -w]
inputs:
  text: {type: File, inputBinding: {position: 1}}
stdout: words.txt
outputs:
  words: {type: stdout}
"""

PER_FILE = """\
cwlVersion: v1.2
class: Workflow
doc: the words of every text of a folder, then of one more
inputs:
  extra: File
  label: {type: string, default: words}
outputs:
  words: {type: File, outputSource: count/words}
steps:
  count:
    run: count.cwl
    in: {text: extra}
    out: [words]
"""


def wfobj(store, *args):
    return CliRunner().invoke(cli, ["--store", str(store), *args], obj=CliContext())


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store"
    assert wfobj(path, "init").exit_code == 0
    return path


@pytest.fixture
def flow(tmp_path):
    (tmp_path / "count.cwl").write_text(COUNT_TOOL)
    (tmp_path / "per-file.cwl").write_text(PER_FILE)
    return tmp_path / "per-file.cwl"


def test_validate_and_apply_a_cwl_file_with_the_tool_it_names(store, flow):
    checked = wfobj(store, "workflow", "validate", "--json", str(flow))
    assert checked.exit_code == 0, checked.output
    view = json.loads(checked.output)
    assert (view["name"], view["params"], view["tasks"]) == (
        "per-file", ["extra", "label"], ["count", "cwl-outputs"])
    applied = wfobj(store, "workflow", "apply", str(flow))
    assert applied.exit_code == 0, applied.output
    assert applied.output.startswith(f"per-file version 1 (created): {view['definition_hash']}")
    assert "unchanged" in wfobj(store, "workflow", "apply", str(flow)).output


def test_a_registered_cwl_workflow_runs_as_one_run(store, flow, tmp_path, docker_client):
    assert wfobj(store, "workflow", "apply", str(flow)).exit_code == 0
    (tmp_path / "text.txt").write_text("three small words\n")
    ran = wfobj(store, "run", "trigger", "per-file", "--wait", "--json",
                "-p", f"extra=@{tmp_path / 'text.txt'}")
    assert ran.exit_code == 0, ran.output
    run = json.loads(ran.output)["run"]
    assert run["state"] == "success" and run["tasks"] == {"count": "success",
                                                          "cwl-outputs": "success"}, run
    task = json.loads(wfobj(store, "run", "task", run["run_id"], "count", "--json").output)
    words = json.loads(task["vars"]["cwl"])["words"]
    assert words["basename"] == "words.txt"
    shown = wfobj(store, "cat", words["location"].removeprefix("wfobj:"))
    assert shown.output.split()[0] == "3"
    # its RO-Crate names the packed CWL document as the workflow, and validates
    crate = tmp_path / "crate.zip"
    assert wfobj(store, "export", "ro-crate", run["run_id"], "-o", str(crate)).exit_code == 0
    _, metadata = crate_metadata(crate.read_bytes())
    graph = {e["@id"]: e for e in metadata["@graph"]}
    main = graph[graph["./"]["mainEntity"]["@id"]]
    assert "ComputationalWorkflow" in main["@type"]
    assert graph[main["programmingLanguage"]["@id"]]["alternateName"] == "CWL"
    assert rocrate_validation(crate) == []


def test_a_cwl_file_that_does_not_load_exits_1_with_one_line(store, tmp_path):
    (tmp_path / "broken.cwl").write_text("cwlVersion: v1.2\nclass: CommandLineTool\n"
                                         "inputs: {x: NoSuchType}\noutputs: {}\n")
    applied = wfobj(store, "workflow", "apply", str(tmp_path / "broken.cwl"))
    assert applied.exit_code == 1
    assert "not a valid CWL" in applied.output and len(applied.output.strip().splitlines()) == 1
