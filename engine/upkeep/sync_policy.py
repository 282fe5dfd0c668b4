"""What refs mean to the engine, for sync: which exist, what each may point at, how they move.

Three namespaces exist. `data/<name>` points at a blob or a tree (an input that data
triggers watch) and moves to anything of those kinds (force needed, as for any move
that is not a fast-forward; docs/schedules-and-triggers.md). `workflows/<name>` (a valid workflow name, not a reserved one such as `by-hash`) points at a
`workflow_version` of that same name and moves fast-forward along its `previous` chain
(or by force); `runs/<run id>` points at a `run_manifest` of that run and is add-only,
never overwritten. Targets are read through their typed classes (engine/model.py), so one
with a field its type does not know or without one it requires is refused too. Any other ref is refused. objstore.sync applies these rules on both
sides of every push and pull; runs that arrive are indexed so they list like local ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from wfobj.engine.definitions.format import NAME_RE, RESERVED_NAMES
from wfobj.engine.errors import DataRefError, InvalidStoredObject
from wfobj.engine.layout import DATA_PREFIX, RUN_PREFIX
from wfobj.engine.layout import REF_PREFIX as WORKFLOW_PREFIX
from wfobj.engine.model import RunManifest, StoredObject, T, WorkflowVersion, read
from wfobj.engine.scheduling.data_triggers import KINDS, check_data_ref
from wfobj.objstore import ObjectStore, RefRefused
from wfobj.objstore.sync import RefPolicy

from .reindex import index_run_everywhere

MAX_ANCESTRY = 1_000_000


def is_run_id(value: str) -> bool:
    """A run id as the engine writes it: a UUID in lower-case canonical form."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


class EngineRefPolicy(RefPolicy):
    """The ref rules of a wfobj store (docs/sync.md)."""

    def check_name(self, name: str) -> None:
        if name.startswith(WORKFLOW_PREFIX):
            workflow = name[len(WORKFLOW_PREFIX):]
            if not NAME_RE.fullmatch(workflow):
                raise RefRefused(name, None, "not a valid workflow name (letters, digits, "
                                 "_ and -, starting with a letter or _)")
            if workflow in RESERVED_NAMES:
                raise RefRefused(name, None, f"{workflow!r} is reserved: the API's "
                                 f"/api/workflows/{workflow}/… routes take it, so no "
                                 "workflow may be named so")
        elif name.startswith(RUN_PREFIX):
            if not is_run_id(name[len(RUN_PREFIX):]):
                raise RefRefused(name, None, "not a run id (a lower-case UUID)")
        elif name.startswith(DATA_PREFIX):
            try:
                check_data_ref(name)
            except DataRefError as exc:
                raise RefRefused(name, None, exc.problem) from None
        else:
            raise RefRefused(name, None, "unknown ref namespace (only workflows/, runs/ and "
                             "data/ refs exist)")

    def check_target(self, store: ObjectStore, name: str, oid: str) -> None:
        self.check_name(name)
        if name.startswith(DATA_PREFIX):
            kind = store.type_of(oid)
            if kind not in KINDS:
                raise RefRefused(name, oid, f"points at a {kind}, not a blob or a tree")
        elif name.startswith(WORKFLOW_PREFIX):
            version = target(store, name, oid, WorkflowVersion)
            expect(name, oid, version, "name", version.name, name[len(WORKFLOW_PREFIX):])
        else:
            manifest = target(store, name, oid, RunManifest)
            expect(name, oid, manifest, "run_id", manifest.run_id, name[len(RUN_PREFIX):])

    def movable(self, name: str) -> bool:
        return name.startswith((WORKFLOW_PREFIX, DATA_PREFIX))

    def descends(self, store: ObjectStore, ancestor: str, descendant: str) -> bool:
        """True if `ancestor` is `descendant` or on its chain of `previous` versions (a
        data ref's content has no history: only the same content descends)."""
        oid: str | None = descendant
        for _ in range(MAX_ANCESTRY):
            if oid == ancestor:
                return True
            if oid is None or oid not in store or not store.is_structured(oid):
                return False
            try:
                previous = read(store, oid, WorkflowVersion).previous
            except InvalidStoredObject:
                return False
            oid = previous.oid if previous is not None else None
        return False

    def refs_updated(self, store: ObjectStore, names: list[str]) -> None:
        index_runs(store, names)


def index_runs(store: ObjectStore, ref_names: Iterable[str]) -> int:
    """Index the runs among `ref_names` (arrived by sync, or rebuilt); returns how many."""
    count = 0
    for name in ref_names:
        if name.startswith(RUN_PREFIX) and index_run_everywhere(store, name[len(RUN_PREFIX):]):
            count += 1
    return count


def target(store: ObjectStore, name: str, oid: str, cls: type[T]) -> T:
    """The object `oid` the ref `name` would point at, as a `cls`; RefRefused if it is
    another type or not a valid `cls` (unknown or missing fields)."""
    value = store.get_object(oid) if store.is_structured(oid) else None
    found = value.get("type") if isinstance(value, dict) else "blob"
    if found != cls.type_name:
        raise RefRefused(name, oid, f"points at a {found}, not a {cls.type_name}")
    try:
        return cls.from_value(oid, value)
    except InvalidStoredObject as exc:
        raise RefRefused(name, oid, f"the {cls.type_name} is not valid: {exc.problem}") from None


def expect(name: str, oid: str, obj: StoredObject, key: str, actual: str, wanted: str) -> None:
    """RefRefused unless the target's `key` (`actual`) is what the ref's name says."""
    if actual != wanted:
        raise RefRefused(name, oid,
                         f"the {obj.type_name}'s {key} is {actual!r}, not {wanted!r}")
