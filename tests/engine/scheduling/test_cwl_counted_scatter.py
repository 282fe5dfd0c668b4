"""Scatters of a registered CWL workflow whose items are counted in the engine
(docs/cwl.md "Registering a CWL document"): over an array held as JSON text (of records,
of arrays), over an input merging several sources (linkMerge), and over the output of a
subworkflow step that is not itself scattered; crossproducts over a scattered step's and a
subworkflow's output. The step fans out over the positions its
task `cwl-cross-STEP` leaves; instance K takes element K. Real Docker, real LMDB."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.support_engine import claim, service
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.objstore import MemoryObjectStore

ECHO = """\
      class: CommandLineTool
      baseCommand: [echo]
      inputs: {word: {type: string, inputBinding: {position: 1}}}
      stdout: said.txt
      outputs: {said: stdout}
"""

COUNTED = f"""\
cwlVersion: v1.2
class: Workflow
doc: say the instruction of each order, the length of each row, every word of two lists
requirements:
  ScatterFeatureRequirement: {{}}
  StepInputExpressionRequirement: {{}}
  MultipleInputFeatureRequirement: {{}}
  SubworkflowFeatureRequirement: {{}}
  InlineJavascriptRequirement: {{}}
inputs:
  orders: {{type: {{type: array, items: {{type: record, fields: {{instr: string, n: int}}}}}}}}
  rows: {{type: {{type: array, items: {{type: array, items: int}}}}}}
  first: string[]
  second: string[]
  count: int
outputs:
  told: {{type: "File[]", outputSource: tell/said}}
  measured: {{type: "File[]", outputSource: measure/said}}
  both: {{type: "File[]", outputSource: merged/said}}
  made: {{type: "File[]", outputSource: counted/said}}
steps:
  tell:
    in: {{word: {{source: orders, valueFrom: "$(self.instr + '-' + self.n)"}}}}
    scatter: word
    out: [said]
    run:
{ECHO}
  measure:
    in: {{word: {{source: rows, valueFrom: "$(self.length + ':' + self.join(','))"}}}}
    scatter: word
    out: [said]
    run:
{ECHO}
  shout:
    in: {{words: second}}
    out: [loud]
    run:
      class: ExpressionTool
      inputs: {{words: "string[]"}}
      outputs: {{loud: "string[]"}}
      expression: '$({{"loud": inputs.words.map(function (w) {{ return w.toUpperCase(); }})}})'
  merged:
    in: {{word: {{source: [first, shout/loud], linkMerge: merge_flattened}}}}
    scatter: word
    out: [said]
    run:
{ECHO}
  make:
    in: {{count: count}}
    out: [words]
    run:
      class: Workflow
      inputs: {{count: int}}
      outputs: {{words: {{type: "string[]", outputSource: list/words}}}}
      steps:
        list:
          in: {{count: count}}
          out: [words]
          run:
            class: ExpressionTool
            inputs: {{count: int}}
            outputs: {{words: "string[]"}}
            expression: >-
              $({{"words": Array.apply(null, Array(inputs.count)).map(function (_, i) {{
                return "w" + i; }})}})
  counted:
    in: {{word: make/words}}
    scatter: word
    out: [said]
    run:
{ECHO}
"""

PARAMS = {"orders": json.dumps([{"instr": "stir", "n": 2}, {"instr": "bake", "n": 40}]),
          "rows": json.dumps([[1, 2, 3], [], [7]]), "first": ["a", "b"],
          "second": ["c"], "count": 3}


def text(store, location: str) -> str:
    return b"".join(store.iter_blob(location.removeprefix("wfobj:"))).decode()


def test_each_such_scatter_fans_out_over_its_counted_positions():
    svc = service(MemoryObjectStore())
    reg, _ = svc.apply_workflow("counted", COUNTED, user="alice",
                                content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    for step in ("tell", "measure", "merged", "counted"):
        assert stored.tasks[step].for_each.to_value() == {
            "task": f"cwl-cross-{step}", "var": "cwl_items_positions"}
        assert stored.tasks[f"cwl-cross-{step}"].cwl["step"] == f"#cross:main/{step}"
    assert stored.tasks["cwl-cross-merged"].cwl["reads"] == ["shout"]
    assert stored.tasks["cwl-cross-counted"].cwl["reads"] == ["make"]


@pytest.mark.docker
def test_scatters_over_records_nested_arrays_merged_sources_and_a_subworkflow(
        lmdb_store, docker_client):
    svc = service(lmdb_store)
    svc.apply_workflow("counted", COUNTED, user="alice", content_type="application/yaml")
    run_id = svc.trigger(name="counted", user="alice", parameters=PARAMS)["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert svc.get_run(run_id)["state"] == "success", {n: t.get("error") for n, t in tasks.items()}
    assert sorted(n for n in tasks if n.startswith("tell[")) == ["tell[0]", "tell[1]"]
    outputs = json.loads(tasks["cwl-outputs"]["vars"]["cwl"])
    said = {port: [text(lmdb_store, f["location"]) for f in files]
            for port, files in outputs.items()}
    assert said == {"told": ["stir-2\n", "bake-40\n"],
                    "measured": ["3:1,2,3\n", "0:\n", "1:7\n"],
                    "both": ["a\n", "b\n", "C\n"],
                    "made": ["w0\n", "w1\n", "w2\n"]}


@pytest.mark.docker
def test_a_dotproduct_over_counted_arrays_of_different_lengths_fails_the_count(
        lmdb_store, docker_client):
    document = yaml.safe_load(COUNTED)
    tell = document["steps"]["tell"]
    tell["scatter"], tell["scatterMethod"] = ["word", "row"], "dotproduct"
    tell["in"]["row"] = "rows"
    svc = service(lmdb_store)
    svc.apply_workflow("counted", document, user="alice")
    run_id = svc.trigger(name="counted", user="alice", parameters=PARAMS)["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert svc.get_run(run_id)["state"] == "failed"
    assert tasks["cwl-cross-tell"]["state"] == "failed"
    assert "dotproduct over arrays of different lengths (2, 3)" in tasks["cwl-cross-tell"]["error"]


@pytest.mark.docker
@pytest.mark.parametrize("given", [True, False])
def test_a_scatter_over_optional_arrays_runs_given_and_fails_the_count_left_out(
        lmdb_store, docker_client, given):
    document = yaml.safe_load(COUNTED)
    document["inputs"]["orders"]["type"] = ["null", document["inputs"]["orders"]["type"]]
    document["inputs"]["first"] = "string[]?"  # a native list param, optional
    document["steps"]["merged"]["in"]["word"] = "first"
    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("counted", document, user="alice")
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert stored.tasks["tell"].for_each.to_value()["task"] == "cwl-cross-tell"
    assert stored.tasks["merged"].for_each.to_value()["task"] == "cwl-cross-merged"
    params = PARAMS if given else {k: v for k, v in PARAMS.items() if k != "orders"}
    run_id = svc.trigger(name="counted", user="alice", parameters=params)["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    if given:
        assert svc.get_run(run_id)["state"] == "success", tasks
        outputs = json.loads(tasks["cwl-outputs"]["vars"]["cwl"])
        assert [text(lmdb_store, f["location"]) for f in outputs["told"]] == [
            "stir-2\n", "bake-40\n"]
        assert [text(lmdb_store, f["location"]) for f in outputs["both"]] == ["a\n", "b\n"]
        return
    assert svc.get_run(run_id)["state"] == "failed"
    assert tasks["cwl-cross-tell"]["error"] == ("CWL expression: scatter: main/tell/word is not "
                                                "an array (it is null: an optional input left "
                                                "out?)")


CROSSED = """\
cwlVersion: v1.2
class: Workflow
doc: every shouted word with every made word, flat and nested
requirements:
  ScatterFeatureRequirement: {}
  SubworkflowFeatureRequirement: {}
  InlineJavascriptRequirement: {}
