"""CWL documents registered through a real `wfobj serve` (gunicorn, Docker executor):
`PUT /api/workflows/{name}` with a CWL body (JSON or YAML), triggers by name and by
hash, the run's tasks the CWL steps; and `wfobj --server … workflow apply FLOW.cwl`,
which packs the document and the tool file it names on the client. Documents written
here, in the project's own words (docs/cwl.md)."""

from __future__ import annotations

import json

import blake3
import pytest
import requests
import yaml
from click.testing import CliRunner

from tests.support_e2e import served, wait_terminal
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]

UPPER_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
doc: a text in capitals
requirements: {DockerRequirement: {dockerPull: "wfobj/toolbox:local"}}
baseCommand: [tr, a-z, A-Z]
inputs:
  text: {type: File}
stdin: $(inputs.text.path)
stdout: upper.txt
outputs:
  upper: {type: stdout}
"""

SHOUT_FLOW = {
    "cwlVersion": "v1.2",
    "class": "Workflow",
    "doc": "shout a text, then count its bytes",
    "inputs": {"text": "File"},
    "outputs": {"bytes": {"type": "File", "outputSource": "count/bytes"}},
    "steps": {
        "shout": {"run": yaml.safe_load(UPPER_TOOL), "in": {"text": "text"}, "out": ["upper"]},
        "count": {
            "run": {"class": "CommandLineTool", "baseCommand": ["wc", "-c"],
                    "inputs": {"f": {"type": "File", "inputBinding": {"position": 1}}},
                    "stdout": "bytes.txt", "outputs": {"bytes": "stdout"}},
            "in": {"f": "shout/upper"}, "out": ["bytes"]},
    },
}


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-cwl"))


def upload(server, data: bytes) -> str:
    up = requests.post(f"{server.url}/api/objects", data=data, headers=server.h(
        **{"X-Wfobj-Hash": blake3.blake3(data).hexdigest()}))
    assert up.status_code == 201, up.text
    return up.json()["hash"]


def blob(server, location: str) -> bytes:
    got = requests.get(f"{server.url}/api/objects/{location.removeprefix('wfobj:')}",
                       headers=server.h("reader"))
    assert got.status_code == 200, got.text
    return got.content


def task_of(server, run_id: str, name: str) -> dict:
    return requests.get(f"{server.url}/api/runs/{run_id}/tasks/{name}",
                        headers=server.h("reader")).json()


def test_a_cwl_workflow_put_over_http_is_one_run_triggered_by_name_and_hash(server):
    put = requests.put(f"{server.url}/api/workflows/shout", json=SHOUT_FLOW, headers=server.h())
    assert put.status_code == 201, put.text
    definition = put.json()["definition_hash"]
    again = requests.put(f"{server.url}/api/workflows/shout", data=yaml.safe_dump(SHOUT_FLOW),
                         headers=server.h(**{"Content-Type": "application/yaml"}))
    assert again.status_code == 200 and again.json()["definition_hash"] == definition
    text = upload(server, b"hello there\n")
    by_name = requests.post(f"{server.url}/api/workflows/shout/trigger",
                            json={"parameters": {"text": text}}, headers=server.h())
    by_hash = requests.post(f"{server.url}/api/workflows/by-hash/{definition}/trigger",
                            json={"parameters": {"text": text}}, headers=server.h())
    assert by_name.status_code == by_hash.status_code == 202, (by_name.text, by_hash.text)
    for started in (by_name, by_hash):
        run = wait_terminal(server, started.json()["run_id"])
        assert run["state"] == "success", (run, server.log())
        assert run["definition_hash"] == definition
        assert run["tasks"] == {"shout": "success", "count": "success",
                                "cwl-outputs": "success"}
    shout = task_of(server, by_name.json()["run_id"], "shout")
    assert shout["image"] == "wfobj/toolbox:local" and shout["inputs"][0]["path"] == "/in/stage"
    upper = json.loads(shout["vars"]["cwl"])["upper"]
    assert blob(server, upper["location"]) == b"HELLO THERE\n"
    count = json.loads(task_of(server, by_name.json()["run_id"], "count")["vars"]["cwl"])
    assert blob(server, count["bytes"]["location"]).split()[0] == b"12"
    outputs = task_of(server, by_name.json()["run_id"], "cwl-outputs")
    assert json.loads(outputs["vars"]["cwl"]) == count  # the workflow's output object


def test_a_bad_cwl_body_is_a_400_in_the_json_error_shape(server):
    bad = json.loads(json.dumps(SHOUT_FLOW))
    bad["steps"]["count"]["run"] = "count.cwl"
    put = requests.put(f"{server.url}/api/workflows/bad", json=bad, headers=server.h())
    assert put.status_code == 400
    assert set(put.json()) == {"title", "description"}
    assert "names another file" in put.json()["description"]
    invalid = {"cwlVersion": "v1.2", "class": "CommandLineTool", "inputs": {"x": "Nope"},
               "outputs": {}}
    put = requests.put(f"{server.url}/api/workflows/bad", json=invalid, headers=server.h())
    assert put.status_code == 400 and "not a valid CWL" in put.json()["description"]
    listed = requests.get(f"{server.url}/api/workflows", headers=server.h("reader")).json()
    assert "bad" not in {w["name"] for w in listed}


def test_the_cli_packs_a_document_and_its_tool_file_for_the_server(server, tmp_path):
    (tmp_path / "upper.cwl").write_text(UPPER_TOOL)
    flow = {**SHOUT_FLOW, "steps": {"shout": {**SHOUT_FLOW["steps"]["shout"],
                                              "run": "upper.cwl"}}}
    flow["outputs"] = {"upper": {"type": "File", "outputSource": "shout/upper"}}
    (tmp_path / "shouting.cwl").write_text(yaml.safe_dump(flow))
    (tmp_path / "in.txt").write_bytes(b"quiet\n")
    base = ["--server", server.url, "--token", server.tokens["runner"]]
    applied = CliRunner().invoke(cli, [*base, "workflow", "apply", "--json",
                                       str(tmp_path / "shouting.cwl")], obj=CliContext())
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.output)["name"] == "shouting"
    started = CliRunner().invoke(cli, [*base, "run", "trigger", "shouting", "--json", "-p",
                                       f"text=@{tmp_path / 'in.txt'}"], obj=CliContext())
    assert started.exit_code == 0, started.output
    run = wait_terminal(server, json.loads(started.output)["run_id"])
    assert run["state"] == "success", (run, server.log())
    upper = json.loads(task_of(server, run["run_id"], "shout")["vars"]["cwl"])["upper"]
    assert blob(server, upper["location"]) == b"QUIET\n"


NAMED_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
doc: what a file is called
baseCommand: [echo]
inputs:
  reads: {type: File}
arguments: [$(inputs.reads.basename)]
stdout: name.txt
outputs:
  name: {type: stdout}
"""


