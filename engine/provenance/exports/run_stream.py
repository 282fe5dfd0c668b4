"""A run as the streamed exports (PROV, OpenLineage, in-toto) read it: the run's header
at once, its attempts as a stream that can be read again, never the whole task table.

`RunStream.attempts()` walks the task table bucket by bucket (engine/runs/rows.py) and
reads each attempt's evidence as it goes, so a pass over the run holds one bucket and one
attempt at a time; a format needing several passes (PROV's sections, in-toto's
length-then-sign) reads the evidence again each time. Every stream of one RunStream reads
the same manifest: a run still going is exported as it stood when the export began.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from wfobj.engine.definitions.params import render_parameters
from wfobj.engine.model import DIR, ImageFacts, TaskEvidence, read
from wfobj.engine.runs.rows import RunHead
from wfobj.engine.states import RUN_TERMINAL
from wfobj.objstore import ObjectStore, walk_tree

from .run_export import Attempt, Content, attempt_of, param_contents

MEMO_ATTEMPTS = 1024  # attempts kept read between passes (a small run is read once)
MEMO_IMAGES = 256  # image facts kept read (a run names a few images, each many times)


@dataclass
class RunStream:
    """The run's header fields and its attempts on demand (tasks in table order, each
    task's attempts in order)."""

    store: ObjectStore
    head: RunHead
    run_id: str
    workflow: str
    state: str
    definition_hash: str
    parameters: dict
    param_contents: tuple[Content, ...]
    triggered_by: str
    engine_version: str
    created_at: str
    started_at: str | None
    ended_at: str | None
    manifest_hash: str | None
    cache: bool
    parent: dict | None
    _memo: dict[str, Attempt] = field(default_factory=dict, repr=False)
    _images: dict[str, ImageFacts] = field(default_factory=dict, repr=False)

    @property
    def definition(self):
        return self.head.definition

    @property
    def terminal(self) -> bool:
        return self.state in RUN_TERMINAL

    @property
    def row_count(self) -> int:
        return self.head.rows.count

    def rows(self) -> Iterator[dict]:
        """The task table's rows in order, one bucket read at a time."""
        rows, step = self.head.rows, 64
        for start in range(0, rows.count, step):
            yield from rows.rows(start, start + step)

    def attempts(self) -> Iterator[Attempt]:
        """Every attempt, in run order (what RunExport.attempts holds, read as it goes)."""
        # each definition task's latest outputs so far: an input taken from inside
        # another task's output directory names it (instances are never read that way)
        outputs: dict[str, tuple[Content, ...]] = {}
        for row in self.rows():
            for link in row["attempts"]:
                attempt = self.attempt(link.oid, outputs)
                if row["name"] in self.definition.tasks:
                    outputs[row["name"]] = attempt.outputs
                yield attempt

    def attempt(self, oid: str, upstream: dict[str, tuple[Content, ...]]) -> Attempt:
        """The attempt whose evidence is `oid`, read verified (`upstream`: each earlier
        definition task's latest outputs)."""
        found = self._memo.get(oid)
        if found is None:
            ev = read(self.store, oid, TaskEvidence)
            found = attempt_of(oid, ev, self.image(ev.image_facts.oid), self.definition,
                               upstream)
            if len(self._memo) < MEMO_ATTEMPTS:
                self._memo[oid] = found
        return found

    def image(self, oid: str) -> ImageFacts:
        found = self._images.get(oid)
        if found is None:
            found = read(self.store, oid, ImageFacts)
            if len(self._images) < MEMO_IMAGES:
                self._images[oid] = found
        return found

    def attempt_oids(self) -> Iterator[str]:
        """Every attempt's evidence hash, in run order, from the rows alone."""
        for row in self.rows():
            for link in row["attempts"]:
                yield link.oid

    def last_attempts(self) -> Iterator[Attempt]:
        """The last attempt of each task that has one: what the run's files come from."""
        return (attempt for _, attempt in self.last_attempts_at())

    def last_attempts_at(self) -> Iterator[tuple[int, Attempt]]:
        """(row position, last attempt) of each task that has one."""
        outputs: dict[str, tuple[Content, ...]] = {}
        for position, row in enumerate(self.rows()):
            if not row["attempts"]:
                continue
            # the earlier attempts of a row count only for inputs inside a directory,
            # which name a definition task's latest outputs: the last one is that
            attempt = self.attempt(row["attempts"][-1].oid, outputs)
            if row["name"] in self.definition.tasks:
                outputs[row["name"]] = attempt.outputs
            yield position, attempt

    def outputs(self) -> Iterator[tuple[Attempt, Content]]:
        """Every output the run produced (of each task's last attempt), a directory as one."""
        return ((a, c) for a in self.last_attempts() for c in a.outputs)

    def files_in(self, content: Content) -> Iterator[Content]:
        """A file itself; a directory's files, each named `<its path>/<path inside>`
        (the tree walked again each time: nothing of it is kept)."""
        if not content.is_dir:
            yield content
            return
        for inner, entry in walk_tree(self.store, content.hash):
            if entry.kind != DIR:
                yield Content(entry.oid, entry.size, f"{content.path}/{inner}",
                              tree=content.hash)

    def contents(self) -> Iterator[Content]:
        """Every parameter, input and output content, in that order, repeats included."""
        yield from self.param_contents
        for a in self.attempts():
            yield from a.inputs
            yield from a.outputs


def open_run_stream(store: ObjectStore, run_id: str) -> RunStream:
    """The run's newest manifest, record and definition (UnknownRun): nothing of its
    task table is read until a stream asks."""
    return run_stream_of(store, RunHead.load(store, run_id))


def run_stream_of(store: ObjectStore, head: RunHead) -> RunStream:
    """The fields a run's view shows (engine/provenance/views.py), read from its record
    and manifest alone (a view also reads its first rows; an export reads them later)."""
    rec, m = head.record, head.manifest
    parameters = render_parameters(head.definition.params, rec.parameters)
    return RunStream(
        store=store, head=head, run_id=head.run_id, workflow=rec.workflow, state=m.state,
        definition_hash=rec.definition.oid, parameters=parameters,
        param_contents=param_contents(store, head, parameters),
        triggered_by=rec.triggered_by, engine_version=rec.engine_version,
        created_at=rec.created_at, started_at=m.started_at, ended_at=m.ended_at,
        manifest_hash=head.manifest_oid, cache=rec.cache if rec.cache is not None else True,
        parent=rec.parent)
