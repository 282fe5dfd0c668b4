"""Rebuilding every index derived from a run's objects: the run list, the task cache and
the file lineage. The one call for runs that arrive by sync and for `wfobj reindex`."""

from __future__ import annotations

from objstore import ObjectStore

from . import cache, lineage
from .model import TaskEvidence, read
from .runs import index_run
from .runstate import RunState


def index_run_everywhere(store: ObjectStore, run_id: str) -> bool:
    """(Re)index one run from its ref in every derived index; False if it has no ref.
    Idempotent: indexing a run twice writes the same entries."""
    if not index_run(store, run_id):
        return False
    run = RunState.load(store, run_id)
    with store.batch() as b:
        lineage.index_parameters(b, run_id, run.definition["params"], run.record.parameters)
        for name in run.order:
            for oid in run.tasks[name].attempts:
                ev = read(store, oid, TaskEvidence)
                cache.index_attempt(b, run.record.workflow, ev, oid)
                lineage.index_attempt(b, ev, oid)
    return True
