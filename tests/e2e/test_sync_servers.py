"""Two real gunicorn servers on loopback, each on its own store: push, pull, re-push."""

from __future__ import annotations

import pytest

from tests.support_sync import make_run, serve_sync, verify_store
from wfobj.cli.client.sync import HttpRemote
from wfobj.engine.upkeep.sync_policy import EngineRefPolicy
from wfobj.objstore import init_store, open_store
from wfobj.objstore.sync import UNCHANGED, UPDATED, pull, push

POLICY = EngineRefPolicy()


@pytest.fixture
def two_servers(tmp_path):
    procs, urls = [], []
    for name in ("server1", "server2"):
        proc, url = serve_sync(tmp_path / name)
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
