"""The durable outbox of webhook deliveries, in the store's meta table.

An event is put in the outbox (`hook-outbox`) by the transaction that makes the change it
tells of (`announce`, called by RunState.change), once per hook that wants it, so a crash
loses either both or neither. Keys are `<run_id>/<seq>/<hook id>`: a run's entries sort
in the order its audit entries were written, and only the first entry of each (run, hook)
is ever sent (`heads`), which keeps a run's events in order for each receiver.

A deliverer takes an entry by compare-and-swap, writing its lease into it (`claim`), so
two deliverers never send it at once; a deliverer that dies leaves a lease that expires,
and the entry is sent again (at least once). An entry leaves the outbox in the same
transaction that writes its line in the delivery log (`hook-deliveries`, same key).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

from wfobj.engine.clock import format_time
from wfobj.engine.layout import DELIVERIES_NS, OUTBOX_NS
from wfobj.objstore import ConflictError, ObjectStore, WriteBatch

from .events import TYPE_PREFIX, RunEvent, RunFacts, cloud_event, event_id
from .registry import HookStore

PENDING, DELIVERED, FAILED, DROPPED = "pending", "delivered", "failed", "dropped"
SEQ_DIGITS = 8


def entry_key(run_id: str, seq: int, hook_id: str) -> str:
    return f"{run_id}/{seq:0{SEQ_DIGITS}d}/{hook_id}"


def run_epoch(run_id: str) -> float:
    """When a run was created, from its id (a UUIDv7 starts with its Unix time in ms)."""
    return int(run_id.replace("-", "")[:12], 16) / 1000


def split_key(key: str) -> tuple[str, int, str]:
    run_id, seq, hook_id = key.split("/")
    return run_id, int(seq), hook_id


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one hook (in the outbox) or done with (in the log).

    It keeps what the event is made from (`made_of`: the run's facts and the audit entry's,
    the run id and sequence number being in the key), not the event's JSON: entries stay
    small, so the transactions that write them stay cheap, and `event` makes the same
    CloudEvent, byte for byte, on every try."""

    key: str
    made_of: dict  # {"name", "at", "workflow", "state", "manifest", "triggered_by", "task"?, "reason"?}
    state: str = PENDING
    tries: int = 0
    status: int | None = None  # the receiver's last HTTP status
    error: str | None = None  # the last failure, in words
    last_try_at: str | None = None
    ended_at: str | None = None
    next_at: float = 0.0  # epoch seconds: not tried again before
    lease_owner: str | None = None
    lease_until: float = 0.0

    @classmethod
    def of(cls, facts: RunFacts, event: RunEvent, hook_id: str) -> Delivery:
        made_of = {"name": event.name, "at": event.at, "workflow": facts.workflow,
                   "state": facts.state, "manifest": facts.manifest,
                   "triggered_by": facts.triggered_by}
        if event.task is not None:
            made_of["task"] = event.task
        if event.reason:
            made_of["reason"] = event.reason
        return cls(entry_key(facts.run_id, event.seq, hook_id), made_of)

    @property
    def run_id(self) -> str:
        return split_key(self.key)[0]

    @property
    def hook(self) -> str:
        return split_key(self.key)[2]

    @property
    def group(self) -> tuple[str, str]:
        """What this delivery keeps order with: the same run's events to the same hook."""
        return self.run_id, self.hook

    @property
    def event(self) -> dict:
        """The CloudEvent this delivery sends."""
        run_id, seq, _ = split_key(self.key)
        m = self.made_of
        return cloud_event(RunFacts(run_id, m["workflow"], m["state"], m["manifest"],
                                    m["triggered_by"]),
                           RunEvent(m["name"], seq, m["at"], m.get("task"), m.get("reason")))

    def to_bytes(self) -> bytes:
        """Compact JSON: the fields that differ from their defaults."""
        value = {f.name: getattr(self, f.name) for f in fields(self)
                 if f.name != "key" and getattr(self, f.name) != f.default}
        return json.dumps(value, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, key: str, raw: bytes) -> Delivery:
        return cls(key=key, **json.loads(raw))

    def to_json(self) -> dict:
        """The delivery as `hook deliveries` shows it."""
        run_id, seq, hook = split_key(self.key)
        next_try = (format_time(datetime.fromtimestamp(self.next_at, UTC))
                    if self.state == PENDING and self.tries else None)
        return {"hook": hook, "run_id": run_id, "event_id": event_id(run_id, seq),
                "type": TYPE_PREFIX + self.made_of["name"], "state": self.state,
                "tries": self.tries, "status": self.status, "error": self.error,
                "created_at": self.made_of["at"], "last_try_at": self.last_try_at,
                "ended_at": self.ended_at, "next_try_at": next_try}


def announce(store: ObjectStore, b: WriteBatch, facts: RunFacts,
             events: Iterable[RunEvent]) -> int:
    """Put `events` in the outbox in batch `b`, once per hook that wants each; how many."""
    events = list(events)
    hooks = HookStore(store).list() if events else []
    count = 0
    for event in events:
        for hook in hooks:
            if hook.wants(event.name):
                delivery = Delivery.of(facts, event, hook.id)
                b.meta_put(OUTBOX_NS, delivery.key, delivery.to_bytes())
                count += 1
    return count


