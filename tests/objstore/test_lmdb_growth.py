"""LMDB growth stays bounded under a live server: no read snapshot outlives the call that
needed it, so the pages each commit frees are reused, whatever other processes do.

LMDB cannot reuse a page freed after the oldest snapshot any process still holds. The
reader below reads through the store (as an API worker or a CLI does), then goes idle
while the uploads run: a snapshot kept for reuse would pin every page freed meanwhile."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import requests

from tests.support_e2e import ROOT, start_server

UPLOADS = 10_000
LIMIT_PER_UPLOAD = 4096

READER = textwrap.dedent("""
    import sys, time
    from wfobj.objstore import open_store
    store = open_store(sys.argv[1])
    for _ in range(100):  # lookups and scans, each in its own short snapshot
        for name, oid in store.refs():
            store.get_object(oid)
        list(store.meta_scan("tokens", limit=10))
        store.get_raw(sys.argv[2])
    print("read, now idle", flush=True)
    time.sleep(3600)
""")


@pytest.mark.slow
def test_small_uploads_grow_data_mdb_by_under_4k_each(tmp_path):
    server = start_server(tmp_path, engine_workers=1)
    session = requests.Session()
    session.headers.update(server.h("runner", **{"Content-Type": "application/octet-stream"}))
    first = session.post(f"{server.url}/api/objects", data=os.urandom(32), timeout=10)
    assert first.status_code == 201, first.text
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(server.store_path), first.json()["hash"]],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "read, now idle"
        data_file = server.store_path / "data.mdb"
        before = data_file.stat().st_size
        for _ in range(UPLOADS):
            resp = session.post(f"{server.url}/api/objects", data=os.urandom(32), timeout=10)
            assert resp.status_code == 201, resp.text
        grown = data_file.stat().st_size - before
        print(f"data.mdb grew {grown} bytes for {UPLOADS} uploads")
        assert reader.poll() is None, "the reader died"
        assert grown < UPLOADS * LIMIT_PER_UPLOAD, (
            f"data.mdb grew {grown} bytes for {UPLOADS} uploads "
            f"({grown / UPLOADS:.0f} bytes each)")
    finally:
        reader.kill()
        reader.wait()
        server.stop()
