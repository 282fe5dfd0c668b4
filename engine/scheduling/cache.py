"""Task cache keys and lookups (docs/cache.md); explanations are provenance/explain.py.

A task key is a structured `task_key` object holding exactly what decides an attempt's
result: the image id (never the tag), the rendered command, env and workdir, every input as
(mount path, blob or tree), the declared outputs and `network`. Its hash is the attempt's
cache key.

Its indexes are engine/indexes/cache.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from wfobj.engine.definitions.templates import references
from wfobj.engine.executors.base import (
    AttemptResult,
    Executor,
    OutputFile,
    StoredText,
    TaskSpec,
    secret_records,
)
from wfobj.engine.layout import CACHE_NS
from wfobj.engine.model import (
    CacheKey,
    ImageFacts,
    RunRecord,
    TaskDefinition,
    TaskEvidence,
    content_link,
    read,
    row_kind,
    row_oid,
)
from wfobj.engine.states import AttemptStatus
from wfobj.objstore import ObjectStore, WriteBatch


@dataclass(frozen=True)
class CachePolicy:
    """How one run uses the cache: `enabled` (trigger `cache`), image pins (reproduce)."""

    enabled: bool = True
    pins: dict[str, str] | None = None  # task -> image id to run instead of the tag
    pinned_from: str | None = None  # the run the pins come from

    @classmethod
    def of_record(cls, record: RunRecord) -> CachePolicy:
        return cls(enabled=record.cache if record.cache is not None else True,
                   pins=record.image_pins, pinned_from=record.reproduces)


@dataclass(frozen=True)
class TaskKey:
    """The stored key object and its hash."""

    oid: str
    cacheable: bool  # false: looked up never (opted out, {{run.id}}, network)
    reason: str | None  # why not cacheable
    declared: tuple[str, ...] = ()  # the output paths the task declares


def uses_run_id(task: TaskDefinition) -> bool:
    return any(parts[0] == "run" for _, parts in references(task))


def opt_out_reason(task: TaskDefinition, policy: CachePolicy) -> str | None:
    """Why this task is never looked up in the cache, or None. docs/cache.md says why each
    rule exists."""
    if not policy.enabled:
        return "the run was triggered with the cache off"
    if uses_run_id(task):
        return "its command or env uses {{run.id}}"
    if task.cache is False:
        return "the task sets cache: false"
    if task.network and task.cache is not True:
        return "it uses the network (set cache: true to allow reuse)"
    return None


def key_object(spec: TaskSpec, image_id: str) -> CacheKey:
    """The `task_key` of an attempt (docs/object-model.md). An input is its mount path
    and its content: {"blob": →} for a file (as before trees, so those keys never
    changed), {"tree": →} for a directory, whose hash stands for every file in it."""
    return CacheKey(
        image_id=image_id, command=list(spec.command), env=dict(spec.env),
        workdir=spec.workdir,
        inputs=[{"path": f"/in/{f.name}", **content_link(f.kind, f.oid)}
                for f in sorted(spec.inputs, key=lambda f: f.name)],
        outputs={"files": list(spec.output_files), "vars": list(spec.output_vars)},
        network=spec.network, secrets=secret_records(spec.secrets))


class TaskCache:
    """What the scheduler asks about one run: pin images, make keys, find hits."""

    def __init__(self, store: ObjectStore, executor: Executor, record: RunRecord) -> None:
        self.store = store
        self.executor = executor
        self.record = record
        self.policy = CachePolicy.of_record(record)
        self._image_ids: dict[str, str | None] = {}

    def pin(self, spec: TaskSpec) -> tuple[TaskSpec, str | None]:
        """The spec with its image pinned (reproduce), and why it cannot run (the pinned
        image id is gone) or None. Never pulls: a pinned id must be present."""
        pin = (self.policy.pins or {}).get(spec.task)
        if pin is None:
            return spec, None
        if self.image_id(pin) is None:
            return spec, (f"image id {pin} (recorded for {spec.task!r} in run "
                          f"{self.policy.pinned_from}) is no longer present; reproduce does "
                          "not pull")
        return replace(spec, image=pin), None

    def image_id(self, image: str) -> str | None:
        """The image id `image` resolves to now, asked once per run (None: unknown)."""
        if image not in self._image_ids:
            self._image_ids[image] = self.executor.image_id(image)
        return self._image_ids[image]

    def key(self, b: WriteBatch, spec: TaskSpec, task: TaskDefinition) -> TaskKey | None:
        """Store the attempt's key object in `b`; None when the image cannot be resolved
        (the attempt will fail on it)."""
        image_id = self.image_id(spec.image)
        if image_id is None:
            return None
        reason = opt_out_reason(task, self.policy)
        return TaskKey(b.put_object(key_object(spec, image_id).to_value()), reason is None,
                       reason, tuple(spec.output_files))

    def lookup(self, key: TaskKey) -> str | None:
        """The evidence hash of a reusable attempt for `key`, or None."""
        if not key.cacheable:
            return None
        return find_hit(self.store, key.oid, key.declared)

    def hit_result(self, evidence_oid: str, started_at: datetime, ended_at: datetime) -> AttemptResult:
        return result_from_evidence(self.store, evidence_oid, started_at, ended_at)


def find_hit(store: ObjectStore, key_oid: str, declared: tuple[str, ...] = ()) -> str | None:
    """A successful attempt with this key whose evidence and outputs are all here (a
    tree present brings all its files: the closure rule), in today's output shape."""
    raw = store.meta_get(CACHE_NS, key_oid)
    if raw is None:
        return None
    oid = raw.decode()
    if oid not in store:
        return None
    ev = read(store, oid, TaskEvidence)
    if ev.state != AttemptStatus.SUCCESS or any(row_oid(o) not in store for o in ev.outputs):
        return None
    return oid if same_shape(ev, declared) else None


def same_shape(ev: TaskEvidence, declared: tuple[str, ...]) -> bool:
    """Whether evidence's outputs are one per declared path, as recorded today. Evidence
    from before trees (outputs without `kind`) listed a declared directory's files one by
    one; reusing it would give downstream tasks files where they expect the directory."""
    if all("kind" in o for o in ev.outputs):
        return True
    return sorted({o["path"] for o in ev.outputs}) == sorted(set(declared))


def result_from_evidence(store: ObjectStore, oid: str, started_at: datetime,
                         ended_at: datetime) -> AttemptResult:
    """The AttemptResult a cache hit records: the earlier attempt's results, new times."""
    ev = read(store, oid, TaskEvidence)
    image = read(store, ev.image_facts.oid, ImageFacts)

    def text(s: dict) -> StoredText:
        return StoredText(s["blob"].oid, s["size"], s["text"])

    return AttemptResult(
        state=AttemptStatus.SUCCESS, exit_code=ev.exit_code, stdout=text(ev.stdout),
        stderr=text(ev.stderr), started_at=started_at, ended_at=ended_at,
        image_id=image.image_id, image_digests=list(image.digests),
        outputs=[OutputFile(o["path"], row_oid(o), o["size"], row_kind(o)) for o in ev.outputs],
        vars=dict(ev.vars), host=dict(ev.host), workdir=ev.workdir, limits=None)


# ---- indexes --------------------------------------------------------------------------