class Outbox:
    """The outbox as deliverers see it: what may be sent now, claiming, settling."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def heads(self, now: float, *, busy: set[tuple[str, str]],
              limit: int) -> list[tuple[bytes, Delivery]]:
        """Up to `limit` entries that may be sent now: the first of their (run, hook),
        not in `busy`, not leased by anyone, not waiting for a retry. Oldest runs first."""
        seen: set[tuple[str, str]] = set()
        found: list[tuple[bytes, Delivery]] = []
        for key, raw in self.store.meta_scan(OUTBOX_NS):
            run_id, _, hook_id = split_key(key)
            if (run_id, hook_id) in seen:
                continue  # a later event of a (run, hook) waits for the earlier ones
            seen.add((run_id, hook_id))
            if (run_id, hook_id) in busy:
                continue
            delivery = Delivery.from_bytes(key, raw)
            if delivery.lease_until > now or delivery.next_at > now:
                continue
            found.append((raw, delivery))
            if len(found) >= limit:
                break
        return found

    def claim(self, raw: bytes, delivery: Delivery, owner: str,
              until: float) -> tuple[bytes, Delivery] | None:
        """Take one entry by CAS, leased to `owner` until `until`; None if someone was first."""
        taken = self.commit([], [(raw, delivery)], owner, until)
        return taken[0] if taken else None

    def commit(self, done: list[tuple[bytes, Delivery]], wanted: list[tuple[bytes, Delivery]],
               owner: str, until: float) -> list[tuple[bytes, Delivery]]:
        """One transaction for a deliverer's step: record the tries in `done` (each as
        claimed: its bytes when taken, and how it went) and take the entries in `wanted`,
        leased to `owner` until `until`. Returns what was taken, with its new bytes.

        A tried entry still `pending` goes back unleased, to wait for its `next_at`; any
        other leaves the outbox for the log. Every change is a CAS on the bytes last seen:
        if any fails (a lease ran out and another deliverer took the entry over, or took a
        wanted one first), each is tried again alone, so one lost race costs only itself."""
        claims = [(raw, replace(d, lease_owner=owner, lease_until=until)) for raw, d in wanted]
        claims = [(raw, d, d.to_bytes()) for raw, d in claims]
        if not done and not claims:
            return []
        try:
            with self.store.batch() as b:
                for claimed, delivery in done:
                    _stage_done(b, claimed, delivery)
                for raw, delivery, new in claims:
                    b.meta_cas(OUTBOX_NS, delivery.key, raw, new)
            return [(new, delivery) for _, delivery, new in claims]
        except ConflictError:
            pass
        for claimed, delivery in done:
            self._alone(lambda b, c=claimed, d=delivery: _stage_done(b, c, d))
        return [(new, delivery) for raw, delivery, new in claims
                if self._alone(lambda b, r=raw, d=delivery, n=new:
                               b.meta_cas(OUTBOX_NS, d.key, r, n))]

    def _alone(self, stage) -> bool:
        try:
            with self.store.batch() as b:
                stage(b)
        except ConflictError:
            return False
        return True

    def prune_log(self, before: float, *, limit: int = 1000) -> int:
        """Drop up to `limit` log lines of runs created before `before` (epoch seconds);
        how many. Keys start with the run id, a UUIDv7, so the oldest come first."""
        old = []
        for key, _ in self.store.meta_scan(DELIVERIES_NS, limit=limit):
            if run_epoch(split_key(key)[0]) >= before:
                break
            old.append(key)
        if old:
            with self.store.batch() as b:
                for key in old:
                    b.meta_delete(DELIVERIES_NS, key)
        return len(old)

    def list(self, *, hook: str | None = None, run_id: str | None = None,
             limit: int = 100) -> list[Delivery]:
        """Deliveries newest first, pending ones included: of one hook, one run, or all."""
        prefix = f"{run_id}/" if run_id else ""
        merged = _merge_desc(self._scan(OUTBOX_NS, prefix, hook),
                             self._scan(DELIVERIES_NS, prefix, hook))
        out = []
        for delivery in merged:
            out.append(delivery)
            if len(out) >= limit:
                break
        return out

    def _scan(self, ns: str, prefix: str, hook: str | None) -> Iterator[Delivery]:
        for key, raw in self.store.meta_scan(ns, prefix, reverse=True):
            if hook is None or key.endswith("/" + hook):
                yield Delivery.from_bytes(key, raw)


def _stage_done(b: WriteBatch, claimed: bytes, delivery: Delivery) -> None:
    """Add one tried entry's outcome to `b` (see Outbox.commit)."""
    unleased = replace(delivery, lease_owner=None, lease_until=0.0)
    if delivery.state == PENDING:
        b.meta_cas(OUTBOX_NS, delivery.key, claimed, unleased.to_bytes())
        return
    b.meta_cas(OUTBOX_NS, delivery.key, claimed, None)
    b.meta_put(DELIVERIES_NS, delivery.key, replace(unleased, next_at=0.0).to_bytes())


def _merge_desc(a: Iterator[Delivery], b: Iterator[Delivery]) -> Iterator[Delivery]:
    """Two key-descending streams as one (a key is in one of them at a time)."""
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x.key >= y.key):
            yield x
            x = next(a, None)
        else:
            yield y
            y = next(b, None)
