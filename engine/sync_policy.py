"""What refs mean to the engine, for sync: which exist, what each may point at, how they move.

Two namespaces exist. `workflows/<name>` (a valid workflow name) points at a
`workflow_version` of that same name and moves fast-forward along its `previous` chain
(or by force); `runs/<run id>` points at a `run_manifest` of that run and is add-only,
never overwritten. Any other ref is refused. objstore.sync applies these rules on both
sides of every push and pull; runs that arrive are indexed so they list like local ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from objstore import Link, ObjectStore, RefRefused
from objstore.sync import RefPolicy

from .definition import NAME_RE
from .reindex import index_run_everywhere
from .runstate import RUN_PREFIX
from .workflows import REF_PREFIX as WORKFLOW_PREFIX

WORKFLOW_TYPE = "workflow_version"
MANIFEST_TYPE = "run_manifest"
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
            if not NAME_RE.fullmatch(name[len(WORKFLOW_PREFIX):]):
                raise RefRefused(name, None, "not a valid workflow name (letters, digits, "
                                 "_ and -, starting with a letter or _)")
        elif name.startswith(RUN_PREFIX):
            if not is_run_id(name[len(RUN_PREFIX):]):
                raise RefRefused(name, None, "not a run id (a lower-case UUID)")
        else:
            raise RefRefused(name, None, "unknown ref namespace (only workflows/ and runs/ "
                             "refs exist)")

    def check_target(self, store: ObjectStore, name: str, oid: str) -> None:
        self.check_name(name)
        if name.startswith(WORKFLOW_PREFIX):
            self._expect(store, name, oid, WORKFLOW_TYPE, "name", name[len(WORKFLOW_PREFIX):])
        else:
            self._expect(store, name, oid, MANIFEST_TYPE, "run_id", name[len(RUN_PREFIX):])

    def _expect(self, store: ObjectStore, name: str, oid: str, kind: str, key: str,
                value: str) -> None:
        """RefRefused unless `oid` is a `kind` object whose `key` is `value`."""
        found = store.type_of(oid)
        if found != kind:
            raise RefRefused(name, oid, f"points at a {found}, not a {kind}")
        actual = store.get_object(oid).get(key)
        if actual != value:
            raise RefRefused(name, oid, f"the {kind}'s {key} is {actual!r}, not {value!r}")

    def movable(self, name: str) -> bool:
        return name.startswith(WORKFLOW_PREFIX)

    def descends(self, store: ObjectStore, ancestor: str, descendant: str) -> bool:
        """True if `ancestor` is `descendant` or on its chain of `previous` versions."""
        oid: str | None = descendant
        for _ in range(MAX_ANCESTRY):
            if oid == ancestor:
                return True
            if oid is None or oid not in store or not store.is_structured(oid):
                return False
            prev = store.get_object(oid).get("previous")
            oid = prev.oid if isinstance(prev, Link) else None
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
