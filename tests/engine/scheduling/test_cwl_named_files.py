"""A file given to a registered CWL document with its name (docs/workflow-format.md
"Named files"): the tool sees the name it was given (`basename`, `nameext`, the staged
path), the name is part of the attempt's cache key, and a subworkflow's child run and a
resumed run keep it. Real Docker, real LMDB."""

from __future__ import annotations

import json

import pytest

from tests.support_engine import claim, service
from wfobj.engine.errors import ParameterError
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler

pytestmark = pytest.mark.docker

NAMES = """\
cwlVersion: v1.2
class: CommandLineTool
doc: say what a reads file is called and where it lies
requirements: {InlineJavascriptRequirement: {}}
baseCommand: [sh, -c, 'echo "$0 $1 `basename $2`"']
inputs:
  reads: {type: File, inputBinding: {position: 3}}
arguments:
  - {position: 1, valueFrom: $(inputs.reads.basename)}
  - {position: 2, valueFrom: $(inputs.reads.nameext)}
stdout: said.txt
outputs:
  said: stdout
"""

WRAPPED = """\
cwlVersion: v1.2
class: Workflow
doc: the same, one level down
requirements: {SubworkflowFeatureRequirement: {}}
inputs:
  reads: File
outputs:
  said: {type: File, outputSource: inner/said}
steps:
  inner:
    in: {reads: reads}
    out: [said]
    run:
      class: Workflow
      inputs: {reads: File}
      outputs: {said: {type: File, outputSource: tell/said}}
      steps:
        tell:
          in: {reads: reads}
          out: [said]
          run:
            class: CommandLineTool
            baseCommand: [sh, -c, 'echo "$0" `basename $1`']
            inputs:
              reads: {type: File, inputBinding: {position: 2}}
            arguments: [{position: 1, valueFrom: $(inputs.reads.basename)}]
            stdout: said.txt
            outputs: {said: stdout}
"""


def run_to_end(store, run_id: str) -> str:
    claim(store, run_id)
    RunScheduler(store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    return run_id


def said(store, task: dict) -> str:
    assert task["state"] == "success", task
    location = json.loads(task["vars"]["cwl"])["said"]["location"]
    return b"".join(store.iter_blob(location[len("wfobj:"):])).decode().strip()


def test_a_named_file_keeps_its_name_in_the_tool(lmdb_store, docker_client):
    svc = service(lmdb_store)
    svc.apply_workflow("names", NAMES, user="alice", content_type="application/yaml")
    reads = lmdb_store.put_blob(b"@r1\nACGT\n+\nIIII\n")
    named = {"reads": {"hash": reads, "name": "r1.fq.gz"}}
    first = svc.trigger(name="names", parameters=named, user="alice")["run_id"]
    run_to_end(lmdb_store, first)
    [task] = svc.run_tasks(first)
    assert said(lmdb_store, task) == "r1.fq.gz .gz r1.fq.gz"
    assert svc.get_run(first)["file_names"] == {"reads": "r1.fq.gz"}
    assert svc.get_run(first)["parameters"] == {"reads": reads}  # the value is the hash
    # without a name the file goes by its input's name, and that is another cache key
    plain = svc.trigger(name="names", parameters={"reads": reads}, user="alice")["run_id"]
    run_to_end(lmdb_store, plain)
    [other] = svc.run_tasks(plain)
    assert said(lmdb_store, other) == "reads  reads" and other["cached_from"] is None
    assert "file_names" not in svc.get_run(plain)
    # the same bytes by the same name: a hit; a resumed run keeps the name
    again = svc.trigger(name="names", parameters=named, user="alice")["run_id"]
    run_to_end(lmdb_store, again)
    [hit] = svc.run_tasks(again)
    assert hit["cached_from"] == task["evidence_hash"]
    resumed = svc.resume(first, user="alice")["run_id"]
    assert svc.get_run(resumed)["file_names"] == {"reads": "r1.fq.gz"}


def test_a_subworkflow_child_run_keeps_the_name(lmdb_store, docker_client):
    svc = service(lmdb_store)
    svc.apply_workflow("wrapped", WRAPPED, user="alice", content_type="application/yaml")
    reads = lmdb_store.put_blob(b">s\nACGT\n")
    run_id = svc.trigger(name="wrapped", user="alice",
                         parameters={"reads": {"hash": reads, "name": "s.fasta"}})["run_id"]
    run_to_end(lmdb_store, run_id)
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert tasks["inner"]["state"] == "success", tasks["inner"]
    out = json.loads(tasks["cwl-outputs"]["vars"]["cwl"])["said"]["location"]
    text = b"".join(lmdb_store.iter_blob(out[len("wfobj:"):])).decode().strip()
    assert text == "s.fasta s.fasta"


@pytest.mark.parametrize(("value", "where", "why"), [
    ({"hash": "0" * 64}, "reads", "{hash: HASH, name: NAME}"),
    ({"hash": "0" * 64, "name": "a/b.fq"}, "reads.name", "one path component"),
    ({"hash": "0" * 64, "name": ".."}, "reads.name", "one path component"),
    ({"hash": "0" * 64, "name": ""}, "reads.name", "not a file name"),
    ({"hash": "0" * 64, "name": "x" * 256}, "reads.name", "at most 255 bytes"),
])
def test_a_bad_name_is_refused_naming_the_param(lmdb_store, value, where, why):
    svc = service(lmdb_store)
    svc.apply_workflow("names", NAMES, user="alice", content_type="application/yaml")
    with pytest.raises(ParameterError) as exc:
        svc.trigger(name="names", parameters={"reads": value}, user="alice")
    assert exc.value.name == where and why in str(exc.value)
