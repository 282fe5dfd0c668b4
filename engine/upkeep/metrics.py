"""What `GET /metrics` tells a Prometheus scraper, in its text exposition format (0.0.4).

Everything comes from counters kept in the same transactions as the run steps
(engine/indexes/counters.py) and from the store's own statistics, so a scrape costs a few dozen
key reads whatever the number of runs or objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from wfobj.engine.indexes.counters import ATTEMPT_STATES, DURATION_BUCKETS, READY, bucket_key
from wfobj.engine.layout import COUNTERS_NS
from wfobj.engine.states import RunStatus
from wfobj.objstore import ObjectStore

from .reindex import ensure_counters

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metrics:
    """One scrape's numbers. `duration_buckets` are cumulative: (upper bound, count)."""

    runs: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    duration_buckets: list[tuple[float, int]] = field(default_factory=list)
    duration_sum: float = 0.0
    duration_count: int = 0
    store_objects: int = 0
    store_bytes: int = 0


def gather(store: ObjectStore) -> Metrics:
    """Read the counters (built first for a store whose runs predate them) and the
    store's size."""
    ensure_counters(store)
    raw = {key: int(value) for key, value in store.meta_scan(COUNTERS_NS) if key != READY}
    stats = store.stats()
    attempt_states = dict.fromkeys(ATTEMPT_STATES, 0) | {
        key.split("/", 1)[1]: n for key, n in raw.items() if key.startswith("attempts/")}
    out = Metrics(runs={s: raw.get(f"runs/{s}", 0) for s in RunStatus},
                  attempts=attempt_states,
                  duration_sum=raw.get("duration/sum_us", 0) / 1_000_000,
                  duration_count=raw.get("duration/count", 0),
                  store_objects=stats["objects"], store_bytes=stats["bytes"])
    total = 0
    for bound in DURATION_BUCKETS:
        total += raw.get(bucket_key(bound), 0)
        out.duration_buckets.append((bound, total))
    return out


def exposition(m: Metrics) -> str:
    """The Prometheus text format of `m`."""
    return "".join(f"{line}\n" for line in _lines(m))


def _family(name: str, kind: str, help_text: str) -> Iterator[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} {kind}"


def _lines(m: Metrics) -> Iterator[str]:
    yield from _family("wfobj_runs", "gauge", "Runs in each state.")
    yield from (f'wfobj_runs{{state="{s}"}} {n}' for s, n in m.runs.items())
    yield from _family("wfobj_runs_queued", "gauge", "Runs waiting for a worker (pending).")
    yield f"wfobj_runs_queued {m.runs.get(RunStatus.PENDING, 0)}"
    yield from _family("wfobj_task_attempts_total", "counter",
                       "Task attempts that ended, by their state (cache hits included).")
    yield from (f'wfobj_task_attempts_total{{state="{s}"}} {n}' for s, n in m.attempts.items())
    name = "wfobj_task_attempt_duration_seconds"
    yield from _family(name, "histogram", "How long task attempts took, start to end.")
    yield from (f'{name}_bucket{{le="{bound!r}"}} {n}' for bound, n in m.duration_buckets)
    yield f'{name}_bucket{{le="+Inf"}} {m.duration_count}'
    yield f"{name}_sum {m.duration_sum!r}"
    yield f"{name}_count {m.duration_count}"
    yield from _family("wfobj_store_objects", "gauge", "Objects in the store.")
    yield f"wfobj_store_objects {m.store_objects}"
    yield from _family("wfobj_store_bytes", "gauge", "Bytes of storage the store uses.")
    yield f"wfobj_store_bytes {m.store_bytes}"
