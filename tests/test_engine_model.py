"""Typed stored objects: each type round-trips through its structured form, and a stored
object with an unknown field, without a required one, or of another type fails with an
error naming its hash (also at the API edge)."""

from __future__ import annotations

import pytest

from engine.errors import InvalidStoredObject
from engine.model import (
    BY_NAME,
    TYPES,
    AuditEvent,
    RunManifest,
    RunRecord,
    RunTasks,
    TaskEvidence,
    WorkflowVersion,
    read,
)
from engine.runstate import RunState, run_ref
from tests.support_api import make_api
from tests.support_engine import chain, run_with, service, trigger


def finished_run(store) -> RunState:
    run_id = trigger(service(store), chain("a", "b"))
    run_with(store, run_id)
    return RunState.load(store, run_id)


def test_types_are_registered_once_by_name():
    assert len(BY_NAME) == len(TYPES)
    assert set(BY_NAME) == {"workflow_version", "image", "task_evidence", "run_record",
                            "run_tasks", "audit_event", "run_manifest", "definition"}


def test_workflow_versions_read_back_typed_and_chain(store):
    svc = service(store)
    svc.apply_workflow("wf", chain("a"), user="alice")
    svc.apply_workflow("wf", chain("a", "b"), user="bob")
    head = read(store, store.get_ref("workflows/wf"), WorkflowVersion)
    assert (head.name, head.version, head.registered_by) == ("wf", 2, "bob")
    first = read(store, head.previous.oid, WorkflowVersion)
    assert (first.version, first.previous) == (1, None)
    assert "previous" not in first.to_value()
    assert store.put_object(head.to_value()) == store.get_ref("workflows/wf")


def test_a_real_run_reads_back_as_typed_objects_that_round_trip(store):
    run = finished_run(store)
    manifest = read(store, run.manifest_oid, RunManifest)
    assert (manifest.run_id, manifest.state, manifest.task_count) == (run.run_id, "success", 2)
    assert manifest.previous is not None and manifest.to_value() == store.get_object(
        run.manifest_oid)
    bucket = read(store, manifest.tasks[0].oid, RunTasks)
    assert [row["name"] for row in bucket.tasks] == ["a", "b"]
    ev = read(store, run.tasks["b"].attempts[-1], TaskEvidence)
    assert (ev.task, ev.state, ev.attempt) == ("b", "success", 1)
    assert store.put_object(ev.to_value()) == run.tasks["b"].attempts[-1]  # same bytes
    record = read(store, manifest.run.oid, RunRecord)
    assert (record.run_id, record.cache, record.resumes) == (run.run_id, False, None)
    assert "resumes" not in record.to_value() and store.put_object(record.to_value()) == (
        manifest.run.oid)
    head = read(store, manifest.audit.oid, AuditEvent)
    assert (head.seq, head.from_, head.to) == (manifest.audit_count, "running", "success")
    assert head.to_value()["from"] == "running" and "from_" not in head.to_value()
    assert store.put_object(head.to_value()) == manifest.audit.oid


def test_the_first_manifest_has_no_previous_field(store):
    run_id = trigger(service(store), chain("a"))
    oid = store.get_ref(run_ref(run_id))
    assert "previous" not in store.get_object(oid)
    assert read(store, oid, RunManifest).previous is None


def test_an_older_manifest_without_later_fields_still_reads(store):
    run = finished_run(store)
    value = store.get_object(run.manifest_oid)
    for late in ("started_at", "ended_at", "audit_count", "updated_at", "workflow"):
        del value[late]
    oid = store.put_object(value)
    old = read(store, oid, RunManifest)
    assert (old.started_at, old.audit_count, old.workflow) == (None, 0, None)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda v: v.update(bogus=1), "unknown field(s) bogus"),
    (lambda v: v.pop("state"), "missing field(s) state"),
    (lambda v: v.update(type="note"), "it is a 'note'"),
])
def test_a_bad_stored_object_names_its_hash(store, change, problem):
    run = finished_run(store)
    value = store.get_object(run.manifest_oid)
    change(value)
    oid = store.put_object(value)
    with pytest.raises(InvalidStoredObject) as info:
        read(store, oid, RunManifest)
    assert info.value.oid == oid and info.value.type_name == "run_manifest"
    assert str(info.value) == f"object {oid} is not a valid run_manifest: {problem}"


def test_evidence_with_an_unknown_field_is_refused_at_the_api_naming_it():
    from objstore import MemoryObjectStore

    api = make_api(MemoryObjectStore())
    store = api.store
    run = finished_run(store)
    ev_oid = run.tasks["a"].attempts[-1]
    forged = {**store.get_object(ev_oid), "smuggled": "x"}
    with run.change(store, "2026-12-03T10:00:00.000000Z") as b:
        bad = b.put_object(forged)
        run.tasks["a"].attempts[-1] = bad
        run.dirty.add(0)
    resp = api.client.simulate_get(f"/api/runs/{run.run_id}/tasks/a", headers=api.h("reader"))
    assert resp.status_code == 500
    assert resp.json["title"] == "Invalid stored object"
    assert bad in resp.json["description"] and "smuggled" in resp.json["description"]
    ok = api.client.simulate_get(f"/api/runs/{run.run_id}/tasks/b", headers=api.h("reader"))
    assert ok.status_code == 200 and ok.json["state"] == "success"
