"""A run as every export sees it: record, definition and each task attempt, read through
the store's verified read path (engine/provenance/views.py, engine/runs/evidence.py).

Typed and JSON-free, so each format module only maps these fields to its vocabulary.
A directory (a tree: a `dir` parameter, input or output) is one `Content` of kind `dir`;
a format that needs its files asks `files_in`, which walks each tree once per export
(one tree object read per directory below it), so a format that names only the tree
(OpenLineage) never reads below it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from wfobj.engine.model import (
    DIR,
    FILE,
    Definition,
    ImageFacts,
    TaskEvidence,
    TaskFileInput,
    row_kind,
    row_oid,
)
from wfobj.engine.provenance.views import run_view
from wfobj.engine.runs.evidence import link_hash, read_evidence
from wfobj.engine.runs.state import RunState
from wfobj.engine.states import RUN_TERMINAL
from wfobj.objstore import ObjectStore, read_tree, walk_tree


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


class TreeFiles:
    """The files below each tree, (path inside, blob hash, size) in walk order; each tree
    walked once, on first ask."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.walked: dict[str, list[tuple[str, str, int]]] = {}

    def __call__(self, oid: str) -> list[tuple[str, str, int]]:
        if oid not in self.walked:
            self.walked[oid] = [(path, e.oid, e.size) for path, e in walk_tree(self.store, oid)
                                if e.kind != DIR]
        return self.walked[oid]


@dataclass(frozen=True)
class RunExport:
    """What an export is made of: the run view, its definition and every attempt in run
    order (tasks topologically, attempts in order)."""

    run_id: str
    workflow: str
    state: str
    definition_hash: str
    definition: Definition
    parameters: dict
    param_contents: tuple[Content, ...]  # `file` and `dir` parameters, by name
    triggered_by: str
    engine_version: str
    created_at: str
    started_at: str | None
    ended_at: str | None
    manifest_hash: str | None
    cache: bool
    attempts: tuple[Attempt, ...]
    task_order: tuple[str, ...]
    tree_files: TreeFiles = field(compare=False, repr=False)
    parent: dict | None = None  # a child run's {"run_id", "task"}

    @property
    def terminal(self) -> bool:
        return self.state in RUN_TERMINAL

    def last_attempts(self) -> list[Attempt]:
        """The last attempt of each task that has one: what the run's files come from."""
        last = {a.task: a for a in self.attempts}
        return [last[name] for name in self.task_order if name in last]

    def outputs(self) -> list[tuple[Attempt, Content]]:
        """Every output the run produced (of each task's last attempt), a directory as one."""
        return [(a, c) for a in self.last_attempts() for c in a.outputs]

    def files_in(self, content: Content) -> list[Content]:
        """A file itself; a directory's files, each named `<its path>/<path inside>`."""
        if not content.is_dir:
            return [content]
        return [Content(oid, size, f"{content.path}/{inner}", tree=content.hash)
                for inner, oid, size in self.tree_files(content.hash)]

    def contents(self) -> list[Content]:
        """Every parameter, input and output content, in that order, repeats included."""
        return [*self.param_contents,
                *(c for a in self.attempts for c in a.inputs + a.outputs)]

    def files(self) -> dict[str, Content]:
        """Every distinct file the run touched by hash, those inside its directories too."""
        found: dict[str, Content] = {}
        for c in self.contents():
            for f in self.files_in(c):
                found.setdefault(f.hash, f)
        return found

    def trees(self) -> dict[str, Content]:
        """Every distinct directory the run touched (parameters, inputs, outputs) by hash."""
        found: dict[str, Content] = {}
        for c in self.contents():
            if c.is_dir:
                found.setdefault(c.hash, c)
        return found


def load_run_export(store: ObjectStore, run: RunState) -> RunExport:
    """The run and all its attempts, every object read verified by the store."""
    view = run_view(run)
    outputs: dict[str, tuple[Content, ...]] = {}  # task -> its latest attempt's, so far
    attempts = []
    for name in run.order:
        for oid in run.tasks[name].attempts:
            attempt = attempt_of(oid, *read_evidence(store, oid), run.definition, outputs)
            outputs[name] = attempt.outputs
            attempts.append(attempt)
    return RunExport(
        run_id=run.run_id, workflow=view["workflow"], state=view["state"],
        definition_hash=view["definition_hash"],
        definition=run.definition, parameters=view["parameters"],
        param_contents=param_contents(store, run, view["parameters"]),
        triggered_by=view["triggered_by"], engine_version=view["engine_version"],
        created_at=view["created_at"], started_at=view["started_at"],
        ended_at=view["ended_at"], manifest_hash=view["manifest_hash"], cache=view["cache"],
        attempts=tuple(attempts), task_order=tuple(run.order), tree_files=TreeFiles(store),
        parent=run.record.parent)


def param_contents(store: ObjectStore, run: RunState, values: dict) -> tuple[Content, ...]:
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


def sha256_of_blob(store: ObjectStore, oid: str) -> str:
    """SHA-256 of a blob's bytes, read (and BLAKE3-verified) piece by piece."""
    return sha256_of(store.iter_blob(oid))


def sha256_of(pieces: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    return digest.hexdigest()
