"""OpenLineage: a JSON array of RunEvents, built with the `openlineage-python` client's
event classes (spec 2-0-2), written event by event as the run's attempts are read
(engine/provenance/exports/run_stream.py): one attempt's events are held at a time, and
the run's end event, which names every output, is written output by output.

The run is one job (`<workflow>`), each task attempt a job run of `<workflow>.<task>` whose
ParentRunFacet names the run. Each gets START, then COMPLETE, FAIL or ABORT once it has
ended. Datasets are named by hash in the `wfobj` namespace: a file by its BLAKE3, a
directory by its tree hash, as one dataset (as a folder is one dataset to OpenLineage's
own integrations), never a dataset per file inside it: an event stays the same size
whatever the directory holds, and no tree is read to write it. A directory's dataset, and
an input taken from inside another task's output directory, carry the `wfobj_content`
facet: the kind, size, and the directory and path it came from.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import attr
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import (
    DatasetFacet,
    RunFacet,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
)
from openlineage.client.serde import Serde

from wfobj.engine.clock import parse_time
from wfobj.engine.states import AttemptStatus, RunStatus

from .json_stream import chunked, dumps, json_array
from .run_stream import Attempt, Content, RunStream

NAMESPACE = "wfobj"
ATTEMPT_FACET_SCHEMA = "urn:wfobj:openlineage:facets:WfobjAttemptRunFacet:1"
CONTENT_FACET_SCHEMA = "urn:wfobj:openlineage:facets:WfobjContentDatasetFacet:1"
END_EVENT = {RunStatus.SUCCESS: RunState.COMPLETE, RunStatus.FAILED: RunState.FAIL,
             RunStatus.KILLED: RunState.ABORT}


@attr.define
class WfobjAttemptRunFacet(RunFacet):
    """wfobj's own facet on a task run: which evidence object records it, and for a
    cache hit, the evidence of the attempt it reused."""

    evidenceHash: str  # noqa: N815 - OpenLineage facets are camelCase
    attempt: int
    state: str
    image: str
    imageId: str | None = attr.field(default=None)  # noqa: N815
    exitCode: int | None = attr.field(default=None)  # noqa: N815
    cachedFrom: str | None = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return ATTEMPT_FACET_SCHEMA


@attr.define
class WfobjContentDatasetFacet(DatasetFacet):
    """wfobj's own facet on a directory's dataset (`kind` dir, `size` the total of its
    files) and on an input taken from inside another task's output directory (`within`
    that directory's tree hash, `path` the input's path inside it)."""

    kind: str
    size: int
    within: str | None = attr.field(default=None)
    path: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return CONTENT_FACET_SCHEMA


def stream_openlineage(run: RunStream) -> Iterator[bytes]:
    """Every event of the run, oldest first, as one JSON array, in pieces."""
    return chunked(array_text(run))


def array_text(run: RunStream) -> Iterator[str]:
    producer = producer_uri(run.engine_version)
    yield "[\n  " + event_text(run_event(run, RunState.START, run.started_at or run.created_at,
                                         producer))
    for a in run.attempts():
        for event in attempt_events(run, a, producer):
            yield ",\n  " + event_text(event)
    if run.terminal:  # its outputs written one by one, never held as one list
        end = json.loads(Serde.to_json(run_event(run, END_EVENT[run.state], run.ended_at,
                                                 producer, outputs=False)))
        end.pop("outputs", None)
        yield ",\n  " + dumps(end)[:-1] + ', "outputs": '
        yield from json_array((dumps(Serde.to_dict(output_dataset(c, producer)))
                               for _, c in run.outputs()), indent="  ")
        yield "}"
    yield "\n]\n"


def event_text(event: RunEvent) -> str:
    return dumps(json.loads(Serde.to_json(event)))


def events(run: RunStream) -> Iterator[RunEvent]:
    """The run's events, oldest first, one at a time (the OpenLineage feed posts them)."""
    producer = producer_uri(run.engine_version)
    yield run_event(run, RunState.START, run.started_at or run.created_at, producer)
    for a in run.attempts():
        yield from attempt_events(run, a, producer)
    if run.terminal:
        yield run_event(run, END_EVENT[run.state], run.ended_at, producer)