def test_a_file_given_with_its_name_keeps_it_over_http_and_from_the_cli(server, tmp_path):
    put = requests.put(f"{server.url}/api/workflows/named", data=NAMED_TOOL,
                       headers=server.h(**{"Content-Type": "application/yaml"}))
    assert put.status_code == 201, put.text
    reads = upload(server, b"@r\nAC\n+\nII\n")
    bad = requests.post(f"{server.url}/api/workflows/named/trigger", headers=server.h(),
                        json={"parameters": {"reads": {"hash": reads, "name": "a/b"}}})
    assert bad.status_code == 400 and "reads.name" in bad.json()["description"]
    started = requests.post(f"{server.url}/api/workflows/named/trigger", headers=server.h(),
                            json={"parameters": {"reads": {"hash": reads, "name": "s1.fq"}}})
    assert started.status_code == 202, started.text
    (tmp_path / "s2.fastq.gz").write_bytes(b"@r\nAC\n+\nII\n")
    base = ["--server", server.url, "--token", server.tokens["runner"]]
    cli_started = CliRunner().invoke(cli, [*base, "run", "trigger", "named", "--json", "-p",
                                           f"reads=@{tmp_path / 's2.fastq.gz'}"],
                                     obj=CliContext())
    assert cli_started.exit_code == 0, cli_started.output
    for run_id, name in ((started.json()["run_id"], "s1.fq"),
                         (json.loads(cli_started.output)["run_id"], "s2.fastq.gz")):
        run = wait_terminal(server, run_id)
        assert run["state"] == "success", (run, server.log())
        assert run["file_names"] == {"reads": name} and run["parameters"] == {"reads": reads}
        out = json.loads(task_of(server, run_id, "tool")["vars"]["cwl"])["name"]
        assert blob(server, out["location"]) == f"{name}\n".encode()
