"""`scatter` and `when` on a subworkflow step of a registered CWL workflow (docs/cwl.md
"Registering a CWL document"): the step's sub-workflow task fans out with its task
`cwl-in-STEP` (paired), one child run per item, each child taking its item's input object
whole; `when` is judged per instance by `cwl-in-STEP[KEY]`, and a skipped instance skips
its child run (no child) and reads as null (`pickValue` drops it). Real Docker, real LMDB."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.support_engine import claim, service
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.objstore import MemoryObjectStore, put_directory

PER_TEXT = """\
cwlVersion: v1.2
class: Workflow
doc: count the lines of each text long enough, in a two-step subworkflow, then list them
requirements:
  SubworkflowFeatureRequirement: {}
  ScatterFeatureRequirement: {}
  InlineJavascriptRequirement: {}
inputs:
  texts: File[]
  min: int
outputs:
  labelled: {type: "File[]", outputSource: per/out, pickValue: all_non_null}
  every: {type: {type: array, items: ["null", File]}, outputSource: per/out}
  listed: {type: File, outputSource: report/all}
steps:
  per:
    in: {text: texts, min: min}
    scatter: text
    when: $(inputs.text.size >= inputs.min)
    out: [out]
    run:
      class: Workflow
      inputs: {text: File, min: int}
      outputs: {out: {type: File, outputSource: label/out}}
      steps:
        count:
          in: {text: text}
          out: [n]
          run:
            class: CommandLineTool
            baseCommand: [sh, -c, 'wc -l < "$0" | tr -d " "']
            inputs: {text: {type: File, inputBinding: {position: 1}}}
            stdout: n.txt
            outputs: {n: stdout}
        label:
          in: {n: count/n, text: text}
          out: [out]
          run:
            class: CommandLineTool
            baseCommand: [sh, -c, 'echo "$0 $(cat $1)"']
            inputs:
              text: {type: File, inputBinding: {position: 1, valueFrom: $(self.basename)}}
              n: {type: File, inputBinding: {position: 2}}
            stdout: out.txt
            outputs: {out: stdout}
  report:
    in:
      lines: {source: per/out, pickValue: all_non_null}
    out: [all]
    run:
      class: CommandLineTool
      baseCommand: [cat]
      inputs: {lines: {type: "File[]", inputBinding: {position: 1}}}
      stdout: all.txt
      outputs: {all: stdout}
"""
TEXTS = {"a.txt": "1\n2\n3\n", "b.txt": "1\n", "c.txt": "1\n2\n"}


def text(store, location: str) -> str:
    return b"".join(store.iter_blob(location.removeprefix("wfobj:"))).decode()


def test_compiled_tasks_pair_the_subworkflow_with_its_input_objects():
    svc = service(MemoryObjectStore())
    reg, _ = svc.apply_workflow("per-text", PER_TEXT, user="alice",
                                content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    per, maker = stored.tasks["per"], stored.tasks["cwl-in-per"]
    assert per.for_each.to_value() == maker.for_each.to_value() == {"param": "texts"}
    assert per.params == {"cwl_inputs": "{{tasks.cwl-in-per.vars.cwl}}"}
    assert per.workflow["name"] == "cwl-per" and maker.cwl["step"] == "#inputs:main/per"


@pytest.mark.docker
def test_a_two_step_subworkflow_scattered_over_files_with_a_when(lmdb_store, docker_client,
                                                                  tmp_path):
    svc = service(lmdb_store)
    svc.apply_workflow("per-text", PER_TEXT, user="alice", content_type="application/yaml")
    folder = tmp_path / "texts"
    folder.mkdir()
    for name, body in TEXTS.items():
        (folder / name).write_text(body)
    run_id = svc.trigger(name="per-text", user="alice", parameters={
        "texts": put_directory(lmdb_store, folder).oid, "min": 4})["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert svc.get_run(run_id)["state"] == "success", {n: t.get("error") for n, t in tasks.items()}
    # b.txt (2 bytes) is under min: its input object's `when` is false, so no child run
    assert {n: t["state"] for n, t in tasks.items() if n.startswith(("per[", "cwl-in-per["))} == {
        "cwl-in-per[a.txt]": "success", "cwl-in-per[b.txt]": "skipped",
        "cwl-in-per[c.txt]": "success",
        "per[a.txt]": "success", "per[b.txt]": "skipped", "per[c.txt]": "success"}
    assert tasks["per[b.txt]"]["skip"] == "condition" and tasks["per[b.txt]"]["attempt"] == 0
    [event] = [e for e in svc.run_audit(run_id) if e["task"] == "cwl-in-per[b.txt]"]
    assert event["reason"] == "skipped: CWL when false: $(inputs.text.size >= inputs.min)"
    for key, lines in (("a.txt", "3"), ("c.txt", "2")):
        child_id = tasks[f"per[{key}]"]["child"]["run_id"]
        child = svc.get_run(child_id)
        assert child["parent"] == {"run_id": run_id, "task": f"per[{key}]"}
        assert child["tasks"] == {"count": "success", "label": "success",
                                  "cwl-outputs": "success"}
        given = json.loads(child["parameters"]["cwl_inputs"])
        assert given["text"]["basename"] == key and given["min"] == 4
        assert given["text"]["size"] == len(TEXTS[key])
        out = json.loads(tasks[f"per[{key}]"]["vars"]["cwl-outputs.cwl"])["out"]
        assert text(lmdb_store, out["location"]) == f"{key} {lines}\n"
    outputs = json.loads(tasks["cwl-outputs"]["vars"]["cwl"])
    assert [text(lmdb_store, f["location"]) for f in outputs["labelled"]] == [
        "a.txt 3\n", "c.txt 2\n"]
    assert [f and text(lmdb_store, f["location"]) for f in outputs["every"]] == [
        "a.txt 3\n", None, "c.txt 2\n"]
    assert text(lmdb_store, outputs["listed"]["location"]) == "a.txt 3\nc.txt 2\n"


WHEN_ONLY = """\
cwlVersion: v1.2
class: Workflow
requirements:
  SubworkflowFeatureRequirement: {}
  InlineJavascriptRequirement: {}
