"""`wfobj serve` as processes: idle or slow clients cannot take the API down, every
child dies with the supervisor (even kill -9), and a serve that cannot start (port taken,
API not booting) touches nothing. Real gunicorn on loopback, real LMDB, real Docker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support_e2e import ROOT, free_port, snapshot, start_server, wfobj_argv

pytestmark = pytest.mark.slow

SLOW_TASK = {"tasks": {"nap": {"image": "wfobj/toolbox:local", "command": ["sleep", "1"]}}}


def host_port(url: str) -> tuple[str, int]:
    host, port = url.rsplit("//", 1)[1].split(":")
    return host, int(port)


def health_ok(url: str, timeout: float = 3.0) -> bool:
    try:
        return requests.get(url + "/api/health", timeout=timeout).ok
    except requests.RequestException:
        return False


# ---- hole 4: idle clients ------------------------------------------------------------

def test_idle_and_half_sent_requests_do_not_block_the_api(tmp_path):
    srv = start_server(tmp_path, engine_workers=0, workers=2)
    clients = []
    try:
        for i in range(10):  # five times as many connections as worker processes
            conn = socket.create_connection(host_port(srv.url))
            if i % 2:
                conn.sendall(b"GET /api/hea")  # half a request line, never finished
            clients.append(conn)
        time.sleep(0.5)
        for _ in range(5):
            started = time.monotonic()
            assert health_ok(srv.url), srv.log()
            assert time.monotonic() - started < 2.5
    finally:
        for conn in clients:
            conn.close()
        srv.stop()


def test_a_stalled_request_is_cut_off_after_the_client_timeout(tmp_path):
    srv = start_server(tmp_path, engine_workers=0, workers=1, extra=("--client-timeout", "1"))
    try:
        conn = socket.create_connection(host_port(srv.url))
        conn.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")  # headers never end
        conn.settimeout(15)
        started = time.monotonic()
        try:
            data = conn.recv(4096)
        except ConnectionResetError:
            data = b""
        assert data == b"" or data.startswith(b"HTTP/1.1 4"), data
        assert time.monotonic() - started < 10
        conn.close()
        assert health_ok(srv.url)
    finally:
        srv.stop()


def stalled_body(srv) -> bytes:
    return (f"POST /api/objects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            f"{srv.tokens['runner']}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: 1000000\r\n\r\nonly-a-few-bytes").encode()


def stalled_download(srv) -> bytes:
    data = os.urandom(32 << 20)  # far more than the socket buffers hold
    oid = requests.post(f"{srv.url}/api/objects", data=data, timeout=60,
                        headers=srv.h("runner", **{"Content-Type": "application/octet-stream"})
                        ).json()["hash"]
    return (f"GET /api/objects/{oid} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            f"{srv.tokens['reader']}\r\n\r\n").encode()


@pytest.mark.parametrize("request_of", [stalled_body, stalled_download],
                         ids=["upload-never-finished", "download-never-read"])
def test_a_stalled_body_frees_its_thread_after_the_client_timeout(tmp_path, request_of):
    srv = start_server(tmp_path, engine_workers=0, workers=1,
                       extra=("--threads", "1", "--client-timeout", "1"))
    try:
        raw = request_of(srv)
        conn = socket.create_connection(host_port(srv.url))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.sendall(raw)  # and then neither sends nor reads any more
        time.sleep(0.3)
        started = time.monotonic()
        assert health_ok(srv.url, timeout=20), srv.log()  # the one thread came free
        assert time.monotonic() - started < 10
        conn.close()
    finally:
        srv.stop()


def test_threads_share_one_lmdb_store_safely(tmp_path):
    """Threaded workers: many requests at once writing and reading the one LMDB handle
    of each worker process, every answer right."""
    from concurrent.futures import ThreadPoolExecutor

    import blake3

    srv = start_server(tmp_path, engine_workers=0, workers=2, extra=("--threads", "8"))
    up = srv.h("runner", **{"Content-Type": "application/octet-stream"})

    def round_trip(i: int) -> bool:
        data = os.urandom(1000 + i * 997)
        oid = requests.post(f"{srv.url}/api/objects", data=data, headers=up,
                            timeout=60).json()["hash"]
        got = requests.get(f"{srv.url}/api/objects/{oid}", headers=srv.h("reader"), timeout=60)
        listed = requests.get(f"{srv.url}/api/runs", headers=srv.h("reader"), timeout=60)
        return (oid == blake3.blake3(data).hexdigest() and got.content == data
                and listed.status_code == 200)

    try:
        with ThreadPoolExecutor(32) as pool:
            assert all(pool.map(round_trip, range(200)))
    finally:
        srv.stop()


# ---- hole 5: children die with their supervisor --------------------------------------

def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie is dead, only not reaped by its new parent


def test_kill_9_of_the_supervisor_takes_every_child_down(tmp_path):
    srv = start_server(tmp_path, engine_workers=2, workers=2)
    port = host_port(srv.url)[1]
    deadline = time.monotonic() + 30  # arbiter + 2 gunicorn workers + 2 engine workers
    while len(family := descendants(srv.proc.pid)) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    srv.proc.kill()
    srv.proc.wait()
    assert len(family) >= 5, family
    deadline = time.monotonic() + 30
    while any(alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in family if alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "children outlived their supervisor"
    again = start_server(tmp_path, engine_workers=1, workers=1, port=port)
    try:
        assert health_ok(again.url)
    finally:
        again.stop()


# ---- hole 6: a serve that cannot start touches nothing -------------------------------

def trigger_pending(srv, n: int) -> list[str]:
    h = srv.h("runner")
    assert requests.put(f"{srv.url}/api/workflows/nap", json=SLOW_TASK, headers=h,
                        timeout=10).status_code == 201
    return [requests.post(f"{srv.url}/api/workflows/nap/trigger", json={}, headers=h,
                          timeout=10).json()["run_id"] for _ in range(n)]


def states(srv, run_ids: list[str]) -> set[str]:
    return {requests.get(f"{srv.url}/api/runs/{r}", headers=srv.h("reader"),
                         timeout=10).json()["state"] for r in run_ids}


def test_a_second_serve_on_a_busy_port_fails_alone(tmp_path, docker_client):
    srv = start_server(tmp_path, engine_workers=0, workers=1)
    try:
        run_ids = trigger_pending(srv, 6)
        before = snapshot(srv.store_path)
        second = subprocess.run(
            wfobj_argv("--store", str(srv.store_path), "serve", "--bind",
                       srv.url.rsplit("//", 1)[1], "--engine-workers", "2"),
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        lines = (second.stdout + second.stderr).strip().splitlines()
        assert len(lines) == 1 and "already in use" in lines[0], lines
        assert snapshot(srv.store_path) == before
        assert states(srv, run_ids) == {"pending"}
        assert health_ok(srv.url)
    finally:
        srv.stop()


def test_engine_workers_wait_for_the_api_and_never_start_if_it_fails(tmp_path,
                                                                     docker_client):
    srv = start_server(tmp_path, engine_workers=0, workers=1)
    try:
        run_ids = trigger_pending(srv, 3)
    finally:
        srv.stop()
    before = snapshot(srv.store_path)
    broken = {**os.environ, "WFOBJ_MAX_UPLOAD": "not-a-number"}  # get_app() fails to boot
    failed = subprocess.run(
        wfobj_argv("--store", str(srv.store_path), "serve", "--bind",
                   f"127.0.0.1:{free_port()}", "--engine-workers", "2"),
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=broken)
    assert failed.returncode != 0
    assert "API" in failed.stderr.strip().splitlines()[-1]
    after = snapshot(srv.store_path)
    assert after == before, "a serve whose API never came up claimed runs"
    assert len(run_ids) == 3
