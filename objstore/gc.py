"""gc: remove objects that nothing reaches and that nobody has written or needed lately.

Mark: every object reachable from a ref, from the caller's extra roots (work in progress
that no ref names yet) or from a *young* object (stored-at time within the grace period:
an upload waiting for its trigger, an attempt's outputs before their evidence) is kept;
chunked blobs keep their chunklist and chunks. Sweep: in ONE write transaction, each
candidate's stored-at time is read again; a candidate a write touched since the mark
(re-stored, linked by a new object, named by a ref) is kept with everything it reaches
among the candidates, and the rest is deleted. A write that needs an object stamps it in
its own transaction, so gc either sees that stamp or runs before the write, which then
finds the object missing and fails whole (MissingLinks): no dangling link either way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .errors import GcRefused, ObjectStoreError
from .ids import ObjectId
from .store import ObjectStore
from .walk import reachable

# Longer than any process trusts its own memory that an object is present (lmdbenv's
# KnownPresent.MAX_AGE, 5 minutes), so no write can rely on an object gc removes.
MIN_GRACE = 600.0
DEFAULT_GRACE = 3600.0


@dataclass
class GcReport:
    """What gc found and removed (or, with dry_run, would remove)."""

    dry_run: bool
    grace: float
    objects: int = 0  # every object in the store when gc looked
    reachable: int = 0  # kept: reached from a ref, an extra root or a young object
    young: int = 0  # stored or needed within the grace period
    removed: list[ObjectId] = field(default_factory=list)
    freed_bytes: int = 0
    stamped: int = 0  # unreachable objects with no stored-at time, given one now (kept)

    def to_json(self) -> dict:
        return {"dry_run": self.dry_run, "grace_s": self.grace, "objects": self.objects,
                "reachable": self.reachable, "young": self.young,
                "removed": len(self.removed), "freed_bytes": self.freed_bytes,
                "stamped": self.stamped,
                "removed_hashes": list(self.removed)}


def collect(
    store: ObjectStore,
    *,
    grace: float = DEFAULT_GRACE,
    roots: Iterable[str] = (),
    dry_run: bool = False,
    now: float | None = None,
) -> GcReport:
    """Remove (unless dry_run) every object older than `grace` seconds that no ref, no
    root in `roots` and no young object reaches. `now` is the Unix time ages are measured
    from (tests pass a later one instead of waiting). GcRefused for a grace below
    MIN_GRACE or a damaged object whose links cannot be read."""
    if not grace >= MIN_GRACE:
        raise GcRefused(f"grace period {grace:g}s is shorter than the minimum {MIN_GRACE:g}s")
    cutoff = int(((time.time() if now is None else now) - grace) * 1000)
    report = GcReport(dry_run=dry_run, grace=grace)
    times = dict(store.stored_times())
    young = {oid for oid, ms in times.items() if ms >= cutoff}
    report.young = len(young)
    starts = [oid for _, oid in store.refs()] + list(roots) + sorted(young)
    marked = reachable(starts, lambda oid: _links(store, oid))
    candidates = {oid: _links(store, oid) for oid in store if oid not in marked}
    report.objects = len(marked) + len(candidates)
    report.reachable = len(marked)
    sizes = {oid: _record_size(store, oid) for oid in candidates}
    unstamped = [oid for oid in candidates if oid not in times]
    report.stamped = len(unstamped) if dry_run else store.stamp_unstamped(unstamped)

    def select(stored_at: Callable[[str], int | None]) -> list[str]:
        return doomed(candidates, lambda oid: _is_young(stored_at(oid), cutoff))

    if dry_run:
        report.removed = [ObjectId(o) for o in select(times.get)]
    else:
        report.removed = store.remove_where(select)
    report.freed_bytes = sum(sizes[oid] for oid in report.removed)
    return report


def doomed(candidates: dict[str, list[str]], is_young: Callable[[str], bool]) -> list[str]:
    """The candidates to remove: all but those young now and what they reach."""
    young = [oid for oid in candidates if is_young(oid)]
    kept = reachable(young, lambda oid: candidates.get(oid, ()))
    return sorted(oid for oid in candidates if oid not in kept)


def _is_young(stored_ms: int | None, cutoff: int) -> bool:
    # no time recorded (stored before the store kept them): its age is unknown, so it is
    # kept; gc stamps such objects, and a later gc judges them by that stamp
    return stored_ms is None or stored_ms >= cutoff


def _links(store: ObjectStore, oid: str) -> list[ObjectId]:
    """What `oid` needs in the store (verified read); a damaged object stops gc, since
    what it links to cannot be known."""
    try:
        return store.stored_links(oid)
    except ObjectStoreError as exc:
        raise GcRefused(f"cannot read the links of {oid} ({exc}); run `wfobj fsck`") from None


def _record_size(store: ObjectStore, oid: str) -> int:
    record = store.record(oid)
    return 1 + len(record.body)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90m', '2h', '1d', '3600' (seconds) -> seconds; ValueError for anything else."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:], None)
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"not a duration like 30m, 2h or 1d: {text!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration like 30m, 2h or 1d: {text!r}")
    return seconds
