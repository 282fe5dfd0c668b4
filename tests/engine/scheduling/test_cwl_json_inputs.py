"""CWL inputs with no native param type and no File inside (a record, a union of
several types, a nested array) registered as `string` params holding the value as JSON
text (docs/cwl.md "Registering a CWL document"). Real Docker, real LMDB."""

from __future__ import annotations

import json

import pytest

from tests.support_engine import claim, service
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler

pytestmark = pytest.mark.docker

TRIM = """\
cwlVersion: v1.2
class: CommandLineTool
doc: a trimming setting, a quality that may be a number or a word, a grid
requirements: {InlineJavascriptRequirement: {}}
baseCommand: [echo]
inputs:
  setting:
    type:
      type: record
      fields:
        adapter: string
        min_length: int
    default: {adapter: AGATC, min_length: 20}
  quality: ["null", int, string]
  grid: {type: {type: array, items: {type: array, items: int}}}
arguments:
  - $(inputs.setting.adapter + "/" + inputs.setting.min_length)
  - '$(inputs.quality === null ? "none" : typeof inputs.quality + ":" + inputs.quality)'
  - $(inputs.grid.map(function (r) { return r.join("+"); }).join(","))
stdout: said.txt
outputs:
  said: stdout
"""


def said(store, svc, **params) -> tuple[str, dict]:
    run_id = svc.trigger(name="trim", parameters=params, user="alice")["run_id"]
    claim(store, run_id)
    RunScheduler(store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    [task] = svc.run_tasks(run_id)
    if task["state"] != "success":
        return "", task
    location = json.loads(task["vars"]["cwl"])["said"]["location"]
    return b"".join(store.iter_blob(location.removeprefix("wfobj:"))).decode().strip(), task


def test_records_unions_and_nested_arrays_as_json_text(lmdb_store, docker_client):
    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("trim", TRIM, user="alice", content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert {n: p.to_value() for n, p in stored.params.items()} == {
        "setting": {"type": "string",
                    "default": '{"adapter": "AGATC", "min_length": 20}'},
        "quality": {"type": "string", "optional": True},
        "grid": {"type": "string"}}
    assert said(lmdb_store, svc, grid="[[1, 2], [3]]")[0] == "AGATC/20 none 1+2,3"
    assert said(lmdb_store, svc, grid="[]", quality='"high"',
                setting='{"adapter": "TT", "min_length": 5}')[0] == "TT/5 string:high"
    assert said(lmdb_store, svc, grid="[[0]]", quality="30")[0] == "AGATC/20 number:30 0"
    _, failed = said(lmdb_store, svc, grid="not json")
    assert failed["state"] == "failed" and "is not JSON" in failed["error"]
