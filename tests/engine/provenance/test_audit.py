"""The audit-chain check (engine/audit.py) reads each entry as an AuditEvent: a whole
chain verifies, and a chain holding another object, an entry with an unknown field, or an
entry of another run or out of order is reported, naming the entry, not raised."""

from __future__ import annotations

from tests.support_engine import chain, run_with, service, trigger
from wfobj.engine.provenance.audit import check_audit_chain
from wfobj.engine.runs.state import RunState


def finished(store) -> RunState:
    run_id = trigger(service(store), chain("a"))
    run_with(store, run_id)
    return RunState.load(store, run_id)


def with_head(store, run: RunState, value: dict) -> str:
    """Store `value` and make it the head of the run's audit chain; its hash."""
    with run.change(store, "2026-12-04T00:00:00.000000Z") as b:
        run.audit_head = b.put_object(value)
    return run.audit_head


def test_a_whole_chain_verifies(store):
    run = finished(store)
    check = check_audit_chain(store, run)
    assert check.ok and check.entries == check.expected == run.audit_count > 1


def test_an_entry_that_is_not_an_audit_event_is_reported_by_hash(store):
    run = finished(store)
    head = store.get_object(run.audit_head)
    bad = with_head(store, run, {"type": "note", "prev": head["prev"]})
    check = check_audit_chain(store, run)
    assert not check.ok and check.entries == 0
    assert check.problems[0] == (f"entry {bad} cannot be read: object {bad} is not a valid "
                                 "audit_event: it is a 'note'")


def test_an_entry_with_an_unknown_field_is_reported_by_hash(store):
    run = finished(store)
    bad = with_head(store, run, {**store.get_object(run.audit_head), "smuggled": 1})
    check = check_audit_chain(store, run)
    assert not check.ok
    assert check.problems[0] == (f"entry {bad} cannot be read: object {bad} is not a valid "
                                 "audit_event: unknown field(s) smuggled")


def test_an_entry_of_another_run_and_out_of_order_is_reported(store):
    run = finished(store)
    head = store.get_object(run.audit_head)
    bad = with_head(store, run, {**head, "run_id": "someone-else", "seq": head["seq"] + 5})
    check = check_audit_chain(store, run)
    assert check.entries == run.audit_count  # the rest of the chain is still walked
    assert check.problems == [f"entry {bad} belongs to run 'someone-else'",
                              f"entry {bad} has seq {head['seq'] + 5} where "
                              f"{run.audit_count} belongs"]