def producer_uri(engine_version: str) -> str:
    return "urn:wfobj:engine:" + quote(engine_version.replace(" ", ":"), safe=":.")


def run_event(run: RunStream, kind: RunState, at: str, producer: str, *,
              outputs: bool = True) -> RunEvent:
    """The run's START (its parameters as inputs) or end event (with `outputs`, every
    output of the run)."""
    facets = {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
        version=run.engine_version, name="wfobj", producer=producer)}
    return RunEvent(
        eventType=kind, eventTime=at, producer=producer,
        run=Run(runId=run.run_id, facets=facets),
        job=Job(namespace=NAMESPACE, name=run.workflow, facets=job_facets("DAG", producer)),
        inputs=[input_dataset(c, producer) for c in run.param_contents]
        if kind == RunState.START else [],
        outputs=[output_dataset(c, producer) for _, c in run.outputs()]
        if kind != RunState.START and outputs else [])


def attempt_events(run: RunStream, a: Attempt, producer: str) -> list[RunEvent]:
    run_id = attempt_run_id(a)
    job = Job(namespace=NAMESPACE, name=f"{run.workflow}.{a.task}",
              facets=job_facets("TASK", producer))
    inputs = [input_dataset(c, producer) for c in a.inputs]
    start = RunEvent(eventType=RunState.START, eventTime=a.started_at, producer=producer,
                     run=Run(runId=run_id, facets=attempt_facets(run, a, producer, False)),
                     job=job, inputs=inputs)
    if a.state not in END_EVENT:
        return [start]
    end = RunEvent(eventType=END_EVENT[a.state], eventTime=a.ended_at, producer=producer,
                   run=Run(runId=run_id, facets=attempt_facets(run, a, producer, True)),
                   job=job, inputs=inputs,
                   outputs=[output_dataset(c, producer) for c in a.outputs])
    return [start, end]


def attempt_run_id(a: Attempt) -> str:
    """A UUIDv7 made from the attempt's start (milliseconds) and its evidence hash: the
    same in every export of the run, time-ordered like the run ids."""
    ms = int(parse_time(a.started_at).timestamp() * 1000) & (2**48 - 1)
    bits = int(a.evidence_hash[:19], 16)  # 76 bits: 12 for rand_a, 62 for rand_b
    value = (ms << 80 | 0x7 << 76 | (bits >> 62 & 0xFFF) << 64 | 0b10 << 62
             | bits & (2**62 - 1))
    return str(uuid.UUID(int=value))


def attempt_facets(run: RunStream, a: Attempt, producer: str, ended: bool) -> dict:
    facets: dict = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run.run_id),
            job=parent_run.Job(namespace=NAMESPACE, name=run.workflow), producer=producer),
        "wfobj_attempt": WfobjAttemptRunFacet(
            evidenceHash=a.evidence_hash, attempt=a.number, state=a.state, image=a.image,
            imageId=a.image_id, exitCode=a.exit_code if ended else None,
            cachedFrom=a.cached_from, producer=producer),
    }
    if ended and a.state != AttemptStatus.SUCCESS:
        message = a.error or f"exit code {a.exit_code}"
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="shell", producer=producer)
    return facets


def job_facets(kind: str, producer: str) -> dict:
    return {"jobType": job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="WFOBJ", jobType=kind, producer=producer)}


def input_dataset(c: Content, producer: str) -> InputDataset:
    return InputDataset(namespace=NAMESPACE, name=c.hash, facets=content_facets(c, producer))


def output_dataset(c: Content, producer: str) -> OutputDataset:
    return OutputDataset(namespace=NAMESPACE, name=c.hash, facets=content_facets(c, producer))


def content_facets(c: Content, producer: str) -> dict | None:
    """The `wfobj_content` facet of a directory or of something taken from inside one;
    a plain file's dataset has no facets."""
    if not c.is_dir and c.within is None:
        return None
    return {"wfobj_content": WfobjContentDatasetFacet(
        kind=c.kind, size=c.size, within=c.within.tree if c.within else None,
        path=c.within.path if c.within else None, producer=producer)}
