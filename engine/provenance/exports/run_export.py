"""A run as every export sees it: record, definition and each task attempt, read through
the store's verified read path (engine/provenance/views.py, engine/runs/evidence.py).

Typed and JSON-free, so each format module only maps these fields to its vocabulary.
A directory (a tree: a `dir` parameter, input or output) is seen as the files in it, each
named by its path below the directory; exports do not describe the tree itself yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from wfobj.engine.model import DIR, Definition, ImageFacts, TaskEvidence, row_kind, row_oid
from wfobj.engine.provenance.views import run_view
from wfobj.engine.runs.evidence import link_hash, read_evidence
from wfobj.engine.runs.state import RunState
from wfobj.engine.states import RUN_TERMINAL
from wfobj.objstore import ObjectStore, walk_tree


@dataclass(frozen=True)
class FileRef:
    """A file an attempt read or wrote: its blob hash (BLAKE3), size and name there."""

    hash: str
    size: int
    path: str


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
    inputs: tuple[FileRef, ...]
    outputs: tuple[FileRef, ...]
    started_at: str
    ended_at: str
    exit_code: int | None
    error: str | None
    cached_from: str | None


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
    param_files: tuple[FileRef, ...]
    triggered_by: str
    engine_version: str
    created_at: str
    started_at: str | None
    ended_at: str | None
    manifest_hash: str | None
    cache: bool
    attempts: tuple[Attempt, ...]
    task_order: tuple[str, ...]

    @property
    def terminal(self) -> bool:
        return self.state in RUN_TERMINAL

    def last_attempts(self) -> list[Attempt]:
        """The last attempt of each task that has one: what the run's files come from."""
        last = {a.task: a for a in self.attempts}
        return [last[name] for name in self.task_order if name in last]

    def outputs(self) -> list[tuple[Attempt, FileRef]]:
        """Every file the run produced (outputs of each task's last attempt)."""
        return [(a, f) for a in self.last_attempts() for f in a.outputs]

    def files(self) -> dict[str, FileRef]:
        """Every distinct file the run touched (parameters, inputs, outputs) by hash."""
        found: dict[str, FileRef] = {f.hash: f for f in self.param_files}
        for a in self.attempts:
            for f in a.inputs + a.outputs:
                found.setdefault(f.hash, f)
        return found


def load_run_export(store: ObjectStore, run: RunState) -> RunExport:
    """The run and all its attempts, every object read verified by the store."""
    view = run_view(run)
    attempts = tuple(attempt_of(store, oid, *read_evidence(store, oid))
                     for name in run.order for oid in run.tasks[name].attempts)
    return RunExport(
        run_id=run.run_id, workflow=view["workflow"], state=view["state"],
        definition_hash=view["definition_hash"],
        definition=run.definition,
        parameters=view["parameters"], param_files=param_files(store, run, view["parameters"]),
        triggered_by=view["triggered_by"], engine_version=view["engine_version"],
        created_at=view["created_at"], started_at=view["started_at"],
        ended_at=view["ended_at"], manifest_hash=view["manifest_hash"], cache=view["cache"],
        attempts=attempts, task_order=tuple(run.order))


def param_files(store: ObjectStore, run: RunState, values: dict) -> tuple[FileRef, ...]:
    params = run.definition.params
    found: list[FileRef] = []
    for name in sorted(params):
        oid = values.get(name)
        if params[name].type == "file" and oid and oid in store:
            found.append(FileRef(oid, store.size_of(oid), name))
        elif params[name].type == DIR and oid and oid in store:
            found.extend(tree_files(store, oid, name))
    return tuple(found)


def tree_files(store: ObjectStore, oid: str, path: str) -> list[FileRef]:
    """The files of the tree `oid`, named `<path>/<path inside it>`."""
    return [FileRef(e.oid, e.size, f"{path}/{inner}")
            for inner, e in walk_tree(store, oid) if e.kind != DIR]


def attempt_of(store: ObjectStore, oid: str, ev: TaskEvidence, image: ImageFacts) -> Attempt:
    """The export's view of the attempt whose evidence `ev` is stored under `oid`."""
    def refs(rows: list[dict]) -> tuple[FileRef, ...]:  # evidence's inputs and outputs
        found: list[FileRef] = []
        for r in rows:
            if row_kind(r) == DIR:
                found.extend(tree_files(store, row_oid(r), r["path"]))
            else:
                found.append(FileRef(row_oid(r), r["size"], r["path"]))
        return tuple(found)

    return Attempt(
        task=ev.task, number=ev.attempt, evidence_hash=oid, state=ev.state, image=ev.image,
        image_id=image.image_id, image_facts_hash=ev.image_facts.oid,
        command=tuple(ev.command), inputs=refs(ev.inputs), outputs=refs(ev.outputs),
        started_at=ev.started_at, ended_at=ev.ended_at, exit_code=ev.exit_code,
        error=ev.error, cached_from=link_hash(ev.cached_from))


def sha256_of_blob(store: ObjectStore, oid: str) -> str:
    """SHA-256 of a blob's bytes, read (and BLAKE3-verified) piece by piece."""
    return sha256_of(store.iter_blob(oid))


def sha256_of(pieces: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    return digest.hexdigest()
