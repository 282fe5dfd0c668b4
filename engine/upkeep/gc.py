"""gc of a wfobj store: the object store's collector with the engine's extra roots.

Two kinds of objects are needed without any link reaching them: what work in progress
holds (a pending or running run, an attempt out on a cluster, a report not yet recorded),
and files named by hash rather than linked (`file` parameters of runs, which resume and
reproduce read again, and `file` defaults of registered definitions; `dir` parameters and defaults likewise
name their trees, which keep every file in them)."""

from __future__ import annotations

import contextlib
import json

from wfobj.engine.definitions.registry import stored_defaults, versions
from wfobj.engine.layout import (
    ATTEMPT_TOKENS_NS,
    JOBS_NS,
    PARAM_NS,
    REF_PREFIX,
    REPORTS_NS,
    SCHEDULES_NS,
    TRIGGERS_NS,
)
from wfobj.engine.model import Definition, read
from wfobj.engine.runs.lifecycle import scan_index
from wfobj.engine.runs.state import run_ref
from wfobj.engine.states import RUN_LIVE
from wfobj.objstore import ObjectStore, RefNotFound
from wfobj.objstore.gc import DEFAULT_GRACE, GcReport, collect


def in_progress_roots(store: ObjectStore) -> list[str]:
    """What work in progress needs: the manifests of pending and running runs, the
    attempt specs of attempts run elsewhere (live token, or cluster job in flight), and
    attempt reports not yet recorded."""
    roots: list[str] = []
    for state in sorted(RUN_LIVE):
        for run_id, _ in scan_index(store, state, None):
            with contextlib.suppress(RefNotFound):
                roots.append(store.get_ref(run_ref(run_id)))
    for ns in (ATTEMPT_TOKENS_NS, JOBS_NS):  # a live attempt token, a cluster job in flight
        roots.extend(json.loads(raw)["spec"] for _, raw in store.meta_scan(ns))
    for spec, raw in store.meta_scan(REPORTS_NS):
        roots.extend((spec, raw.decode()))
    return [oid for oid in roots if oid in store]


def schedule_roots(store: ObjectStore) -> list[str]:
    """The newest version of every schedule (it links its chain, the audit trail, a
    pinned definition and the files and trees its parameters name), and the files and
    trees data-trigger subscriptions pass to their runs' other params."""
    roots = [raw.decode() for _, raw in store.meta_scan(SCHEDULES_NS)]
    roots += [oid for _, raw in store.meta_scan(TRIGGERS_NS)
              for oid in json.loads(raw).get("keeps", [])]
    return [oid for oid in roots if oid in store]


def file_roots(store: ObjectStore) -> set[str]:
    """Files and trees named by hash, not linked: every run's `file` and `dir` parameters
    (from the lineage index written with the run) and the `file` and `dir` defaults of
    every registered version. A
    `workflows/` ref whose chain holds something else stops gc (InvalidStoredObject):
    what it roots cannot be known, so nothing is removed."""
    files = {key.split("/", 1)[0] for key, _ in store.meta_scan(PARAM_NS)}
    for _, head in store.refs(REF_PREFIX):
        for version in versions(store, head):
            files.update(stored_defaults(read(store, version.definition.oid, Definition)))
    return files


def collect_garbage(store: ObjectStore, *, grace: float = DEFAULT_GRACE,
                    dry_run: bool = False, now: float | None = None) -> GcReport:
    """Remove (or with dry_run only list) what no ref, no work in progress and no object
    younger than `grace` seconds reaches; GcRefused if it cannot be done safely."""
    roots = (in_progress_roots(store) + schedule_roots(store)
             + sorted(f for f in file_roots(store) if f in store))
    return collect(store, grace=grace, roots=roots, dry_run=dry_run, now=now)