inputs:
  word: string
outputs:
  said: {type: "File?", outputSource: maybe/out}
steps:
  maybe:
    in: {word: word}
    when: $(inputs.word.length > 2)
    out: [out]
    run:
      class: Workflow
      inputs: {word: string}
      outputs: {out: {type: File, outputSource: say/out}}
      steps:
        say:
          in: {word: word}
          out: [out]
          run:
            class: CommandLineTool
            baseCommand: [echo]
            inputs: {word: {type: string, inputBinding: {position: 1}}}
            stdout: out.txt
            outputs: {out: stdout}
"""


@pytest.mark.docker
@pytest.mark.parametrize(("word", "said"), [("hello", "hello\n"), ("hi", None)])
def test_when_on_a_subworkflow_step_skips_its_child_run(lmdb_store, docker_client, word, said):
    svc = service(lmdb_store)
    svc.apply_workflow("maybe", WHEN_ONLY, user="alice", content_type="application/yaml")
    run_id = svc.trigger(name="maybe", user="alice", parameters={"word": word})["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert svc.get_run(run_id)["state"] == "success", {n: t.get("error") for n, t in tasks.items()}
    outputs = json.loads(tasks["cwl-outputs"]["vars"]["cwl"])
    if said is None:
        assert tasks["maybe"]["state"] == "skipped" and tasks["maybe"]["skip"] == "condition"
        assert outputs == {"said": None}
    else:
        assert tasks["maybe"]["state"] == "success"
        assert text(lmdb_store, outputs["said"]["location"]) == said


def test_a_scatter_over_an_unscattered_subworkflows_output_is_counted_in_the_engine():
    document = yaml.safe_load(PER_TEXT)
    document["steps"]["per"].pop("scatter")
    document["steps"]["per"].pop("when")
    document["steps"]["report"]["scatter"] = "lines"
    document["steps"]["report"]["in"]["lines"] = "per/out"
    document["steps"]["report"]["run"]["inputs"]["lines"]["type"] = "File"
    inner = document["steps"]["per"]["run"]  # the subworkflow's output: an array
    inner["outputs"]["out"]["type"] = "File[]"
    inner["steps"]["label"]["run"]["outputs"]["out"] = {"type": "File[]",
                                                        "outputBinding": {"glob": "out.txt"}}
    document["outputs"] = {"listed": {"type": "File[]", "outputSource": "report/all"}}
    document["inputs"]["texts"] = "File"
    svc = service(MemoryObjectStore())
    reg, _ = svc.apply_workflow("per-list", document, user="alice")
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert stored.tasks["report"].for_each.to_value() == {"task": "cwl-cross-report",
                                                          "var": "cwl_items_positions"}
    assert stored.tasks["cwl-cross-report"].cwl["reads"] == ["per"]


PAIRS = """\
cwlVersion: v1.2
class: Workflow
requirements:
  SubworkflowFeatureRequirement: {}
  ScatterFeatureRequirement: {}
