"""Operational counters: runs by state, finished task attempts by state, and a histogram
of attempt durations, kept in the store's `counters` meta namespace.

Each is changed by `WriteBatch.meta_add` in the same batch as the step it counts (a run's
index entry moving state, an attempt's evidence being recorded), so the counters are
exactly as committed as the runs, and reading them all costs one scan of a few dozen
keys, whatever the size of the store (engine/upkeep/metrics.py reads them). reindex.py
recounts everything from the run index and the evidence (`wfobj reindex`, or once for a
store made before the counters existed).
"""

from __future__ import annotations

from wfobj.engine.layout import COUNTERS_NS
from wfobj.engine.states import AttemptStatus
from wfobj.objstore import WriteBatch

ATTEMPT_STATES = tuple(AttemptStatus)
# upper bounds (seconds) of the duration histogram's buckets; +Inf is implied
DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 10800.0)
READY = "ready"  # set once the counters hold every run and attempt of the store


# ---- counting, in the step's own batch -------------------------------------------------
def count_run_state(b: WriteBatch, old: str | None, new: str) -> None:
    """A run's state moved from `old` (None: a run new to this store) to `new`."""
    if old == new:
        return
    if old is not None:
        b.meta_add(COUNTERS_NS, f"runs/{old}", -1)
    b.meta_add(COUNTERS_NS, f"runs/{new}", 1)


def count_attempt(b: WriteBatch, state: str, duration_s: float) -> None:
    """One attempt ended in `state` after `duration_s` seconds."""
    b.meta_add(COUNTERS_NS, f"attempts/{state}", 1)
    b.meta_add(COUNTERS_NS, _bucket(duration_s), 1)
    b.meta_add(COUNTERS_NS, "duration/count", 1)
    b.meta_add(COUNTERS_NS, "duration/sum_us", round(max(duration_s, 0.0) * 1_000_000))


def bucket_key(bound: float | None) -> str:
    """The counter of one histogram bucket (None: above the last bound)."""
    return f"duration/le/{'+Inf' if bound is None else repr(bound)}"


def _bucket(duration_s: float) -> str:
    return bucket_key(next((b for b in DURATION_BUCKETS if duration_s <= b), None))
