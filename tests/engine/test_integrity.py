"""A damaged byte in a real LMDB file is never acted on: not executed, served, or sent.

Each test builds a store with the real engine, closes it, flips one byte inside one
object's bytes in data.mdb (every copy LMDB left behind), reopens it, and checks that
the run, the API, the CLI and sync refuse that object with an error naming its hash.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.support_api import make_api
from tests.support_damage import flip_byte_on_disk
from tests.support_engine import run_with, service, task, trigger
from tests.support_sync import make_run
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.engine.executors.fake import FakeExecutor
from wfobj.engine.scheduling.worker import Worker
from wfobj.engine.upkeep.sync_policy import EngineRefPolicy
from wfobj.objstore import ChecksumMismatch, LmdbObjectStore
from wfobj.objstore.sync import LocalRemote, push

MARKER = "echo integrity-marker-" + "x" * 40


POLICY = EngineRefPolicy()


def damage(store: LmdbObjectStore, oid: str) -> None:
    """Close `store` and flip a byte in the middle of `oid`'s stored bytes."""
    body = store.record(oid).body
    store.close()
    flip_byte_on_disk(store.path, body)


@pytest.fixture
def finished(tmp_path):
    """A store holding one finished run: (path, run_id, evidence id, audit event ids)."""
    store = LmdbObjectStore(tmp_path / "store", create=True)
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"only": task(MARKER)}})
    state, _ = run_with(store, run_id)
    assert state == "success"
    evidence = svc.run_tasks(run_id)[0]["evidence_hash"]
    audit = [entry["hash"] for entry in svc.run_audit(run_id)]
    return store, run_id, evidence, audit


def test_damaged_definition_of_a_queued_run_is_not_executed(tmp_path):
    store = LmdbObjectStore(tmp_path / "store", create=True)
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"only": task(MARKER)}})
    definition = svc.get_run(run_id)["definition_hash"]
    damage(store, definition)

    store = LmdbObjectStore(tmp_path / "store")
    executor = FakeExecutor()
    worker = Worker(store, lambda: executor, worker_id="w1", poll=0.01)
    worker.executor = executor
    assert worker.claim_next() == run_id
    assert worker.execute(run_id) == "failed"
    assert executor.spans == []  # nothing ran: not the altered command, not the original
    manifest = store.get_object(store.get_ref(f"runs/{run_id}"))
    assert manifest["state"] == "failed"
    last = store.get_object(manifest["audit"].oid)
    assert last["to"] == "failed" and definition in last["reason"] and "damaged" in last["reason"]
    with pytest.raises(ChecksumMismatch, match=definition):  # views name it too
        service(store).get_run(run_id)
    store.close()


def test_damaged_evidence_is_refused_by_api_and_cli(finished):
    store, run_id, evidence, _ = finished
    damage(store, evidence)
    store = LmdbObjectStore(store.path)
    api = make_api(store)
    for path in (f"/api/runs/{run_id}/tasks", f"/api/runs/{run_id}/tasks/only",
                 f"/api/objects/{evidence}"):
        resp = api.client.simulate_get(path, headers=api.h("reader"))
        assert resp.status_code == 500, (path, resp.text)
        assert resp.json["title"] == "Corrupt object" and evidence in resp.json["description"]
        assert "integrity-marker" not in resp.text
    result = CliRunner().invoke(cli, ["--store", str(store.path), "run", "task", run_id, "only"],
                                obj=CliContext())
    assert result.exit_code != 0
    assert evidence in result.output and "integrity-marker" not in result.output
    store.close()


def test_damaged_audit_event_is_refused(finished):
    store, run_id, _, audit = finished
    damage(store, audit[1])
    store = LmdbObjectStore(store.path)
    api = make_api(store)
    resp = api.client.simulate_get(f"/api/runs/{run_id}/audit", headers=api.h("reader"))
    assert resp.status_code == 500 and audit[1] in resp.json["description"]
    result = CliRunner().invoke(cli, ["--store", str(store.path), "run", "audit", run_id],
                                obj=CliContext())
    assert result.exit_code != 0 and audit[1] in result.output
    store.close()


def test_damaged_chunk_is_not_served_or_sent(tmp_path):
    store = LmdbObjectStore(tmp_path / "a", create=True)
    ref, manifest = make_run(store, tasks=1, big=10 << 20)  # the record links a chunked blob
    oid = store.get_object(store.get_object(manifest)["run"].oid)["big"].oid
    chunk = store.chunk_list(oid)[1][0]
    damage(store, chunk)

    store = LmdbObjectStore(tmp_path / "a")
    with pytest.raises(ChecksumMismatch) as info:
        store.get_raw(oid)
    assert info.value.expected == chunk
    api = make_api(store)
    resp = api.client.simulate_get(f"/api/objects/{chunk}", headers=api.h("reader"))
    assert resp.status_code == 500 and chunk in resp.json["description"]
    target = LmdbObjectStore(tmp_path / "b", create=True)
    with pytest.raises(ChecksumMismatch):
        push(store, LocalRemote(target, POLICY), POLICY, [ref])
    assert oid not in target and chunk not in target
    store.close()
    target.close()
