"""Two real gunicorn servers on loopback, each on its own store: push, pull, re-push."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.sync_http import HttpRemote
from engine.sync_policy import EngineRefPolicy
from objstore import init_store, open_store
from objstore.sync import UNCHANGED, UPDATED, pull, push

from .support_sync import make_run, verify_store

ROOT = Path(__file__).resolve().parent.parent


POLICY = EngineRefPolicy()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(store_path: Path):
    init_store(store_path).close()
    port = _free_port()
    env = dict(os.environ, WFOBJ_STORE=str(store_path))
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "--pythonpath",
            str(ROOT),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "tests.support_sync:bare_sync_app()",
        ],
        env=env,
        cwd=ROOT,
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("gunicorn exited") from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


@pytest.fixture
def two_servers(tmp_path):
    procs, urls = [], []
    for name in ("server1", "server2"):
        proc, url = _serve(tmp_path / name)
        procs.append(proc)
        urls.append(url)
    yield urls, [tmp_path / "server1", tmp_path / "server2"]
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=20)


def test_push_pull_repush_between_servers(two_servers, tmp_path):
    (url1, url2), server_paths = two_servers
    local = init_store(tmp_path / "local")
    name, manifest = make_run(local, tasks=4, big=6 << 20)
    total = len(list(local))

    first = push(local, HttpRemote(url1, None), POLICY, pack_bytes=1 << 20)
    assert first.objects == total and first.packs > 1
    assert [(r.name, r.status) for r in first.refs] == [(name, UPDATED)]
    again = push(local, HttpRemote(url1, None), POLICY)
    assert (again.objects, again.bytes) == (0, 0)
    assert [r.status for r in again.refs] == [UNCHANGED]

    before = set(local)
    second_name, _ = make_run(local, tasks=2)
    new = set(local) - before
    assert push(local, HttpRemote(url1, None), POLICY).objects == len(new)

    third = init_store(tmp_path / "third")
    pulled = pull(third, HttpRemote(url1, None), POLICY)
    assert pulled.objects == len(list(local))
    assert push(third, HttpRemote(url2, None), POLICY).objects == len(list(local))

    stores = [local, third, *(open_store(p) for p in server_paths)]
    for st in stores:
        assert verify_store(st) == len(list(local))
        assert st.get_ref(name) == manifest
        assert dict(st.refs()) == dict(local.refs())
    assert second_name in dict(third.refs())
