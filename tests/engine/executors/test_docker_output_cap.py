"""A task's stdout and stderr are bounded: past the executor's cap (`--docker-max-output`)
the container is killed and the attempt fails naming the stream and the cap, keeping the
first `cap` bytes. Real Docker, real LMDB."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from wfobj.engine.executors.base import TaskSpec
from wfobj.engine.executors.docker import DockerExecutor

pytestmark = pytest.mark.docker

CAP = 1 << 20


def spec(script: str) -> TaskSpec:
    return TaskSpec(run_id=str(uuid.uuid4()), task="loud", attempt=1,
                    image="wfobj/toolbox:local", command=["sh", "-c", script], env={},
                    workdir=None, network=False, cpus=None, memory=None, timeout=120,
                    inputs=[], output_files=[], output_vars=[])


def read(store, oid: str) -> bytes:
    return b"".join(store.iter_blob(oid))


@pytest.mark.parametrize("stream, redirect", [("stdout", ""), ("stderr", " >&2")])
def test_a_stream_past_the_cap_fails_the_attempt_naming_it(docker_client, lmdb_store,
                                                           tmp_path, stream, redirect):
    ex = DockerExecutor(docker_client, work_root=str(tmp_path), max_output=CAP)
    started = time.monotonic()
    result = ex.run(spec(f"yes | head -c 50000000{redirect}; sleep 100"), lmdb_store,
                    threading.Event())
    assert time.monotonic() - started < 60  # killed at the cap, not left to run
    assert result.state == "failed"
    assert stream in result.error and str(CAP) in result.error, result.error
    kept = getattr(result, stream)
    assert kept.size == CAP
    assert read(lmdb_store, kept.oid) == b"y\n" * (CAP // 2)



def test_output_under_the_cap_is_whole(docker_client, lmdb_store, tmp_path):
    ex = DockerExecutor(docker_client, work_root=str(tmp_path), max_output=CAP)
    result = ex.run(spec(f"yes | head -c {CAP}; echo done >&2"), lmdb_store,
                    threading.Event())
    assert result.state == "success", result.error
    assert read(lmdb_store, result.stdout.oid) == b"y\n" * (CAP // 2)
    assert read(lmdb_store, result.stderr.oid) == b"done\n"
