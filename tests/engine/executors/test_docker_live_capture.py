"""The Docker executor follows a container's output into the store's live-log spools while
it runs (engine/live_logs.py), then stores them as blobs and removes the spools. Real
Docker, real LMDB store."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import docker
import pytest

from wfobj.engine.executors.base import TaskSpec
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.executors.spools import live_paths

pytestmark = pytest.mark.docker


def spec(script: str) -> TaskSpec:
    return TaskSpec(run_id=str(uuid.uuid4()), task="talk", attempt=1,
                    image="wfobj/toolbox:local", command=["sh", "-c", script], env={},
                    workdir=None, network=False, cpus=None, memory=None, timeout=60,
                    inputs=[], output_files=[], output_vars=[])


def read(store, oid: str) -> bytes:
    return b"".join(store.iter_blob(oid))


def test_output_is_in_the_live_spool_while_the_task_runs(docker_client, lmdb_store, tmp_path):
    ex = DockerExecutor(docker_client, work_root=str(tmp_path))
    s = spec("echo first; sleep 4; echo second >&2")
    paths = live_paths(lmdb_store, s.run_id, s.task, s.attempt)
    results = []
    worker = threading.Thread(target=lambda: results.append(
        ex.run(s, lmdb_store, threading.Event())))
    worker.start()
    deadline = time.monotonic() + 60
    while not (paths["stdout"].exists() and paths["stdout"].read_bytes() == b"first\n"):
        assert time.monotonic() < deadline, "the first line never reached the spool"
        time.sleep(0.05)
    assert worker.is_alive() and not results  # the attempt is still running
    worker.join(60)
    result = results[0]
    assert result.state == "success"
    assert read(lmdb_store, result.stdout.oid) == b"first\n"
    assert read(lmdb_store, result.stderr.oid) == b"second\n"
    assert not paths["stdout"].exists() and not paths["stdout"].parent.exists()


def test_a_task_quieter_than_the_clients_read_timeout_is_followed_to_the_end(
        docker_client, lmdb_store, tmp_path, caplog):
    client = docker.from_env(timeout=2)  # the task is silent for longer than this
    ex = DockerExecutor(client, work_root=str(tmp_path))
    try:
        with caplog.at_level(logging.WARNING, logger="wfobj.engine.executors.docker"):
            result = ex.run(spec("echo a; sleep 4; echo b >&2; echo c"), lmdb_store,
                            threading.Event())
    finally:
        client.close()
    assert result.state == "success", result.error
    assert read(lmdb_store, result.stdout.oid) == b"a\nc\n"
    assert read(lmdb_store, result.stderr.oid) == b"b\n"
    assert "fetching them again" not in caplog.text  # the followed stream had it all


def test_a_killed_task_keeps_what_it_wrote(docker_client, lmdb_store, tmp_path):
    ex = DockerExecutor(docker_client, work_root=str(tmp_path), grace=1)
    s = spec("echo before; sleep 300")
    paths = live_paths(lmdb_store, s.run_id, s.task, s.attempt)
    cancel = threading.Event()
    results = []
    worker = threading.Thread(target=lambda: results.append(ex.run(s, lmdb_store, cancel)))
    worker.start()
    deadline = time.monotonic() + 60
    while not (paths["stdout"].exists() and paths["stdout"].read_bytes()):
        assert time.monotonic() < deadline, "the task never wrote"
        time.sleep(0.05)
    cancel.set()
    worker.join(60)
    assert results[0].state == "killed"
    assert read(lmdb_store, results[0].stdout.oid) == b"before\n"
    assert not paths["stdout"].exists()
