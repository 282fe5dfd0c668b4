"""`wfobj worker --workers N`: the supervisor starts N single-worker processes that share
the queue; a signal stops them all cleanly (status 0), a dead worker stops the rest
(status 1, one line saying which)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from tests.support_e2e import ROOT, wfobj_argv
from tests.support_engine import service, task, trigger
from wfobj.engine.states import RunStatus
from wfobj.objstore import init_store

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def engine_workers(pid: int) -> list[int]:
    """The engine worker children of `pid` (not its webhook deliverer)."""
    return [p for p in children(pid)
            if b"\0worker\0" in open(f"/proc/{p}/cmdline", "rb").read()]


def start_workers(tmp_path, n: int) -> tuple[subprocess.Popen, list[int], object]:
    log = (tmp_path / "worker.log").open("w+")
    proc = subprocess.Popen(wfobj_argv("--store", str(tmp_path / "store"), "worker",
                                       "--workers", str(n), "--no-hook-deliverer"),
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while len(kids := children(proc.pid)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(kids) == n and engine_workers(proc.pid) == kids, kids
    return proc, kids, log


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_workers_share_the_queue_and_stop_together_on_sigterm(tmp_path, docker_client):
    store = init_store(tmp_path / "store")
    svc = service(store)
    ids = [trigger(svc, {"tasks": {"a": task("echo a"), "b": task("echo b", after=["a"])}})
           for _ in range(4)]
    proc, kids, log = start_workers(tmp_path, 2)
    try:
        deadline = time.monotonic() + 120
        while (any(svc.get_run(i)["state"] != RunStatus.SUCCESS for i in ids)
               and time.monotonic() < deadline):
            time.sleep(0.2)
        assert {svc.get_run(i)["state"] for i in ids} == {RunStatus.SUCCESS}
        actors = {svc.run_audit(i)[1]["actor"] for i in ids}
        assert all(a.startswith("worker:") for a in actors)
        assert {int(a.split(":")[2]) for a in actors} <= set(kids)
    finally:
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(30)
    log.seek(0)
    assert status == 0, log.read()
    assert all(gone(k) for k in kids)
    store.close()


def test_a_dead_worker_stops_the_others_with_an_error(tmp_path, docker_client):
    init_store(tmp_path / "store").close()
    proc, kids, log = start_workers(tmp_path, 2)
    os.kill(kids[0], signal.SIGKILL)
    assert proc.wait(30) == 1
    log.seek(0)
    lines = [ln for ln in log.read().splitlines() if ln.startswith("wfobj worker:")]
    assert lines == ["wfobj worker: engine worker 1 exited with status -9; stopping"]
    deadline = time.monotonic() + 15
    while not gone(kids[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(kids[1])


def test_serve_runs_each_engine_worker_as_its_own_child(tmp_path, docker_client):
    from tests.support_e2e import start_server

    srv = start_server(tmp_path, engine_workers=2, workers=1)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = engine_workers(srv.proc.pid)
            delivering = [p for p in children(srv.proc.pid)
                          if b"\0deliver\0" in open(f"/proc/{p}/cmdline", "rb").read()]
            if len(workers) == 2 and delivering:
                break
            time.sleep(0.1)
        assert len(workers) == 2
        assert all(children(w) == [] for w in workers)  # no worker forks again
        assert len(delivering) == 1  # serve's own: its engine workers run none
        assert requests.get(srv.url + "/api/health", timeout=5).ok
    finally:
        assert srv.stop() == 0, srv.log()