inputs:
  greetings: string[]
  names: string[]
outputs:
  said: {type: Any, outputSource: greet/out}
steps:
  greet:
    in: {greeting: greetings, name: names}
    scatter: [greeting, name]
    scatterMethod: METHOD
    out: [out]
    run:
      class: Workflow
      inputs: {greeting: string, name: string}
      outputs: {out: {type: string, outputSource: say/out}}
      steps:
        say:
          in: {greeting: greeting, name: name}
          out: [out]
          run:
            class: ExpressionTool
            requirements: {InlineJavascriptRequirement: {}}
            inputs: {greeting: string, name: string}
            outputs: {out: string}
            expression: '$({"out": inputs.greeting + " " + inputs.name})'
"""


@pytest.mark.parametrize(("method", "said"), [
    ("flat_crossproduct", ["hi ann", "hi bo", "yo ann", "yo bo"]),
    ("nested_crossproduct", [["hi ann", "hi bo"], ["yo ann", "yo bo"]]),
    ("dotproduct", ["hi ann", "yo bo"]),
])
def test_crossproducts_over_a_subworkflow_step(lmdb_store, method, said):
    """The counting task `cwl-cross-STEP` numbers the product's items; each instance
    builds its own input object and runs one child (ExpressionTools: no container)."""
    from wfobj.engine.executors.fake import FakeExecutor

    svc = service(lmdb_store)
    svc.apply_workflow("pairs", PAIRS.replace("METHOD", method), user="alice",
                       content_type="application/yaml")
    run_id = svc.trigger(name="pairs", user="alice", parameters={
        "greetings": ["hi", "yo"], "names": ["ann", "bo"]})["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, FakeExecutor(), concurrency=2, poll=0.02).run_to_end()
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert svc.get_run(run_id)["state"] == "success", {n: t.get("error") for n, t in tasks.items()}
    assert len([n for n in tasks if n.startswith("greet[")]) == len(said) * (
        2 if method == "nested_crossproduct" else 1)
    assert json.loads(tasks["cwl-outputs"]["vars"]["cwl"]) == {"said": said}


INNER_SCATTER = """\
cwlVersion: v1.2
class: Workflow
requirements:
  SubworkflowFeatureRequirement: {}
  ScatterFeatureRequirement: {}
  InlineJavascriptRequirement: {}
inputs:
  colours: string[]
  sizes: int[]
outputs:
  grid: {type: Any, outputSource: per_colour/tags}
steps:
  per_colour:
    in: {colour: colours, sizes: sizes}
    scatter: colour
    out: [tags]
    run:
      class: Workflow
      inputs: {colour: string, sizes: "int[]"}
      outputs: {tags: {type: "string[]", outputSource: per_size/tag}}
      steps:
        per_size:
          in: {colour: colour, size: sizes}
          scatter: size
          out: [tag]
          run:
            class: ExpressionTool
            inputs: {colour: string, size: int}
            outputs: {tag: string}
            expression: '$({"tag": inputs.colour + inputs.size})'
"""


def test_a_scattered_subworkflow_scatters_over_its_own_input_object(lmdb_store):
    """The child takes its input object whole, so its own scatter over `sizes` fans out
    over the positions `cwl-params` leaves for that input (ExpressionTools: no container)."""
    from wfobj.engine.executors.fake import FakeExecutor

    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("grid", INNER_SCATTER, user="alice",
                                content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    _, child = svc.registry.definition(stored.tasks["per_colour"].workflow["hash"])
    assert child.tasks["per_size"].for_each.to_value() == {"task": "cwl-params",
                                                           "var": "cwl_items_sizes"}
    assert child.tasks["cwl-params"].cwl["step"] == "#params"
    run_id = svc.trigger(name="grid", user="alice", parameters={
        "colours": ["red", "blue"], "sizes": [1, 2, 3]})["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, FakeExecutor(), concurrency=2, poll=0.02).run_to_end()
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert svc.get_run(run_id)["state"] == "success", {n: t.get("error") for n, t in tasks.items()}
    assert json.loads(tasks["cwl-outputs"]["vars"]["cwl"]) == {
        "grid": [["red1", "red2", "red3"], ["blue1", "blue2", "blue3"]]}
    child_run = svc.get_run(tasks["per_colour[1]"]["child"]["run_id"])
    assert sorted(child_run["tasks"]) == ["cwl-outputs", "cwl-params", "per_size",
                                          "per_size[0]", "per_size[1]", "per_size[2]"]
