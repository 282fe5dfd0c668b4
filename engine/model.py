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
        attrs, required = _layout(cls)
        unknown = sorted(set(value) - set(attrs) - {"type"})
        if unknown:
            raise InvalidStoredObject(oid, cls.type_name, "unknown field(s) " + ", ".join(unknown))
        missing = sorted(required - set(value))
        if missing:
            raise InvalidStoredObject(oid, cls.type_name, "missing field(s) " + ", ".join(missing))
        return cls(**{attrs[k]: v for k, v in value.items() if k != "type"})

    def to_value(self) -> dict:
        """The structured object to store."""
        value = {"type": self.type_name}
        for attr, stored, omissible in _stored_fields(type(self)):
            item = getattr(self, attr)
            if item is not None or not omissible:
                value[stored] = item
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


@functools.cache
def _layout(cls: type[StoredObject]) -> tuple[dict[str, str], frozenset[str]]:
    """({stored field name: attribute}, the required stored names) of a typed class."""
    own = fields(cls)
    attrs = {cls.stored_as.get(f.name, f.name): f.name for f in own}
    required = frozenset(cls.stored_as.get(f.name, f.name) for f in own
                         if f.default is MISSING and f.default_factory is MISSING)
    return attrs, required


@functools.cache
def _stored_fields(cls: type[StoredObject]) -> tuple[tuple[str, str, bool], ...]:
    """(attribute, stored field name, left out while None) of each field of a class."""
    return tuple((f.name, cls.stored_as.get(f.name, f.name), f.name in cls.omitted_when_none)
                 for f in fields(cls))


TYPES: tuple[type[StoredObject], ...] = (WorkflowVersion, ImageFacts, TaskEvidence, RunRecord,
                                         RunTasks, AuditEvent, RunManifest)
BY_NAME: dict[str, type[StoredObject]] = {cls.type_name: cls for cls in TYPES}


T = TypeVar("T", bound=StoredObject)


def read(store: ObjectStore, oid: str, cls: type[T]) -> T:
    """The object `oid` as a `cls`, read through the store's verifying read path."""
    return cls.from_value(oid, store.get_object(oid))
