"""`when` on a scattered step of a registered CWL workflow (docs/cwl.md "Registering a
CWL document"): judged per instance on that instance's inputs; an instance whose `when`
is false is skipped as a non-scattered step is (state `skipped`, `skip: condition` on its
audit event, no attempt), and its place in each output array is null, so a reader's
`pickValue: all_non_null` drops it and a reader without one sees the null. A step paired
with the scatter (over the same items) reads the skipped instance's outputs as null.
Real Docker, real LMDB."""

from __future__ import annotations

import json

import pytest

from tests.support_engine import claim, service
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler

pytestmark = pytest.mark.docker

LONG_WORDS = """\
cwlVersion: v1.2
class: Workflow
doc: shout only the words longer than three letters, then list what was shouted
requirements:
  ScatterFeatureRequirement: {}
  InlineJavascriptRequirement: {}
  MultipleInputFeatureRequirement: {}
inputs:
  words: string[]
outputs:
  shouted: {type: "File[]", outputSource: shout/loud, pickValue: all_non_null}
  every: {type: {type: array, items: ["null", File]}, outputSource: shout/loud}
  sizes: {type: "File[]", outputSource: size/n}
  listed: {type: File, outputSource: gather/all}
steps:
  shout:
    scatter: word
    in: {word: words}
    when: $(inputs.word.length > 3)
    out: [loud]
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'echo "$0" | tr a-z A-Z']
      inputs: {word: {type: string, inputBinding: {position: 1}}}
      stdout: loud.txt
      outputs: {loud: stdout}
  size:
    scatter: loud
    in: {loud: shout/loud}
    out: [n]
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'if [ -n "$1" ]; then wc -c < "$1" | tr -d " "; else echo none; fi', size]
      inputs: {loud: {type: "File?", inputBinding: {position: 1}}}
      stdout: n.txt
      outputs: {n: stdout}
  gather:
    in:
      loud: {source: shout/loud, pickValue: all_non_null}
    out: [all]
    run:
      class: CommandLineTool
      baseCommand: [cat]
      inputs: {loud: {type: "File[]", inputBinding: {position: 1}}}
      stdout: all.txt
      outputs: {all: stdout}
"""


def text(store, location: str) -> str:
    return b"".join(store.iter_blob(location.removeprefix("wfobj:"))).decode()


def test_when_is_judged_per_instance_of_a_scatter(lmdb_store, docker_client):
    svc = service(lmdb_store)
    svc.apply_workflow("long-words", LONG_WORDS, user="alice",
                       content_type="application/yaml")
    run_id = svc.trigger(name="long-words", user="alice",
                         parameters={"words": ["tree", "ox", "river", "sky"]})["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    assert svc.get_run(run_id)["state"] == "success"
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    instances = {k: v for k, v in tasks.items() if k.startswith("shout[")}
    assert {k: v["state"] for k, v in instances.items()} == {
        "shout[0]": "success", "shout[1]": "skipped", "shout[2]": "success",
        "shout[3]": "skipped"}
    assert tasks["shout"]["state"] == "success"
    for key in ("shout[1]", "shout[3]"):  # false: skipped, no attempt, no container
        assert instances[key]["skip"] == "condition"
        assert (instances[key]["attempt"], instances[key]["evidence_hash"]) == (0, None)
        [event] = [e for e in svc.run_audit(run_id) if e["task"] == key]
        assert (event["from"], event["to"], event["skip"]) == ("pending", "skipped", "condition")
        assert event["reason"] == "skipped: CWL when false: $(inputs.word.length > 3)"
    assert instances["shout[0]"]["image"] == "wfobj/toolbox:local"
    assert text(lmdb_store, json.loads(tasks["gather"]["vars"]["cwl"])["all"]["location"]) == (
        "TREE\nRIVER\n")
    outputs = json.loads(tasks["cwl-outputs"]["vars"]["cwl"])
    assert [text(lmdb_store, f["location"]) for f in outputs["shouted"]] == ["TREE\n", "RIVER\n"]
    assert [f and text(lmdb_store, f["location"]) for f in outputs["every"]] == [
        "TREE\n", None, "RIVER\n", None]
    # the paired scatter runs every instance: a skipped one's output read as null
    assert [tasks[f"size[{i}]"]["state"] for i in range(4)] == ["success"] * 4
    assert [text(lmdb_store, f["location"]) for f in outputs["sizes"]] == [
        "5\n", "none\n", "6\n", "none\n"]
