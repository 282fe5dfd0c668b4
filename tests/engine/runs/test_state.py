"""RunState.change(): the new manifest, ref move and index are one write, and the run
takes them as its own only once that write happened."""

from __future__ import annotations

import pytest

from tests.support_engine import chain, service, trigger
from wfobj.engine.runs.lifecycle import scan_index
from wfobj.engine.runs.state import RunState, run_ref
from wfobj.engine.states import RunStatus, TaskStatus
from wfobj.objstore import ConflictError

AT = "2026-12-03T10:00:00.000000Z"


def test_a_change_moves_ref_index_and_run_together(store):
    run_id = trigger(service(store), chain("a", "b"))
    run = RunState.load(store, run_id)
    before = run.manifest_oid
    with run.change(store, AT) as b:
        run.audit(b, at=AT, actor="test", event="run_state", old=run.state,
                  new=RunStatus.RUNNING)
        run.set_state(RunStatus.RUNNING, AT)
        run.set_task("a", TaskStatus.RUNNING)
    assert run.manifest_oid != before and run.indexed_state == RunStatus.RUNNING
    assert store.get_ref(run_ref(run_id)) == run.manifest_oid
    assert store.get_object(run.manifest_oid)["previous"].oid == before
    assert [r for r, _ in scan_index(store, "running", None)] == [run_id]
    again = RunState.load(store, run_id)
    assert (again.state, again.tasks["a"].state, again.started_at) == ("running", "running", AT)


def test_a_failed_block_writes_nothing_and_the_run_keeps_its_manifest(store):
    run_id = trigger(service(store), chain("a"))
    run = RunState.load(store, run_id)
    before = run.manifest_oid
    with pytest.raises(RuntimeError), run.change(store, AT):
        run.set_state(RunStatus.RUNNING, AT)
        raise RuntimeError("boom")
    assert run.manifest_oid == before and run.indexed_state == RunStatus.PENDING
    assert store.get_ref(run_ref(run_id)) == before
    assert [r for r, _ in scan_index(store, "pending", None)] == [run_id]


def test_a_lost_race_keeps_the_run_on_its_old_manifest(store):
    run_id = trigger(service(store), chain("a"))
    mine, theirs = RunState.load(store, run_id), RunState.load(store, run_id)
    with theirs.change(store, AT):
        theirs.set_state(RunStatus.KILLED, AT)
    before = mine.manifest_oid
    with pytest.raises(ConflictError), mine.change(store, AT):
        mine.set_state(RunStatus.RUNNING, AT)
    assert mine.manifest_oid == before and mine.indexed_state == RunStatus.PENDING
    assert RunState.load(store, run_id).state == RunStatus.KILLED
    assert [r for r, _ in scan_index(store, "running", None)] == []
