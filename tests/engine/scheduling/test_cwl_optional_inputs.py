"""Optional CWL inputs without a default (`int?`, `File?`) registered as `optional` params:
left out at trigger, the tool sees null; given, their values (docs/cwl.md "Registering a
CWL document"). Real Docker, real LMDB."""

from __future__ import annotations

import pytest

from tests.support_cwl import told
from tests.support_engine import service

pytestmark = pytest.mark.docker

MAYBE = """\
cwlVersion: v1.2
class: CommandLineTool
doc: tell which of two optional inputs were given
requirements: {InlineJavascriptRequirement: {}}
baseCommand: [echo]
inputs:
  times: int?
  adapters: File?
arguments:
  - '$(inputs.times === null ? "no-times" : "times=" + inputs.times)'
  - '$(inputs.adapters === null ? "no-adapters" : inputs.adapters.basename)'
stdout: told.txt
outputs:
  told: stdout
"""

INTO_SUB = """\
cwlVersion: v1.2
class: Workflow
requirements: {SubworkflowFeatureRequirement: {}}
inputs: {times: "int?"}
outputs: {}
steps:
  inner:
    in: {times: times}
    out: []
    run:
      class: Workflow
      inputs: {times: "int?"}
      outputs: {}
      steps: {}
"""


def test_optional_inputs_are_null_when_left_out(lmdb_store, docker_client):
    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("maybe", MAYBE, user="alice", content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert {n: p.to_value() for n, p in stored.params.items()} == {
        "times": {"type": "int", "optional": True},
        "adapters": {"type": "file", "optional": True}}
    assert told(lmdb_store, svc, "maybe") == "no-times no-adapters"
    adapters = lmdb_store.put_blob(b">a\nAGATCGGAAG\n")
    assert told(lmdb_store, svc, "maybe", times=3,
                adapters={"hash": adapters, "name": "adapters.fa"}) == "times=3 adapters.fa"


def test_an_optional_input_passed_to_a_subworkflow_goes_in_its_input_object(lmdb_store):
    reg, _ = service(lmdb_store).apply_workflow("into-sub", INTO_SUB, user="alice",
                                                content_type="application/yaml")
    _, stored = service(lmdb_store).registry.definition(reg["definition_hash"])
    assert stored.tasks["inner"].params == {"cwl_inputs": "{{tasks.cwl-in-inner.vars.cwl}}"}
