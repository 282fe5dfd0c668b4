"""Typed stored objects: one small class per object type the engine writes and reads back,
each declaring its `type_name` and how it becomes a structured object (`to_value`) and
back (`from_value`), all registered in TYPES (dulwich's ShaFile family is the model).

Readers get attributes, not `obj["field"]`. A stored object with a field its class does not
know, or without one it requires, fails with InvalidStoredObject naming its hash. Fields
with a default were added after the first objects of their type were written: objects
without them still read. Field layouts: docs/object-model.md.
"""

from __future__ import annotations

import functools
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Self, TypeVar

from objstore import Link, ObjectStore

from .errors import InvalidStoredObject


@dataclass(frozen=True)
class StoredObject:
    """Base of the typed objects: checking and converting the structured form."""

    type_name: ClassVar[str]
    # fields left out of the stored form while None (absent on the first of a chain)
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()
    # attribute -> stored field name, where the stored name is a Python keyword
    stored_as: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_value(cls, oid: str, value: Any) -> Self:
        """The typed object of the structured `value` stored under `oid`."""
        if not isinstance(value, dict) or value.get("type") != cls.type_name:
            found = value.get("type") if isinstance(value, dict) else type(value).__name__
            raise InvalidStoredObject(oid, cls.type_name, f"it is a {found!r}")
        layout = _layout(cls)
        keys = value.keys()
        if not keys <= layout.known:
            unknown = ", ".join(sorted(keys - layout.known))
            raise InvalidStoredObject(oid, cls.type_name, f"unknown field(s) {unknown}")
        if not layout.required <= keys:
            missing = ", ".join(sorted(layout.required - keys))
            raise InvalidStoredObject(oid, cls.type_name, f"missing field(s) {missing}")
        fields_ = {**layout.defaults, **value}
        del fields_["type"]
        for stored, attr in layout.renamed:
            fields_[attr] = fields_.pop(stored)
        # every field is checked above: fill the instance directly (readers are hot paths,
        # and a frozen dataclass's __init__ sets each field through object.__setattr__)
        obj = object.__new__(cls)
        obj.__dict__.update(fields_)
        return obj

    def to_value(self) -> dict:
        """The structured object to store."""
        value = {"type": self.type_name, **self.__dict__}  # the fields, copied at C speed
        for attr in self.omitted_when_none:
            if value[attr] is None:
                del value[attr]
        for attr, stored in self.stored_as.items():
            value[stored] = value.pop(attr)
        return value


@dataclass(frozen=True)
class ImageFacts(StoredObject):
    """What an image reference resolved to; attempts that ran the same image share it."""

    type_name: ClassVar[str] = "image"
    reference: str
    image_id: str | None
    digests: list[str]


@dataclass(frozen=True)
class TaskEvidence(StoredObject):
    """One attempt of one task, whatever its outcome."""

    type_name: ClassVar[str] = "task_evidence"
    run_id: str
    task: str
    attempt: int
    state: str
    image: str
    image_facts: Link
    command: list[str]
    env: dict[str, str]
    workdir: str
    inputs: list[dict]
    outputs: list[dict]
    vars: dict[str, str]
    exit_code: int | None
    stdout: dict
    stderr: dict
    started_at: str
    ended_at: str
    duration_s: str
    host: dict[str, str]
    error: str | None
    # added after the first evidence was written
    limits: dict | None = None
    cache_key: Link | None = None
    cached_from: Link | None = None
    cache_reason: str | None = None
    executor: dict | None = None


@dataclass(frozen=True)
class WorkflowVersion(StoredObject):
    """One registered version of a workflow; `workflows/<name>` points at the newest."""

    type_name: ClassVar[str] = "workflow_version"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"previous"})
    name: str
    version: int
    definition: Link
    registered_by: str
    registered_at: str
    previous: Link | None = None


@dataclass(frozen=True)
class RunRecord(StoredObject):
    """What a run is: written once, at trigger."""

    type_name: ClassVar[str] = "run_record"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset(
        {"cache", "resumes", "reproduces", "image_pins"})
    run_id: str
    workflow: str
    definition: Link
    engine_version: str
    triggered_by: str
    created_at: str
    parameters: dict
    # present only on runs that asked for them (docs/cache.md)
    cache: bool | None = None
    resumes: str | None = None
    reproduces: str | None = None
    image_pins: dict[str, str] | None = None


@dataclass(frozen=True)
class RunTasks(StoredObject):
    """One bucket of a run's task table: [{"name", "state", "attempts": [→ evidence]}]."""

    type_name: ClassVar[str] = "run_tasks"
    run_id: str
    first: int
    tasks: list[dict]


