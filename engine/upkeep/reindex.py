"""Rebuilding every index derived from a run's objects: the run list, the task cache, the
file lineage and the counters. The one call for runs that arrive by sync and for
`wfobj reindex`."""

from __future__ import annotations

import json

from wfobj.engine.indexes import lineage
from wfobj.engine.indexes.attempts import index_attempt
from wfobj.engine.indexes.counters import READY, count_attempt
from wfobj.engine.layout import COUNTERS_NS, INDEX_NS, RUN_PREFIX
from wfobj.engine.model import TaskEvidence, read
from wfobj.engine.runs.lifecycle import index_run
from wfobj.engine.runs.state import RunState
from wfobj.objstore import ObjectStore, WriteBatch


def index_run_everywhere(store: ObjectStore, run_id: str) -> bool:
    """(Re)index one run from its ref in every derived index; False if it has no ref.
    Idempotent: indexing a run twice writes the same entries."""
    if not index_run(store, run_id):
        return False
    run = RunState.load(store, run_id)
    with store.batch() as b:
        lineage.index_parameters(store, b, run_id, run.definition.params, run.record.parameters)
        for name in run.order:
            for oid in run.tasks[name].attempts:
                ev = read(store, oid, TaskEvidence)
                index_attempt(store, b, run.record.workflow, ev, oid)
    return True


def rebuild_counters(store: ObjectStore) -> None:
    """Recount every run (from the run index) and attempt (from the evidence of every
    `runs/` ref), replacing what the counters held (engine/indexes/counters.py). O(store): for
    reindex and for a store made before the counters existed. A run step committed while
    this runs may be miscounted; `serve` and `worker` build the counters before their
    workers start, and `wfobj reindex` recounts."""
    runs: dict[str, int] = {}
    for _, raw in store.meta_scan(INDEX_NS):
        key = f"runs/{json.loads(raw)['state']}"
        runs[key] = runs.get(key, 0) + 1
    adds = WriteBatch()
    for name, _ in store.refs(RUN_PREFIX):
        run = RunState.load(store, name[len(RUN_PREFIX):], plan=False)
        for entry in run.tasks.values():
            for oid in entry.attempts:
                ev = read(store, oid, TaskEvidence)
                count_attempt(adds, ev.state, float(ev.duration_s))
    with store.batch() as b:
        for key, _ in store.meta_scan(COUNTERS_NS):
            b.meta_delete(COUNTERS_NS, key)
        for key, value in runs.items():
            b.meta_put(COUNTERS_NS, key, str(value).encode())
        b.meta.extend(adds.meta)
        b.meta_put(COUNTERS_NS, READY, b"1")


def ensure_counters(store: ObjectStore) -> None:
    """Build the counters once, for a store whose runs predate them."""
    if store.meta_get(COUNTERS_NS, READY) is None:
        rebuild_counters(store)
