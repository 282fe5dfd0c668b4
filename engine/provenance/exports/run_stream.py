"""A run as every export reads it (RO-Crate, PROV, OpenLineage, in-toto): the run's header
at once, its attempts as a stream that can be read again, never the whole task table.
Typed and JSON-free (`Content`, `Attempt`), so each format module only maps these fields
to its vocabulary.

`RunStream.attempts()` walks the task table bucket by bucket (engine/runs/rows.py) and
reads each attempt's evidence as it goes, so a pass over the run holds one bucket and one
attempt at a time; a format needing several passes (PROV's sections, in-toto's
length-then-sign, the crate's entities) reads the evidence again each time. Every stream of one RunStream reads
the same manifest: a run still going is exported as it stood when the export began.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from wfobj.engine.definitions.params import render_parameters
from wfobj.engine.model import (
    DIR,
    FILE,
    Definition,
    ImageFacts,
    TaskEvidence,
    TaskFileInput,
    read,
    row_kind,
    row_oid,
)
from wfobj.engine.runs.evidence import link_hash
from wfobj.engine.runs.rows import RunHead
from wfobj.engine.states import RUN_TERMINAL
from wfobj.objstore import ObjectStore, read_tree, walk_tree

MEMO_ATTEMPTS = 1024  # attempts kept read between passes (a small run is read once)
MEMO_IMAGES = 256  # image facts kept read (a run names a few images, each many times)


@dataclass(frozen=True)
class Within:
    """Where an input taken from inside another task's output directory lies: that
    directory's tree hash and the path inside it."""

    tree: str
    path: str


@dataclass(frozen=True)
class Content:
    """A file (a blob) or a directory (a tree) an attempt read or wrote, or a parameter's:
    its hash, size (a directory's: the total of its files), kind, and its name there (a
    path under /out, `/in/<name>`, a parameter's name; a file found inside a directory,
    `<its path>/<path inside>`, with the directory's `tree`)."""

    hash: str
    size: int
    path: str
    kind: str = FILE
    within: Within | None = None
    tree: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR


@dataclass(frozen=True)
class Attempt:
    """One task attempt, from its evidence object."""

    task: str
    number: int
    evidence_hash: str
    state: str
    image: str
    image_id: str | None
    image_facts_hash: str
    command: tuple[str, ...]
    inputs: tuple[Content, ...]
    outputs: tuple[Content, ...]
    started_at: str
    ended_at: str
    exit_code: int | None
    error: str | None
    cached_from: str | None
    child_run: str | None = None  # a sub-workflow task's child run
    # the secrets it used: (name, where it was put, fingerprint), never a value
    secrets: tuple[tuple[str, str, str], ...] = ()


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

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[dict]:
        """The task table's rows in order (those from `start` to `end`), one bucket read
        at a time."""
        rows, step = self.head.rows, 64
        end = rows.count if end is None else min(end, rows.count)
        for first in range(start, end, step):
            yield from rows.rows(first, min(first + step, end))

    def attempts(self) -> Iterator[Attempt]:
        """Every attempt, in run order (tasks in table order, each task's in order)."""
        return (attempt for _, attempt in self.attempts_at())

    def attempts_at(self) -> Iterator[tuple[int, Attempt]]:
        """(row position, attempt) of every attempt, in run order."""
        # each definition task's latest outputs so far: an input taken from inside
        # another task's output directory names it (instances are never read that way)
        outputs: dict[str, tuple[Content, ...]] = {}
        for position, row in enumerate(self.rows()):
            for link in row["attempts"]:
                attempt = self.attempt(link.oid, outputs)
                if row["name"] in self.definition.tasks:
                    outputs[row["name"]] = attempt.outputs
                yield position, attempt

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


def param_contents(store: ObjectStore, run: RunHead, values: dict) -> tuple[Content, ...]:
    """The run's `file` and `dir` parameters whose content the store holds, by name."""
    params = run.definition.params
    found: list[Content] = []
    for name in sorted(params):
        oid, kind = values.get(name), params[name].type
        if kind in (FILE, DIR) and oid and oid in store:
            size = store.size_of(oid) if kind == FILE else read_tree(store, oid).size
            found.append(Content(oid, size, name, kind))
    return tuple(found)


def attempt_of(oid: str, ev: TaskEvidence, image: ImageFacts, definition: Definition,
               upstream: dict[str, tuple[Content, ...]]) -> Attempt:
    """The export's view of the attempt whose evidence `ev` is stored under `oid`;
    `upstream` holds each earlier task's latest outputs, for inputs taken from inside
    one of its directories."""
    inputs = definition.tasks[ev.task].inputs if ev.task in definition.tasks else {}

    def within(name: str) -> Within | None:
        spec = inputs.get(name)
        if not isinstance(spec, TaskFileInput):
            return None
        for out in upstream.get(spec.task, ()):
            if out.is_dir and spec.file.startswith(out.path + "/"):
                return Within(out.hash, spec.file[len(out.path) + 1:])
        return None

    return Attempt(
        task=ev.task, number=ev.attempt, evidence_hash=oid, state=ev.state, image=ev.image,
        image_id=image.image_id, image_facts_hash=ev.image_facts.oid,
        command=tuple(ev.command),
        inputs=tuple(Content(row_oid(r), r["size"], r["path"], row_kind(r),
                             within(r.get("name", ""))) for r in ev.inputs),
        outputs=tuple(Content(row_oid(r), r["size"], r["path"], row_kind(r))
                      for r in ev.outputs),
        started_at=ev.started_at, ended_at=ev.ended_at, exit_code=ev.exit_code,
        error=ev.error, cached_from=link_hash(ev.cached_from),
        child_run=ev.child["run_id"] if ev.child else None,
        secrets=tuple((r["name"], r.get("env") or r.get("file"), r["fingerprint"])
                      for r in ev.secrets or ()))
