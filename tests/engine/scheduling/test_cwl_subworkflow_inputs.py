"""A subworkflow step whose inputs are not straight workflow inputs (another step's
output, `valueFrom`, an optional input left out) (docs/cwl.md "Registering a CWL
document"): the task `cwl-in-STEP` builds the step's input object in the engine and the
child run takes it whole. Real Docker, real LMDB."""

from __future__ import annotations

import json

import pytest

from tests.support_engine import claim, service
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler

pytestmark = pytest.mark.docker

SHOUT_THEN_LABEL = """\
cwlVersion: v1.2
class: Workflow
doc: shout a word, then label the shout in a subworkflow
requirements:
  SubworkflowFeatureRequirement: {}
  StepInputExpressionRequirement: {}
  InlineJavascriptRequirement: {}
inputs:
  word: string
  mark: string?
outputs:
  labelled: {type: File, outputSource: label/out}
steps:
  shout:
    in: {word: word}
    out: [loud]
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'echo "$0" | tr a-z A-Z']
      inputs: {word: {type: string, inputBinding: {position: 1}}}
      stdout: loud.txt
      outputs: {loud: stdout}
  label:
    in:
      text: shout/loud
      tag: {source: word, valueFrom: "$('[' + self + ']')"}
      mark: mark
    out: [out]
    run:
      class: Workflow
      inputs: {text: File, tag: string, mark: "string?"}
      outputs: {out: {type: File, outputSource: stick/out}}
      steps:
        stick:
          in: {text: text, tag: tag, mark: {source: mark, default: "."}}
          out: [out]
          run:
            class: CommandLineTool
            baseCommand: [sh, -c, 'echo "$0 `cat $1`$2"']
            inputs:
              tag: {type: string, inputBinding: {position: 1}}
              text: {type: File, inputBinding: {position: 2}}
              mark: {type: string, inputBinding: {position: 3}}
            stdout: out.txt
            outputs: {out: stdout}
"""


def test_a_subworkflow_takes_a_step_output_and_a_value_from(lmdb_store, docker_client):
    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("labels", SHOUT_THEN_LABEL, user="alice",
                                content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert set(stored.tasks) == {"shout", "label", "cwl-in-label", "cwl-outputs"}
    for params, said in (({"word": "hey"}, "[hey] HEY."), ({"word": "yo", "mark": "!"},
                                                           "[yo] YO!")):
        run_id = svc.trigger(name="labels", parameters=params, user="alice")["run_id"]
        claim(lmdb_store, run_id)
        RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2,
                     poll=0.05).run_to_end()
        tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
        assert svc.get_run(run_id)["state"] == "success", tasks
        assert tasks["cwl-in-label"]["executor"] == {"kind": "engine"}
        out = json.loads(tasks["cwl-outputs"]["vars"]["cwl"])["labelled"]["location"]
        assert b"".join(lmdb_store.iter_blob(out.removeprefix("wfobj:"))).decode().strip() \
            == said
