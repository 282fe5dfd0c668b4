"""Exports stream (docs/exports.md, docs/limits.md "Exports"): a real `wfobj serve` (one
gunicorn worker, no engine worker: the run stays pending and is exported as it stands)
sends the RO-Crate of a run whose parameter file is 400 MiB as it builds it: the first
bytes come at once, the worker's peak memory (VmHWM) stays far below the file's size, no
temporary file is written, and the zip holds the file whole. Exports at once past the
per-process bound are answered 503 with Retry-After."""

from __future__ import annotations

import hashlib
import threading
import time
import zipfile
from pathlib import Path

import blake3
import pytest
import requests

from tests.e2e.test_trees import gunicorn_worker, peak_rss
from tests.support_e2e import ROOT, Server, start_server
from wfobj.objstore import init_store

pytestmark = pytest.mark.slow
SIZE = 400 << 20
BLOCK = 1 << 20
MAX_GROWTH = 100 << 20  # the worker's peak may grow by this much, for a 400 MiB file
FIRST_BYTE = 5.0  # seconds: a liveness bound, not a benchmark
MAX_EXPORTS = 2  # per worker process (engine/provenance/exports/__init__.py)


class Repeated:
    """SIZE bytes: one pseudo-random block over and over (the store dedups its chunks,
    so it costs the store little, but an export must read every byte)."""

    def __init__(self) -> None:
        self.block = blake3.blake3(b"wfobj export").digest(length=BLOCK)
        self.offset = 0

    def read(self, n: int = -1) -> bytes:
        n = SIZE - self.offset if n < 0 else min(n, SIZE - self.offset)
        out = bytearray()
        while len(out) < n:
            at = (self.offset + len(out)) % BLOCK
            out += self.block[at:at + n - len(out)]
        self.offset += n
        return bytes(out)


def expected_digest() -> tuple[str, str]:
    blake, sha, src = blake3.blake3(), hashlib.sha256(), Repeated()
    while piece := src.read(8 << 20):
        blake.update(piece)
        sha.update(piece)
    return blake.hexdigest(), sha.hexdigest()


def usage(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-export-stream")
    store = init_store(tmp / "store")
    oid, size = store.put_stream(Repeated())
    store.close()
    assert size == SIZE
    (tmp / "tmpdir").mkdir()
    server = start_server(tmp, engine_workers=0, workers=1,
                          env={"TMPDIR": str(tmp / "tmpdir")})
    server.big = oid  # type: ignore[attr-defined]
    server.tmpdir = tmp / "tmpdir"  # type: ignore[attr-defined]
    yield server
    assert server.stop() == 0, server.log()


@pytest.fixture(scope="module")
def run_id(srv: Server) -> str:
    put = requests.put(f"{srv.url}/api/workflows/wordcount",
                       data=(ROOT / "examples" / "wordcount.yaml").read_bytes(),
                       headers=srv.h(**{"Content-Type": "application/yaml"}), timeout=30)
    assert put.status_code == 201, put.text
    trig = requests.post(f"{srv.url}/api/workflows/wordcount/trigger",
                         json={"parameters": {"corpus": srv.big}}, headers=srv.h(), timeout=30)
    assert trig.status_code == 202, trig.text
    return trig.json()["run_id"]


def export(srv: Server, run_id: str) -> requests.Response:
    return requests.get(f"{srv.url}/api/runs/{run_id}/export/ro-crate",
                        headers=srv.h("reader"), stream=True, timeout=120)


def test_a_400_mib_crate_streams_at_once_in_bounded_memory_without_temp_files(
        srv, run_id, tmp_path):
    worker = gunicorn_worker(srv)
    before = peak_rss(worker)
    most_tmp, done = 0, threading.Event()

    def watch_tmp() -> None:
        nonlocal most_tmp
        while not done.is_set():
            most_tmp = max(most_tmp, usage(srv.tmpdir))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_tmp)
    watcher.start()
    started = time.monotonic()
    zip_path = tmp_path / "run.crate.zip"
    try:
        with export(srv, run_id) as resp, zip_path.open("wb") as fh:
            assert resp.status_code == 200, resp.text
            first = None
            for piece in resp.iter_content(BLOCK):
                first = first or time.monotonic() - started
                fh.write(piece)
    finally:
        done.set()
        watcher.join()
    total = time.monotonic() - started
    peak = peak_rss(worker)
    print(f"worker VmHWM {before / 2**20:.0f} -> {peak / 2**20:.0f} MiB, first byte after "
          f"{first:.2f} s, all after {total:.1f} s, temp disk at most {most_tmp} bytes")
    assert first < FIRST_BYTE
    assert peak - before < MAX_GROWTH, f"worker peak grew {peak - before} bytes"
    assert most_tmp == 0
    blake, sha = expected_digest()
    with zipfile.ZipFile(zip_path) as z:
        assert z.getinfo(f"files/{blake}").file_size == SIZE
        got = hashlib.sha256()
        with z.open(f"files/{blake}") as member:
            while piece := member.read(8 << 20):
                got.update(piece)
        assert got.hexdigest() == sha
        assert f'"sha256": "{sha}"' in z.read("ro-crate-metadata.json").decode()


def test_exports_past_the_bound_are_answered_503_with_retry_after(srv, run_id):
    held = [export(srv, run_id) for _ in range(MAX_EXPORTS)]
    try:
        for resp in held:
            assert resp.status_code == 200
            next(resp.iter_content(1024))  # under way, then left unread
        over = requests.get(f"{srv.url}/api/runs/{run_id}/export/prov",
                            headers=srv.h("reader"), timeout=30)
        assert over.status_code == 503, over.text
        assert int(over.headers["Retry-After"]) >= 1
        assert over.json()["title"] == "Exports busy"
    finally:
        for resp in held:
            resp.close()
    deadline = time.monotonic() + 30  # the server sees the clients go on its next write
    while True:
        again = requests.get(f"{srv.url}/api/runs/{run_id}/export/prov",
                             headers=srv.h("reader"), timeout=30)
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert again.status_code == 200, again.text
