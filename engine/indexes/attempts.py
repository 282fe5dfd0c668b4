"""What indexes a recorded attempt: the one call the scheduler makes when it records an
attempt and reindex makes when it rebuilds a run's entries (idempotent: indexing an
attempt twice writes the same entries). Counters are apart: a count is not idempotent,
so the scheduler counts as it records and reindex recounts from scratch."""

from __future__ import annotations

from wfobj.engine.model import TaskEvidence
from wfobj.objstore import ObjectStore, WriteBatch

from . import lineage
from .cache import index_cache


def index_attempt(store: ObjectStore, b: WriteBatch, workflow: str, ev: TaskEvidence,
                  evidence_oid: str) -> None:
    """The cache and lineage entries of one attempt of a run of `workflow` (`store` is
    read for the trees the attempt names)."""
    index_cache(b, workflow, ev, evidence_oid)
    lineage.index_attempt(store, b, ev, evidence_oid)
