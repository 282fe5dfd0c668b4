"""Workers: claiming by CAS, and recovery of runs whose worker was SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from tests import ROOT
from tests.support_engine import service, task, trigger
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.layout import LEASE_NS, QUEUE_NS
from wfobj.engine.scheduling.leases import Lease
from wfobj.engine.scheduling.worker import Worker

WORKER_SCRIPT = textwrap.dedent("""
    import sys
    from wfobj.objstore import open_store
    from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
    from wfobj.engine.scheduling.worker import Worker
    store = open_store(sys.argv[1])
    ex = FakeExecutor(default=TaskBehavior(sleep=60))
    Worker(store, lambda: ex, worker_id="doomed", lease_ttl=float(sys.argv[2]), poll=0.05).serve()
""")


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def start_doomed_worker(path, ttl: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(path), str(ttl)],
                            cwd=str(ROOT))


def test_sigkilled_worker_run_is_failed_by_the_next_worker(lmdb_store, tmp_path):
    svc = service(lmdb_store)
    run_id = trigger(svc, {"tasks": {"slow": task(), "later": task(after=["slow"])}})
    proc = start_doomed_worker(tmp_path / "store", ttl=60)
    try:
        wait_for(lambda: svc.get_run(run_id)["tasks"]["slow"] == "running")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert svc.get_run(run_id)["state"] == "running"
    rescuer = Worker(lmdb_store, FakeExecutor, worker_id="rescuer")
    assert rescuer.recover() == [run_id]  # same host, process gone: no need to wait for expiry
    run = svc.get_run(run_id)
    assert run["state"] == "failed" and run["tasks"] == {"slow": "failed", "later": "skipped"}
    last = svc.run_audit(run_id)[-1]
    assert last["actor"] == "worker:rescuer" and last["to"] == "failed"
    assert "worker doomed stopped" in last["reason"] and f"process {proc.pid}" in last["reason"]
    assert lmdb_store.meta_get(LEASE_NS, run_id) is None
    assert rescuer.recover() == []


def test_expired_lease_from_another_host_is_recovered(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"a": task()}})
    lease = Lease("gone", 1, "elsewhere", time.time() - 5)
    assert store.meta_cas(QUEUE_NS, run_id, b"1", None)
    assert store.meta_cas(LEASE_NS, run_id, None, lease.encode())
    live = Lease("alive", 1, "elsewhere", time.time() + 60)
    other = trigger(svc, {"tasks": {"a": task()}}, name="wf2")
    assert store.meta_cas(QUEUE_NS, other, b"1", None)
    assert store.meta_cas(LEASE_NS, other, None, live.encode())
    worker = Worker(store, FakeExecutor, worker_id="w2")
    assert worker.recover() == [run_id]
    assert svc.get_run(run_id)["state"] == "failed"
    assert "lease expired" in svc.run_audit(run_id)[-1]["reason"]
    assert svc.get_run(other)["state"] == "pending"  # a live lease is respected


def test_worker_claims_each_run_once_and_runs_it(store):
    svc = service(store)
    ids = [trigger(svc, {"tasks": {"a": task()}}) for _ in range(3)]
    w1 = Worker(store, FakeExecutor, worker_id="w1")
    w2 = Worker(store, FakeExecutor, worker_id="w2")
    assert w1.claim(ids[0]) and not w2.claim(ids[0])
    w1.executor = FakeExecutor()
    assert w1.execute(ids[0]) == "success"
    w2.initialize()
    for _ in ids[1:]:
        run_id = w2.claim_next()
        w2.execute(run_id)
    assert [svc.get_run(i)["state"] for i in ids] == ["success"] * 3
    assert w2.claim_next() is None
    assert list(store.meta_scan(LEASE_NS)) == []


def test_stopping_worker_winds_its_run_down(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"slow": task()}})
    worker = Worker(store, lambda: FakeExecutor(default=TaskBehavior(sleep=60)), worker_id="w")
    worker.initialize()
    assert worker.claim(run_id)
    import threading

    t = threading.Thread(target=worker.execute, args=(run_id,))
    t.start()
    wait_for(lambda: svc.get_run(run_id)["tasks"]["slow"] == "running")
    worker.stop.set()
    t.join(20)
    run = svc.get_run(run_id)
    assert run["state"] == "failed" and run["tasks"]["slow"] == "killed"
    assert any(e["event"] == "worker_stopping" for e in svc.run_audit(run_id))


def test_an_engine_error_mid_run_ends_the_run_failed(store, monkeypatch):
    from wfobj.engine.scheduling.scheduler import RunScheduler

    svc = service(store)
    run_id = trigger(svc, {"tasks": {"a": task()}})

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(RunScheduler, "loop", broken)
    worker = Worker(store, FakeExecutor, worker_id="w")
    worker.executor = FakeExecutor()
    assert worker.claim(run_id)
    assert worker.execute(run_id) == "failed"
    run = svc.get_run(run_id)
    assert run["state"] == "failed"
    assert "engine error: RuntimeError: boom" in svc.run_audit(run_id)[-1]["reason"]
    assert store.meta_get(LEASE_NS, run_id) is None


FAKE_WORKER_SCRIPT = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(filename=sys.argv[2], level=logging.INFO)  # "worker … serving"
    from wfobj.engine.executors.fake import FakeExecutor
    from wfobj.cli.processes.worker import serve_worker
    serve_worker(sys.argv[1], FakeExecutor, concurrency=2)
""")


