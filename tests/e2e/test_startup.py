"""Start-up checks: `serve` and `worker` refuse to start, in one line naming what is
missing, when Docker cannot be reached, and touch nothing; a trigger meanwhile is still
accepted and waits for a worker. Real processes, real LMDB, a dead Docker socket."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.support_e2e import ROOT, free_port, snapshot, wfobj_argv
from tests.support_engine import service, task
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.worker import Worker
from wfobj.objstore import init_store, open_store

pytestmark = pytest.mark.slow


@pytest.fixture
def dead_docker(tmp_path):
    """DOCKER_HOST naming a socket nobody listens on."""
    return {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}


def new_store(tmp_path):
    path = tmp_path / "store"
    store = init_store(path)
    service(store).apply_workflow("hello", {"tasks": {"hi": task("echo hi")}}, user="alice")
    store.close()
    return path


def wfobj(env, *args, timeout=60):
    return subprocess.run(wfobj_argv(*args), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("command", [["worker"],
                                     ["serve", "--bind", "127.0.0.1:{port}"]])
def test_no_docker_no_start_one_line(tmp_path, dead_docker, command):
    path = new_store(tmp_path)
    before = snapshot(path)
    args = [a.format(port=free_port()) for a in command]
    done = wfobj(dead_docker, "--store", str(path), *args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Docker" in lines[0] and "no-docker.sock" in lines[0]
    assert snapshot(path) == before and not (path / "admin-token").exists()


def test_serve_without_engine_workers_needs_no_docker(tmp_path, dead_docker):
    path = new_store(tmp_path)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(wfobj_argv("--store", str(path), "serve", "--bind",
                                       f"127.0.0.1:{port}", "--engine-workers", "0"),
                            cwd=ROOT, env=dead_docker, stdout=log, stderr=subprocess.STDOUT)
    try:
        import requests

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("the API-only serve never came up")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("serve did not stop on SIGTERM:\n" + (tmp_path / "serve.log").read_text())


@pytest.mark.docker
def test_a_local_wait_without_docker_waits_for_a_worker(tmp_path, dead_docker, docker_client):
    path = new_store(tmp_path)
    log = (tmp_path / "wait.log").open("w")
    proc = subprocess.Popen(wfobj_argv("--store", str(path), "run", "trigger", "hello",
                                       "--wait"), cwd=ROOT, env=dead_docker, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while "waits for a worker" not in (tmp_path / "wait.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "wait.log").read_text()
            time.sleep(0.1)
        store = open_store(path)
        try:
            svc = service(store)
            (run,) = svc.list_runs()["runs"]
            assert run["state"] == "pending"  # accepted, not failed for want of Docker
            worker = Worker(store, lambda: DockerExecutor(docker_client), worker_id="later")
            worker.initialize()
            assert worker.claim_next() == run["run_id"]
            worker.execute(run["run_id"])
            worker.shutdown()
        finally:
            store.close()
        assert proc.wait(30) == 0, (tmp_path / "wait.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = (tmp_path / "wait.log").read_text()
    assert "Docker" in out and "success" in out