inputs:
  words: string[]
  count: int
outputs:
  flat: {type: "File[]", outputSource: pair/said}
  nested: {type: Any, outputSource: grid/out}
steps:
  shout:
    in: {word: words}
    scatter: word
    out: [loud]
    run:
      class: ExpressionTool
      inputs: {word: string}
      outputs: {loud: string}
      expression: '$({"loud": inputs.word.toUpperCase()})'
  make:
    in: {count: count}
    out: [words]
    run:
      class: Workflow
      inputs: {count: int}
      outputs: {words: {type: "string[]", outputSource: list/words}}
      steps:
        list:
          in: {count: count}
          out: [words]
          run:
            class: ExpressionTool
            inputs: {count: int}
            outputs: {words: "string[]"}
            expression: >-
              $({"words": Array.apply(null, Array(inputs.count)).map(function (_, i) {
                return "w" + i; })})
  pair:
    in: {left: shout/loud, right: make/words}
    scatter: [left, right]
    scatterMethod: flat_crossproduct
    out: [said]
    run:
      class: CommandLineTool
      baseCommand: [echo]
      inputs:
        left: {type: string, inputBinding: {position: 1}}
        right: {type: string, inputBinding: {position: 2}}
      stdout: said.txt
      outputs: {said: stdout}
  grid:
    in: {left: shout/loud, right: make/words}
    scatter: [left, right]
    scatterMethod: nested_crossproduct
    out: [out]
    run:
      class: ExpressionTool
      inputs: {left: string, right: string}
      outputs: {out: string}
      expression: '$({"out": inputs.left + inputs.right})'
"""


@pytest.mark.docker
def test_crossproducts_over_a_scattered_steps_and_a_subworkflows_output(lmdb_store,
                                                                        docker_client):
    svc = service(lmdb_store)
    svc.apply_workflow("crossed", CROSSED, user="alice", content_type="application/yaml")
    run_id = svc.trigger(name="crossed", user="alice",
                         parameters={"words": ["a", "b"], "count": 3})["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert svc.get_run(run_id)["state"] == "success", {n: t.get("error") for n, t in tasks.items()}
    outputs = json.loads(tasks["cwl-outputs"]["vars"]["cwl"])
    assert [text(lmdb_store, f["location"]) for f in outputs["flat"]] == [
        "A w0\n", "A w1\n", "A w2\n", "B w0\n", "B w1\n", "B w2\n"]
    assert outputs["nested"] == [["Aw0", "Aw1", "Aw2"], ["Bw0", "Bw1", "Bw2"]]
