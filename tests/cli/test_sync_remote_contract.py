"""One contract for objstore.sync.Remote, run against both transports: a store reached by
path (LocalRemote) and a server reached by URL (cli.sync_http.HttpRemote, gunicorn serving
the sync routes). Each remote's store lives at a path the test also opens to check it."""

from __future__ import annotations

import pytest

from tests.support_sync import (
    CutRemote,
    make_run,
    make_workflow_version,
    sent_bytes,
    serve_sync,
    set_workflow,
    verify_store,
    wide_tree,
)
from wfobj.cli.client.sync import HttpRemote
from wfobj.engine.upkeep.sync_policy import EngineRefPolicy
from wfobj.objstore import Link, WfobjError, init_store, open_store
from wfobj.objstore.car import CarReader, IterStream, iter_pack
from wfobj.objstore.sync import REFUSED, UNCHANGED, UPDATED, LocalRemote, RefUpdate, pull, push
from wfobj.objstore.walk import walk_closure

POLICY = EngineRefPolicy()


@pytest.fixture(params=["path", "url"])
def remote(request, tmp_path):
    """(a Remote, the path of the store behind it)."""
    path = tmp_path / "remote"
    if request.param == "path":
        store = init_store(path)
        yield LocalRemote(store, POLICY), path
        store.close()
        return
    proc, url = serve_sync(path)
    http = HttpRemote(url, None)
    yield http, path
    http.close()
    proc.terminate()
    proc.wait(timeout=20)


def remote_refs(path) -> dict:
    store = open_store(path)
    try:
        return dict(store.refs())
    finally:
        store.close()


def remote_objects(path) -> set:
    store = open_store(path)
    try:
        return set(store)
    finally:
        store.close()


def test_push_then_push_again_then_pull(remote, tmp_path):
    rem, path = remote
    local = init_store(tmp_path / "local")
    name, manifest = make_run(local, tasks=3, big=3 << 20)
    first = push(local, rem, POLICY)
    assert first.objects == len(list(local))
    assert [(r.name, r.status) for r in first.refs] == [(name, UPDATED)]
    assert rem.list_refs() == {name: manifest} == remote_refs(path)
    again = push(local, rem, POLICY)
    assert (again.objects, again.bytes) == (0, 0) and [r.status for r in again.refs] == [UNCHANGED]
    other = init_store(tmp_path / "other")
    pulled = pull(other, rem, POLICY)
    assert pulled.objects == len(list(local)) and other.get_ref(name) == manifest
    assert verify_store(other) == len(list(local))


def test_missing_names_exactly_what_the_remote_lacks(remote, tmp_path):
    rem, _ = remote
    local = init_store(tmp_path / "local")
    _, manifest = make_run(local, tasks=1)
    ids = sorted(local)
    assert sorted(rem.missing(ids)) == ids
    push(local, rem, POLICY)
    assert rem.missing(ids) == []
    assert set(rem.list_objects([manifest], [])) == set(ids)
    assert rem.list_objects([manifest], [manifest]) == []


def test_a_pack_and_its_listing_round_trip(remote, tmp_path):
    rem, _ = remote
    local = init_store(tmp_path / "local")
    name, manifest = make_run(local, tasks=2)
    ids = list(walk_closure(local, [manifest]))  # children first, as a pack must be
    data = b"".join(iter_pack(local, ids))
    stats = rem.send_pack([data], len(data))
    assert stats.blocks == len(ids) and stats.stored == len(ids)
    assert rem.missing(ids) == []
    fetched = [block.oid for block in CarReader(IterStream(rem.fetch_pack([manifest], [])))]
    assert sorted(fetched) == sorted(ids)
    results = rem.update_refs([RefUpdate(name, None, manifest)], force=False)
    assert [(r.name, r.status) for r in results] == [(name, UPDATED)]


def test_a_diverged_workflow_is_refused_without_force(remote, tmp_path):
    rem, path = remote
    a, b = init_store(tmp_path / "a"), init_store(tmp_path / "b")
    set_workflow(a, "wc", make_workflow_version(a, "wc", "one"))
    push(a, rem, POLICY)
    set_workflow(b, "wc", make_workflow_version(b, "wc", "two"))
    before = remote_refs(path)
    report = push(b, rem, POLICY)
    assert [r.status for r in report.refs] == [REFUSED]
    assert remote_refs(path) == before


def test_a_ref_to_a_blob_is_refused_and_moves_nothing(remote, tmp_path):
    rem, path = remote
    local = init_store(tmp_path / "local")
    blob = local.put_blob(b"not a workflow")
    push(local, rem, POLICY, names=[])
    data = b"".join(iter_pack(local, [blob]))
    rem.send_pack([data], len(data))
    with pytest.raises(WfobjError, match="points at a blob"):
        rem.update_refs([RefUpdate("workflows/wc", None, blob)], force=True)
    assert remote_refs(path) == {}


def test_a_push_killed_part_way_resumes_with_what_the_remote_lacks(remote, tmp_path):
    """Over 30,000 objects (a folder of tiny files, then chunked ones): the re-run of a
    push cut after two packs sends exactly the objects the remote lacks, whatever lies
    beyond the first rounds of negotiation."""
    rem, path = remote
    local = init_store(tmp_path / "local")
    tree, _ = wide_tree(local, files=30_000, big=4)
    name, _ = make_run(local, tasks=1, links={"outputs": Link.obj(tree)})
    with pytest.raises(ConnectionError):
        push(local, CutRemote(rem, packs=2), POLICY)
    lacking = set(local) - remote_objects(path)
    assert 0 < len(lacking) < len(list(local)) // 100
    report = push(local, rem, POLICY)
    assert (report.objects, report.bytes) == (len(lacking),
                                              sent_bytes(local, lacking, report.packs))
    assert [(r.name, r.status) for r in report.refs] == [(name, UPDATED)]
    assert remote_objects(path) == set(local)
