"""`flat_crossproduct` scatter of a registered CWL workflow onto the native fan-out
(docs/cwl.md "Registering a CWL document"): the task `cwl-cross-STEP` counts the product
in the engine, one instance per pair in row-major order, readers get the flat array.
Real Docker, real LMDB."""

from __future__ import annotations

import json

import pytest

from tests.support_engine import claim, service
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler

pytestmark = pytest.mark.docker

PAIRS = """\
cwlVersion: v1.2
class: Workflow
doc: every word with every mark, then all of them in one file
requirements: {ScatterFeatureRequirement: {}}
inputs:
  words: string[]
  marks: string[]
outputs:
  all: {type: File, outputSource: join/all}
steps:
  pair:
    scatter: [word, mark]
    scatterMethod: flat_crossproduct
    in: {word: words, mark: marks}
    out: [said]
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'echo "$0$1"']
      inputs:
        word: {type: string, inputBinding: {position: 1}}
        mark: {type: string, inputBinding: {position: 2}}
      stdout: said.txt
      outputs: {said: stdout}
  join:
    in: {parts: pair/said}
    out: [all]
    run:
      class: CommandLineTool
      baseCommand: [cat]
      inputs: {parts: {type: "File[]", inputBinding: {position: 1}}}
      stdout: all.txt
      outputs: {all: stdout}
"""


def joined(store, svc, **params) -> tuple[str, dict]:
    run_id = svc.trigger(name="pairs", parameters=params, user="alice")["run_id"]
    claim(store, run_id)
    RunScheduler(store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert svc.get_run(run_id)["state"] == "success", tasks
    location = json.loads(tasks["join"]["vars"]["cwl"])["all"]["location"]
    return b"".join(store.iter_blob(location.removeprefix("wfobj:"))).decode(), tasks


def test_a_flat_crossproduct_is_one_instance_per_pair(lmdb_store, docker_client):
    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("pairs", PAIRS, user="alice", content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert stored.tasks["pair"].for_each.task == "cwl-cross-pair"
    text, tasks = joined(lmdb_store, svc, words=["hi", "yo", "ok"], marks=["!", "?"])
    assert text == "hi!\nhi?\nyo!\nyo?\nok!\nok?\n"
    assert sorted(k for k in tasks if k.startswith("pair[")) == [
        f"pair[{i}]" for i in range(6)]
    assert tasks["cwl-cross-pair"]["executor"] == {"kind": "engine"}
    assert joined(lmdb_store, svc, words=["hi"], marks=[])[0] == ""


NESTED = PAIRS.replace("flat_crossproduct", "nested_crossproduct").replace(
    "  all: {type: File, outputSource: join/all}",
    "  grid: {type: {type: array, items: {type: array, items: File}}, outputSource: pair/said}",
).split("  join:")[0]


def test_a_nested_crossproduct_gives_nested_arrays(lmdb_store, docker_client):
    svc = service(lmdb_store)
    svc.apply_workflow("grid", NESTED, user="alice", content_type="application/yaml")
    for params, want in (({"words": ["hi", "yo", "ok"], "marks": ["!", "?"]},
                          [["hi!", "hi?"], ["yo!", "yo?"], ["ok!", "ok?"]]),
                         ({"words": ["hi", "yo"], "marks": []}, [[], []])):
        run_id = svc.trigger(name="grid", parameters=params, user="alice")["run_id"]
        claim(lmdb_store, run_id)
        RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2,
                     poll=0.05).run_to_end()
        tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
        assert svc.get_run(run_id)["state"] == "success", tasks
        grid = json.loads(tasks["cwl-outputs"]["vars"]["cwl"])["grid"]
        assert [[b"".join(lmdb_store.iter_blob(f["location"].removeprefix("wfobj:")))
                 .decode().strip() for f in row] for row in grid] == want
