"""The stored stdout and stderr are exactly what the container wrote, last piece included,
and Docker keeps no copy of them: the executor attaches to the container before starting
it (engine/executors/docker.py OutputTap), the container's log driver is `none`, and the
attach stream alone is the whole output. The reads of the logs endpoint this replaced lost
a last line without a newline in about 1 run in 10. Real Docker, real LMDB; the frame
splitter's masking and cap across pieces in memory."""

from __future__ import annotations

import io
import struct
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from wfobj.engine.errors import OutputTooLarge
from wfobj.engine.executors.base import TaskSpec
from wfobj.engine.executors.capture import FrameSplitter
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.executors.masking import Masker
from wfobj.engine.executors.spools import live_paths

RUNS = 80  # the log-follow race lost about 1 run in 10 of `printf`


def spec(script: str) -> TaskSpec:
    return TaskSpec(run_id=str(uuid.uuid4()), task="last", attempt=1,
                    image="wfobj/toolbox:local", command=["sh", "-c", script], env={},
                    workdir=None, network=False, cpus=None, memory=None, timeout=120,
                    inputs=[], output_files=[], output_vars=[])


def read(store, oid: str) -> bytes:
    return b"".join(store.iter_blob(oid))


INTERLEAVED = ("i=0; while [ $i -lt 3000 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done; "
               "printf end; printf END >&2")
CASES = [
    ("printf 'no newline'", b"no newline", b""),
    ("echo x", b"x\n", b""),
    ("echo out; printf 'err tail' >&2", b"out\n", b"err tail"),
    # 3 MB ending mid-line
    ("yes abc | head -c 3000001", (b"abc\n" * 750001)[:3000001], b""),
    (INTERLEAVED, b"".join(b"o%d\n" % i for i in range(3000)) + b"end",
     b"".join(b"e%d\n" % i for i in range(3000)) + b"END"),
]


@pytest.mark.docker
def test_every_run_stores_exactly_what_it_wrote(docker_client, lmdb_store, tmp_path):
    ex = DockerExecutor(docker_client, work_root=str(tmp_path))

    def one(i: int):
        script, out, err = CASES[i % len(CASES)]
        result = ex.run(spec(script), lmdb_store, threading.Event())
        got_out = read(lmdb_store, result.stdout.oid)
        got_err = read(lmdb_store, result.stderr.oid)
        ok = result.state == "success" and (got_out, got_err) == (out, err)
        return None if ok else (script[:40], result.state, result.error, len(got_out),
                                len(got_err), got_out[-20:], got_err[-20:])

    with ThreadPoolExecutor(4) as pool:
        lost = [r for r in pool.map(one, range(RUNS)) if r is not None]
    assert lost == [], f"{len(lost)} of {RUNS} runs stored other bytes: {lost[:5]}"


@pytest.mark.docker
def test_docker_keeps_no_log_of_the_container(docker_client, lmdb_store, tmp_path):
    ex = DockerExecutor(docker_client, work_root=str(tmp_path), grace=1)
    s = spec("yes | head -c 4000000; echo ready >&2; sleep 300")
    cancel = threading.Event()
    results = []
    worker = threading.Thread(target=lambda: results.append(ex.run(s, lmdb_store, cancel)))
    worker.start()
    spools = live_paths(lmdb_store, s.run_id, s.task, s.attempt)
    try:
        deadline = time.monotonic() + 60
        while not (spools["stderr"].exists() and spools["stderr"].read_bytes() == b"ready\n"):
            assert time.monotonic() < deadline, "the task never got ready"
            time.sleep(0.05)
        [container] = docker_client.containers.list(filters={"label": f"wfobj.run={s.run_id}"})
        assert container.attrs["HostConfig"]["LogConfig"]["Type"] == "none"
        assert container.attrs["LogPath"] == ""  # no json file on the daemon's disk
    finally:
        cancel.set()
        worker.join(120)
    assert results[0].state == "killed"
    assert read(lmdb_store, results[0].stdout.oid) == b"y\n" * 2000000


@pytest.mark.docker
def test_a_container_that_cannot_start_hangs_up_its_attach(docker_client, lmdb_store,
                                                           tmp_path):
    ex = DockerExecutor(docker_client, work_root=str(tmp_path), init=False)
    s = replace(spec("unused"), command=["/no/such/program"])
    started = time.monotonic()
    result = ex.run(s, lmdb_store, threading.Event())
    assert time.monotonic() - started < 20  # not the 30 s wait for a stream that never ends
    assert result.state == "failed" and result.error.startswith("container could not start")
    assert docker_client.containers.list(all=True,
                                         filters={"label": f"wfobj.run={s.run_id}"}) == []


def frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(data)) + data


def test_frames_split_across_pieces_and_calls_are_whole():
    log = frame(1, b"line one\n") + frame(2, b"warn\n") + frame(1, b"tail") + frame(2, b"!")
    out, err = io.BytesIO(), io.BytesIO()
    splitter = FrameSplitter(out, err)
    splitter.take([log[i:i + 5] for i in range(0, len(log), 5)])
    splitter.end()
    assert (out.getvalue(), err.getvalue()) == (b"line one\ntail", b"warn\n!")


def test_a_secret_split_between_two_frames_is_masked():
    out, err = io.BytesIO(), io.BytesIO()
    splitter = FrameSplitter(out, err, masker=Masker([b"hunter2secret"]))
    splitter.take([frame(1, b"key=hunter2"), frame(1, b"secret done")])
    splitter.end()
    assert out.getvalue() == b"key=*** done"


def test_the_cap_counts_every_frame_of_a_stream():
    out, err = io.BytesIO(), io.BytesIO()
    splitter = FrameSplitter(out, err, cap=10)
    with pytest.raises(OutputTooLarge):
        splitter.take([frame(1, b"123456"), frame(2, b"e"), frame(1, b"789abc")])
    assert (out.getvalue(), err.getvalue()) == (b"123456789a", b"e")


@pytest.mark.docker
def test_a_broken_output_stream_fails_a_successful_exit_keeping_what_arrived(
        docker_client, lmdb_store, tmp_path, monkeypatch):
    """The stream is the only copy: if it breaks (the daemon restarted, say), the stored
    streams would not be what the task wrote, so the attempt fails saying so."""
    import requests

    from wfobj.engine.executors import docker as docker_executor

    real = docker_executor.read_pieces

    def breaking(response):
        pieces = real(response)
        yield next(pieces)  # the first piece arrives, then the connection drops
        raise requests.exceptions.ChunkedEncodingError("Connection broken")

    monkeypatch.setattr(docker_executor, "read_pieces", breaking)
    ex = DockerExecutor(docker_client, work_root=str(tmp_path))
    result = ex.run(spec("echo first; sleep 1; echo second"), lmdb_store, threading.Event())
    assert result.state == "failed" and result.exit_code == 0
    assert result.error.startswith("reading the container's output failed (")
    assert "may be incomplete" in result.error
    assert read(lmdb_store, result.stdout.oid) == b"first\n"
