"""A real `wfobj serve` on a store open to other users says so once, in one line, and
what it writes in the store is its owner's only. Real gunicorn, engine workers, LMDB."""

from __future__ import annotations

import os
import stat
import time

import pytest
import requests

from tests.objstore.test_private_store import umask
from tests.support_e2e import start_server
from wfobj.objstore import init_store

pytestmark = pytest.mark.slow


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_serve_warns_once_about_an_exposed_store(docker_client, tmp_path):
    store = tmp_path / "store"
    init_store(store).close()
    store.chmod(0o755)
    srv = start_server(tmp_path, engine_workers=2, workers=2)
    try:
        def serving() -> int:  # engine workers and the webhook deliverer that opened the store
            return sum(1 for line in srv.log().splitlines() if " serving " in line)

        deadline = time.monotonic() + 30
        while serving() < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # both engine workers and the deliverer opened the store
        assert serving() == 3, srv.log()
        lines = [line for line in srv.log().splitlines() if "warning" in line]
        assert len(lines) == 1, srv.log()  # not again by gunicorn or an engine worker
        assert lines[0].startswith(f"wfobj serve: warning: {store} is mode 0755")
    finally:
        assert srv.stop() == 0, srv.log()


def test_what_serve_writes_in_the_store_is_private_under_a_lax_umask(docker_client, tmp_path):
    with umask(0o022):
        srv = start_server(tmp_path, tokens=False, engine_workers=1, workers=1)
    try:
        store = srv.store_path
        assert {name: mode(store / name) for name in os.listdir(store)} == {
            "data.mdb": 0o600, "lock.mdb": 0o600, "admin-token": 0o600,
            "signing-key.pem": 0o600}
        assert mode(store) == 0o700
        assert "warning" not in srv.log()
    finally:
        assert srv.stop() == 0, srv.log()


def test_first_start_rewrites_a_stale_admin_token_file_private(tmp_path):
    store = tmp_path / "store"
    init_store(store).close()
    stale = store / "admin-token"
    stale.write_text("left over\n")
    stale.chmod(0o644)
    srv = start_server(tmp_path, tokens=False, engine_workers=0, workers=1)
    try:
        assert mode(stale) == 0o600
        token = stale.read_text().strip()
        assert requests.get(srv.url + "/api/workflows", timeout=10,
                            headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        assert srv.stop() == 0, srv.log()
