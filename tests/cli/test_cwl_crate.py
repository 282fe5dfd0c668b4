"""The RO-Crate export of a run made by `wfobj cwl run` (docs/cwl.md): a Workflow Run Crate
whose main workflow is the CWL document that was run, programmingLanguage CWL, and which
the RO-Crate project's validator accepts (Provenance Run Crate 0.5 and the profiles under
it, REQUIRED level). Real LMDB store, real Docker."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from click.testing import CliRunner

from tests.cli.test_cwl import (  # noqa: F401 - store_path is a fixture
    SCATTER_FLOW,
    WORDS_TOOL,
    cwl_run,
    output_object,
    runs_in,
    store_path,
    write,
)
from tests.support_exports import crate_metadata, rocrate_validation
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

CWL_LANGUAGE = "https://w3id.org/workflowhub/workflow-ro-crate#cwl"


def export(store_path, run_id: str, *extra: str) -> bytes:  # noqa: F811 - the fixture
    result = CliRunner().invoke(cli, ["--store", str(store_path), "export", "ro-crate", run_id,
                                      *extra], obj=CliContext())
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def entities(metadata: dict) -> dict[str, dict]:
    return {e["@id"]: e for e in metadata["@graph"]}


def main_workflow(metadata: dict) -> dict:
    graph = entities(metadata)
    return graph[graph["./"]["mainEntity"]["@id"]]


@pytest.mark.docker
def test_a_cwl_tool_run_exports_as_a_crate_naming_the_cwl_document(store_path, tmp_path,  # noqa: F811 - the fixture
                                                                    docker_client):
    tool = write(tmp_path, "count.cwl", WORDS_TOOL)
    (tmp_path / "lines.txt").write_text("a\nb\n")
    job = write(tmp_path, "job.yml", "text: {class: File, path: lines.txt}\n")
    output_object(cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(tool), str(job)))
    (run,) = runs_in(store_path)

    data = export(store_path, run["run_id"])

    names, metadata = crate_metadata(data)
    graph = entities(metadata)
    main = main_workflow(metadata)
    assert main["@id"] == "workflow/count.cwl" and "ComputationalWorkflow" in main["@type"]
    lang = graph[main["programmingLanguage"]["@id"]]
    assert lang["@id"] == CWL_LANGUAGE and lang["alternateName"] == "CWL"
    assert lang["identifier"]["@id"] == "https://w3id.org/cwl/v1.2/"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.read("workflow/count.cwl") == tool.read_bytes()
        definition = json.loads(z.read("workflow/definition.json"))
    assert definition["source"]["language"] == "cwl"
    assert definition["source"]["process"] == "count.cwl"
    assert graph["workflow/definition.json"]["isBasedOn"]["@id"] == "workflow/count.cwl"
    (run_action,) = [e for e in metadata["@graph"] if e.get("@id") == f"#run-{run['run_id']}"]
    assert run_action["instrument"]["@id"] == "workflow/count.cwl"
    path = tmp_path / "crate.zip"
    path.write_bytes(data)
    assert rocrate_validation(path) == []
    bare = tmp_path / "bare.zip"
    bare.write_bytes(export(store_path, run["run_id"], "--files", "none"))
    assert rocrate_validation(bare) == []


@pytest.mark.docker
def test_a_workflow_step_run_names_the_workflow_and_its_step(store_path, tmp_path,  # noqa: F811 - the fixture
                                                            docker_client):
    flow = write(tmp_path, "shout.cwl", SCATTER_FLOW)
    job = write(tmp_path, "job.yml", "words: [hello]\n")
    output_object(cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(flow), str(job)))
    (run,) = runs_in(store_path)

    _, metadata = crate_metadata(export(store_path, run["run_id"]))

    main = main_workflow(metadata)
    assert main["@id"] == "workflow/shout.cwl"
    assert main["name"] == "shout.cwl"  # its step's tool is written inline, anonymous
    assert main["programmingLanguage"]["@id"] == CWL_LANGUAGE
