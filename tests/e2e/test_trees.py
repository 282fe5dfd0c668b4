"""Trees through a real `wfobj serve` (gunicorn, LMDB): a 200 MiB tar sent chunked from a
generator is stored without the API worker's memory growing with it (its peak resident
set, VmHWM, stays far below the upload's size), and the file comes back whole."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
import requests

from tests.support_e2e import Server, start_server

pytestmark = pytest.mark.slow
UPLOAD = 200 << 20
PIECE = 1 << 20
MAX_WORKER_PEAK = 150 << 20


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def gunicorn_worker(srv: Server) -> int:
    """The one gunicorn worker of a `serve --workers 1`: the child of gunicorn's arbiter."""
    arbiters = [p for p in children(srv.proc.pid) if b"gunicorn" in cmdline(p)]
    assert len(arbiters) == 1, arbiters
    workers = children(arbiters[0])
    assert len(workers) == 1, workers
    return workers[0]


def cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def peak_rss(pid: int) -> int:
    """VmHWM: the most resident memory the process has had, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def tar_of_one_file(name: str, size: int, hasher) -> Iterator[bytes]:
    """A tar holding one file of `size` pseudo-random bytes, made piece by piece (never
    whole in this process either); `hasher` sees the file's bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    yield info.tobuf(tarfile.PAX_FORMAT)
    stream = blake3.blake3(b"wfobj tree upload")
    for offset in range(0, size, PIECE):
        piece = stream.digest(length=min(PIECE, size - offset), seek=offset)
        hasher.update(piece)
        yield piece
    yield bytes(-size % 512) + bytes(1024)


@pytest.fixture
def srv(tmp_path):
    server = start_server(tmp_path, engine_workers=0, workers=1)
    yield server
    assert server.stop() == 0, server.log()


def test_a_200_mib_tar_streams_into_the_store_in_bounded_memory(srv):
    worker = gunicorn_worker(srv)
    before = peak_rss(worker)
    hasher = blake3.blake3()
    r = requests.post(f"{srv.url}/api/trees", data=tar_of_one_file("data/big.bin", UPLOAD, hasher),
                      headers=srv.h(**{"Content-Type": "application/x-tar"}), timeout=300)
    assert r.status_code == 201, r.text
    peak = peak_rss(worker)
    print(f"gunicorn worker VmHWM: {before / 2**20:.1f} MiB before, {peak / 2**20:.1f} MiB "
          f"after a {UPLOAD / 2**20:.0f} MiB tar upload")
    assert peak < MAX_WORKER_PEAK, f"worker peak {peak} bytes for a {UPLOAD}-byte upload"
    assert r.json()["files"] == 1 and r.json()["size"] == UPLOAD
    listed = requests.get(f"{srv.url}/api/trees/{r.json()['hash']}",
                          params={"recursive": "true"}, headers=srv.h("reader"), timeout=30)
    assert [(e["path"], e["hash"], e["size"]) for e in listed.json()["entries"]] == [
        ("data/big.bin", hasher.hexdigest(), UPLOAD)]
    got = blake3.blake3()
    with requests.get(f"{srv.url}/api/trees/{r.json()['hash']}/files/data/big.bin",
                      headers=srv.h("reader"), stream=True, timeout=300) as down:
        assert down.status_code == 200
        for piece in down.iter_content(PIECE):
            got.update(piece)
    assert got.hexdigest() == hasher.hexdigest()
