"""An attempt to run elsewhere has two forms on purpose: TaskSpec, typed for executors
(float seconds and cpus, InputFile), and the stored `attempt_spec` (decimal text, since
canonical DAG-CBOR holds no floats, and links to the input blobs). One pair of functions
converts between them; these tests keep the two from drifting apart."""

from __future__ import annotations

import dataclasses

from wfobj.engine.executors.attempts import load_spec, spec_object
from wfobj.engine.executors.base import InputFile, TaskSpec
from wfobj.engine.executors.caps import ContainerLimits
from wfobj.engine.model import AttemptSpec
from wfobj.objstore import MemoryObjectStore

# what only one form has: the pull policy is the node's own; the server's default caps
# travel with the stored form
ONLY_TASK_SPEC = {"pull"}
ONLY_STORED = {"default_limits"}


def test_the_two_forms_have_the_same_fields():
    spec = {f.name for f in dataclasses.fields(TaskSpec)}
    stored = {f.name for f in dataclasses.fields(AttemptSpec)} - {"type_name"}
    assert spec - ONLY_TASK_SPEC == stored - ONLY_STORED


def test_a_spec_survives_the_store():
    store = MemoryObjectStore()
    blob = store.put_blob(b"input bytes")
    spec = TaskSpec(run_id="r1", task="t", attempt=2, image="img:1", command=["sh", "-c", "x"],
                    env={"A": "1"}, workdir="/w", network=True, cpus=0.25, memory="512m",
                    timeout=1.5, inputs=[InputFile("data", blob, 11)], output_files=["o"],
                    output_vars=["v"], pids=9)
    limits = ContainerLimits(memory=1 << 30, pids=100, cpus=2.0)
    oid = store.put_object(spec_object(spec, limits).to_value())
    assert load_spec(store, oid) == (spec, limits)
