"""The task cache's two meta indexes (docs/cache.md), written in the same transaction as
the step that records an attempt and rebuilt from the runs by upkeep/reindex.py:

  cache        <key>                          -> evidence hash of a successful attempt that ran
  cache-task   <workflow>/<task>/<run_id>     -> {"key", "evidence"} of the run's last keyed attempt

The first answers "is there a hit" in one read; the second finds the nearest earlier
attempt of the same task for an explanation, in one reverse seek.
"""

from __future__ import annotations

import json

from wfobj.engine.layout import CACHE_NS, TASK_NS
from wfobj.engine.model import TaskEvidence
from wfobj.engine.states import AttemptStatus
from wfobj.objstore import ObjectStore, WriteBatch


def task_index_key(workflow: str, task: str, run_id: str) -> str:
    return f"{workflow}/{task}/{run_id}"


def index_cache(b: WriteBatch, workflow: str, ev: TaskEvidence, evidence_oid: str) -> None:
    """Index one recorded attempt: its key for explanations and, when it ran and
    succeeded, as a hit for that key."""
    link = ev.cache_key
    if link is None:
        return
    value = json.dumps({"key": link.oid, "evidence": evidence_oid}).encode()
    b.meta_put(TASK_NS, task_index_key(workflow, ev.task, ev.run_id), value)
    if ev.state == AttemptStatus.SUCCESS and ev.cached_from is None:
        b.meta_put(CACHE_NS, link.oid, evidence_oid.encode())


def nearest(store: ObjectStore, workflow: str, task: str, run_id: str) -> dict | None:
    """The latest keyed attempt of `task` in a run of `workflow` older than `run_id`."""
    prefix = task_index_key(workflow, task, "")
    for key, raw in store.meta_scan(TASK_NS, prefix, start_after=prefix + run_id,
                                    reverse=True, limit=1):
        return {"run_id": key[len(prefix):], **json.loads(raw)}
    return None