def test_worker_processes_share_the_queue_and_stop_on_sigterm(lmdb_store, tmp_path):
    from wfobj.cli.processes.supervisor import Supervisor

    svc = service(lmdb_store)
    ids = [trigger(svc, {"tasks": {"a": task(), "b": task(after=["a"])}}) for _ in range(6)]
    sup = Supervisor()
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    for i, log in enumerate(logs):
        sup.start(f"worker {i}", [sys.executable, "-c", FAKE_WORKER_SCRIPT,
                                  str(tmp_path / "store"), str(log)], dict(os.environ))
    try:
        wait_for(lambda: all(svc.get_run(i)["state"] == "success" for i in ids))
        # a SIGTERM before a worker's handler is installed would just kill it: the
        # wind-down is what is under test, so each must be serving first
        wait_for(lambda: all(log.exists() and "serving" in log.read_text() for log in logs))
    finally:
        sup.stop()  # SIGTERM to each: a clean wind-down, exit status 0
    assert [proc.returncode for _, proc in sup.children] == [0, 0]
    runners = {svc.run_audit(i)[1]["actor"] for i in ids}
    assert all(actor.startswith("worker:") for actor in runners)
    assert list(lmdb_store.meta_scan(LEASE_NS)) == [] and list(lmdb_store.meta_scan(QUEUE_NS)) == []


DOCKER_WORKER_SCRIPT = textwrap.dedent("""
    import sys
    from wfobj.objstore import open_store
    from wfobj.engine.executors.docker import DockerExecutor
    from wfobj.engine.scheduling.worker import Worker
    store = open_store(sys.argv[1])
    Worker(store, lambda: DockerExecutor(grace=1), worker_id="doomed", lease_ttl=60,
           poll=0.05).serve()
""")


def test_sigkilled_docker_worker_leaves_no_container_after_recovery(lmdb_store, tmp_path,
                                                                   docker_client):
    from wfobj.engine.executors.docker import DockerExecutor

    svc = service(lmdb_store)
    run_id = trigger(svc, {"tasks": {"slow": task("sleep 300")}})
    proc = subprocess.Popen([sys.executable, "-c", DOCKER_WORKER_SCRIPT, str(tmp_path / "store")],
                            cwd=str(ROOT))
    label = {"label": f"wfobj.run={run_id}"}
    try:
        wait_for(lambda: docker_client.containers.list(filters=label), timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert docker_client.containers.list(all=True, filters=label)  # orphaned by the kill
    rescuer = Worker(lmdb_store, lambda: DockerExecutor(grace=1), worker_id="rescuer")
    assert rescuer.recover() == [run_id]
    assert svc.get_run(run_id)["state"] == "failed"
    assert docker_client.containers.list(all=True, filters=label) == []
