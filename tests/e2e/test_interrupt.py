"""A local `wfobj run trigger --wait` stopped by any signal never strands its run: the run
ends (or is left with a lease a worker recovers), and no container outlives it. Real CLI
process, real LMDB store, real Docker."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.support_e2e import ROOT, wfobj_argv
from tests.support_engine import service, task, trigger
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.layout import LEASE_NS
from wfobj.engine.scheduling.worker import Worker
from wfobj.objstore import init_store, open_store

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLEEPY = {"tasks": {"sleepy": task("sleep 120"), "then": task("true", after=["sleepy"])}}


def wait_for(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_wait(tmp_path):
    """A workflow on a fresh store and a local `run trigger --wait` of it, with its run id
    once its first task's container runs."""
    store_path = tmp_path / "store"
    store = init_store(store_path)
    service(store).apply_workflow("sleepy", SLEEPY, user="alice")
    store.close()
    log = (tmp_path / "wait.log").open("wb")
    proc = subprocess.Popen(wfobj_argv("--store", str(store_path), "run", "trigger", "sleepy",
                                       "--wait"),
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return store_path, proc


def running_container(docker_client, store_path):
    store = open_store(store_path)
    try:
        runs = service(store).list_runs()["runs"]
    finally:
        store.close()
    if not runs:
        return None
    run_id = runs[0]["run_id"]
    label = {"label": f"wfobj.run={run_id}"}
    return run_id if docker_client.containers.list(filters=label) else None


@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGTERM], [signal.SIGKILL],
                                     [signal.SIGINT, signal.SIGINT]],
                         ids=["SIGINT", "SIGTERM", "SIGKILL", "SIGINT-twice"])
def test_a_signalled_local_wait_leaves_no_stranded_run(tmp_path, docker_client, signals):
    store_path, proc = start_wait(tmp_path)
    try:
        run_id = wait_for(lambda: running_container(docker_client, store_path),
                          what="the task container")
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.2)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store = open_store(store_path)
    try:
        # whatever the CLI managed before it went, any worker finishes the job
        Worker(store, lambda: DockerExecutor(grace=1), worker_id="rescuer").initialize()
        svc = service(store)
        run = svc.get_run(run_id)
        assert run["state"] == "failed", (run, (tmp_path / "wait.log").read_text())
        assert run["tasks"]["then"] == "skipped"
        assert run["tasks"]["sleepy"] in ("failed", "killed")
        assert store.meta_get(LEASE_NS, run_id) is None
        label = {"label": f"wfobj.run={run_id}"}
        assert docker_client.containers.list(all=True, filters=label) == []
    finally:
        store.close()


def test_one_ctrl_c_winds_the_run_down_with_its_evidence(tmp_path, docker_client):
    store_path, proc = start_wait(tmp_path)
    try:
        run_id = wait_for(lambda: running_container(docker_client, store_path),
                          what="the task container")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store = open_store(store_path)
    try:
        svc = service(store)
        assert svc.get_run(run_id)["state"] == "failed"  # ended by the CLI itself
        evidence = svc.run_task(run_id, "sleepy")
        assert evidence["state"] == "killed" and evidence["evidence_hash"]
        assert any(e["event"] == "worker_stopping" for e in svc.run_audit(run_id))
    finally:
        store.close()
    out = (tmp_path / "wait.log").read_text()
    assert "Traceback" not in out and "failed" in out


def test_a_run_stranded_without_lease_by_a_dead_local_process_is_recovered(lmdb_store):
    """Runs stranded by earlier versions (lease released, run left `running`): a worker
    on the same host whose claiming process is gone ends them."""
    from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
    from wfobj.engine.scheduling.leases import this_host

    svc = service(lmdb_store)
    run_id = trigger(svc, {"tasks": {"a": task()}})
    gone = subprocess.Popen(["true"])
    gone.wait()
    doomed = Worker(lmdb_store, lambda: FakeExecutor({"a": TaskBehavior(sleep=30)}),
                    worker_id=f"{this_host()}:{gone.pid}:abcdef")
    doomed.executor = doomed.executor_factory()
    assert doomed.claim(run_id)
    scheduler = doomed_scheduler(doomed, run_id)
    scheduler.initialize()
    scheduler.loop()  # task a is running
    scheduler.shutdown()
    lmdb_store.meta_cas(LEASE_NS, run_id, lmdb_store.meta_get(LEASE_NS, run_id), None)
    assert svc.get_run(run_id)["state"] == "running"
    Worker(lmdb_store, FakeExecutor, worker_id="rescuer").initialize()
    run = svc.get_run(run_id)
    assert run["state"] == "failed"
    assert f"process {gone.pid}" in svc.run_audit(run_id)[-1]["reason"]


def test_a_lease_less_running_run_of_another_host_is_left_alone(lmdb_store):
    """A running run that arrived by sync has no local lease either; its worker is
    elsewhere, so it is not ours to end."""
    from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior

    svc = service(lmdb_store)
    run_id = trigger(svc, {"tasks": {"a": task()}})
    other = Worker(lmdb_store, lambda: FakeExecutor({"a": TaskBehavior(sleep=30)}),
                   worker_id="elsewhere:1:abcdef")
    other.executor = other.executor_factory()
    assert other.claim(run_id)
    scheduler = doomed_scheduler(other, run_id)
    scheduler.initialize()
    scheduler.shutdown()
    lmdb_store.meta_cas(LEASE_NS, run_id, lmdb_store.meta_get(LEASE_NS, run_id), None)
    Worker(lmdb_store, FakeExecutor, worker_id="rescuer").initialize()
    assert svc.get_run(run_id)["state"] == "running"


def doomed_scheduler(worker: Worker, run_id: str):
    from wfobj.engine.scheduling.scheduler import RunScheduler

    return RunScheduler(worker.store, run_id, worker.executor, poll=0.05,
                        actor=f"worker:{worker.worker_id}")
