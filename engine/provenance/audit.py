"""Checking a run's audit trail: every entry re-hashed and every `prev` link followed.

The manifest names the chain's head and its length; the check walks from the head back to
the first event, reading each object through the store (which re-hashes its bytes), and
reports what does not hold instead of stopping at the first bad entry. An entry that is
not a valid `audit_event` (another type, unknown or missing fields) ends the walk: its
`prev` cannot be trusted, so the problem names it and the count falls short.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wfobj.engine.model import AuditEvent, read
from wfobj.engine.runs.state import RunState
from wfobj.objstore import ObjectStore, WfobjError


@dataclass(frozen=True)
class AuditCheck:
    """The outcome: `ok` when every entry verifies and the chain is whole and in order."""

    run_id: str
    head: str | None
    entries: int
    expected: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "ok": self.ok, "head": self.head,
                "entries": self.entries, "expected": self.expected,
                "problems": list(self.problems)}


def check_audit_chain(store: ObjectStore, run: RunState) -> AuditCheck:
    """Walk the chain from the manifest's head; each entry must hash to its id, be an
    `audit_event` of this run, link the one before it, and count down to seq 1."""
    problems: list[str] = []
    seen: set[str] = set()
    count, oid, want_seq = 0, run.audit_head, run.audit_count
    while oid:
        if oid in seen:
            problems.append(f"entry {oid} appears twice: the chain loops")
            break
        seen.add(oid)
        try:
            event = read(store, oid, AuditEvent)  # re-hashes the stored bytes
        except (WfobjError, KeyError) as exc:
            problems.append(f"entry {oid} cannot be read: {exc}")
            break
        count += 1
        problems += entry_problems(oid, event, run.run_id, want_seq)
        want_seq -= 1
        oid = event.prev.oid if event.prev is not None else None
    if count != run.audit_count:
        problems.append(f"the manifest counts {run.audit_count} entries, the chain has {count}")
    return AuditCheck(run.run_id, run.audit_head, count, run.audit_count, problems)


def entry_problems(oid: str, event: AuditEvent, run_id: str, want_seq: int) -> list[str]:
    problems = []
    if event.run_id != run_id:
        problems.append(f"entry {oid} belongs to run {event.run_id!r}")
    if event.seq != want_seq:
        problems.append(f"entry {oid} has seq {event.seq!r} where {want_seq} belongs")
    return problems