@dataclass(frozen=True)
class AuditEvent(StoredObject):
    """One entry of a run's hash-chained audit trail; `prev` links the one before."""

    type_name: ClassVar[str] = "audit_event"
    stored_as: ClassVar[dict[str, str]] = {"from_": "from"}
    run_id: str
    seq: int
    at: str
    actor: str
    event: str
    from_: str | None
    to: str | None
    task: str | None
    reason: str | None
    prev: Link | None


@dataclass(frozen=True)
class RunManifest(StoredObject):
    """The newest state of a run; `runs/<run_id>` points at it."""

    type_name: ClassVar[str] = "run_manifest"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"previous"})
    run_id: str
    run: Link
    state: str
    tasks: list[Link]
    workflow: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    task_count: int | None = None
    audit: Link | None = None
    audit_count: int = 0
    updated_at: str | None = None
    previous: Link | None = None



@dataclass(frozen=True)
class AttemptSpec(StoredObject):
    """One attempt to run elsewhere (`wfobj exec`): its TaskSpec and the server's default
    caps; `inputs[].blob` links the input blobs, so its closure is all a node needs."""

    type_name: ClassVar[str] = "attempt_spec"
    run_id: str
    task: str
    attempt: int
    image: str
    command: list[str]
    env: dict[str, str]
    workdir: str | None
    network: bool
    cpus: str | None  # decimal text
    memory: str | None  # docker-style size, e.g. "512m"
    timeout: str | None  # decimal text, seconds
    pids: int | None
    inputs: list[dict]  # [{"name", "blob": → blob, "size"}]
    output_files: list[str]
    output_vars: list[str]
    default_limits: dict  # {"memory", "pids", "cpus" (decimal text)}


@dataclass(frozen=True)
class AttemptReport(StoredObject):
    """What a node sends back for one `attempt_spec`: the attempt's result, linking its
    stdout, stderr and output blobs."""

    type_name: ClassVar[str] = "attempt_report"
    spec: Link
    run_id: str
    task: str
    attempt: int
    state: str
    exit_code: int | None
    stdout: dict  # {"blob": → blob, "size", "text"}
    stderr: dict
    started_at: str
    ended_at: str
    image_id: str | None
    image_digests: list[str]
    outputs: list[dict]  # [{"path", "blob": → blob, "size"}]
    vars: dict[str, str]
    host: dict[str, str]
    workdir: str | None
    error: str | None
    limits: dict | None  # the container's caps, "cpus" as decimal text


@dataclass(frozen=True)
class CacheKey(StoredObject):
    """A `task_key`: exactly what decides an attempt's result; its hash is the cache key."""

    type_name: ClassVar[str] = "task_key"
    image_id: str
    command: list[str]
    env: dict[str, str]
    workdir: str | None
    inputs: list[dict]  # [{"path": "/in/<name>", "blob": → blob}], sorted by path
    outputs: dict  # {"files": [...], "vars": [...]}
    network: bool


@dataclass(frozen=True)
class _Layout:
    known: frozenset[str]  # stored field names, "type" included
    required: frozenset[str]
    defaults: dict[str, Any]  # by stored name, for fields older objects may lack
    renamed: tuple[tuple[str, str], ...]  # (stored name, attribute)


@functools.cache
def _layout(cls: type[StoredObject]) -> _Layout:
    """How a typed class's fields are stored."""
    own = fields(cls)
    stored = {f.name: cls.stored_as.get(f.name, f.name) for f in own}
    return _Layout(
        known=frozenset(stored.values()) | {"type"},
        required=frozenset(stored[f.name] for f in own
                           if f.default is MISSING and f.default_factory is MISSING),
        defaults={stored[f.name]: f.default for f in own if f.default is not MISSING},
        renamed=tuple((s, a) for a, s in stored.items() if s != a))


TYPES: tuple[type[StoredObject], ...] = (WorkflowVersion, ImageFacts, TaskEvidence, RunRecord,
                                         RunTasks, AuditEvent, RunManifest, AttemptSpec,
                                         AttemptReport, CacheKey)
BY_NAME: dict[str, type[StoredObject]] = {cls.type_name: cls for cls in TYPES}


T = TypeVar("T", bound=StoredObject)


def read(store: ObjectStore, oid: str, cls: type[T]) -> T:
    """The object `oid` as a `cls`, read through the store's verifying read path."""
    return cls.from_value(oid, store.get_object(oid))
