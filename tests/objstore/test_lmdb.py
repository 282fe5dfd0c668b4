"""LMDB-only behaviour: on-disk corruption, automatic map growth, several processes."""

from __future__ import annotations

import multiprocessing
import os

import blake3
import pytest

from tests.support_damage import flip_byte_on_disk
from wfobj.objstore import ChecksumMismatch, Link, LmdbObjectStore, StoreNotFound, open_store
from wfobj.objstore.fsck import fsck_store


def test_open_missing_store_says_so(tmp_path):
    with pytest.raises(StoreNotFound, match="wfobj init"):
        open_store(tmp_path / "nothing")


def test_flipped_byte_on_disk_is_detected(tmp_path):
    path = tmp_path / "store"
    store = LmdbObjectStore(path, create=True)
    marker = b"wfobj-corruption-marker-" * 40
    oid = store.put_blob(marker)
    store.add_ref_if_new("workflows/precious", oid)
    healthy = store.put_blob(b"a healthy neighbour")
    store.close()

    flip_byte_on_disk(path, marker)

    store = LmdbObjectStore(path)
    with pytest.raises(ChecksumMismatch) as info:
        store.get_raw(oid)
    assert info.value.expected == oid
    assert oid in str(info.value)
    assert store.get_raw(healthy) == b"a healthy neighbour"
    report = fsck_store(store)
    assert not report.ok
    assert oid in report.bad_hashes()
    assert healthy not in report.bad_hashes()
    store.close()


def test_flipped_byte_in_structured_object(tmp_path):
    path = tmp_path / "store"
    store = LmdbObjectStore(path, create=True)
    blob = store.put_blob(b"leaf")
    marker = "structured-marker-" * 20
    oid = store.put_object({"type": "tree", "note": marker, "leaf": Link.blob(blob)})
    store.close()
    flip_byte_on_disk(path, marker.encode())
    store = LmdbObjectStore(path)
    with pytest.raises(ChecksumMismatch, match=oid):
        store.get_object(oid)
    with pytest.raises(ChecksumMismatch, match=oid):
        store.get_raw(oid)
    assert store.get_raw(blob) == b"leaf"
    assert oid in fsck_store(store).bad_hashes()
    store.close()


def test_map_grows_automatically(tmp_path):
    store = LmdbObjectStore(tmp_path / "store", create=True, map_size=1 << 20)
    oids = []
    for i in range(40):  # many small commits
        oids.append(store.put_blob(os.urandom(64 << 10) + bytes([i])))
    with store.batch() as b:  # and one batch far larger than the initial map
        for _ in range(200):
            oids.append(b.put_blob(os.urandom(64 << 10)))
    assert all(o in store for o in oids)
    assert store.stats()["map_size"] > 1 << 20
    store.close()
    reopened = LmdbObjectStore(tmp_path / "store", map_size=1 << 20)
    assert sum(1 for _ in reopened) == len(oids)
    assert reopened.get_raw(oids[-1])
    reopened.close()


def _worker(path: str, shared_store: LmdbObjectStore | None, worker: int, count: int) -> None:
    """Each child writes objects linking a common blob, bumps a shared counter by CAS,
    and reads what the others wrote."""
    store = shared_store if shared_store is not None else LmdbObjectStore(path)
    common = store.get_ref("common")
    mine = []
    for i in range(count):
        blob = store.put_blob(f"w{worker}-{i}".encode() + os.urandom(2048))
        mine.append(store.put_object({"type": "tree", "w": worker, "i": i,
                                      "blob": Link.blob(blob), "common": Link.blob(common)}))
        while True:
            raw = store.meta_get("test", "counter")
            if store.meta_cas("test", "counter", raw, str(int(raw or b"0") + 1).encode()):
                break
    assert store.add_ref_if_new(f"workers/{worker}", mine[-1])
    for oid in mine:
        assert store.get_object(oid)["w"] == worker
    for _name, oid in store.refs("workers/"):
        assert store.get_object(oid)["type"] == "tree"
    os._exit(0)


@pytest.mark.parametrize("opened_before_fork", [True, False])
def test_several_processes_stay_consistent(tmp_path, opened_before_fork):
    path = tmp_path / "store"
    store = LmdbObjectStore(path, create=True, map_size=1 << 20)  # forces growth under load
    common = store.put_blob(b"common")
    store.add_ref_if_new("common", common)
    assert store.get_raw(common) == b"common"  # parent has a live env and read snapshot
    ctx = multiprocessing.get_context("fork")
    workers, count = 4, 30
    procs = [
        ctx.Process(target=_worker,
                    args=(str(path), store if opened_before_fork else None, w, count))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    # the parent keeps reading and writing while the children run
    parent_oids = [store.put_blob(os.urandom(4096)) for _ in range(50)]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert store.meta_get("test", "counter") == str(workers * count).encode()
    assert sorted(n for n, _ in store.refs("workers/")) == [f"workers/{w}" for w in range(workers)]
    assert all(store.get_raw(o) for o in parent_oids)
    assert fsck_store(store).ok
    trees = [o for o in store if store.type_of(o) == "tree"]
    assert len(trees) == workers * count
    store.close()
    assert blake3.blake3(b"common").hexdigest() == common


def test_prefix_scans_page_through_their_keys_and_read_no_further(tmp_path):
    from wfobj.objstore.lmdbstore import SCAN_PAGE

    store = LmdbObjectStore(tmp_path / "s", create=True)
    n = SCAN_PAGE + 7  # more than one page of the prefix, with neighbours on both sides
    with store.batch() as b:
        for i in range(SCAN_PAGE):
            b.meta_put("ns", f"a/{i:05d}", b"before")
            b.meta_put("ns", f"c/{i:05d}", b"after")
        for i in range(n):
            b.meta_put("ns", f"b/{i:05d}", str(i).encode())
    read = []
    real_read = store._read

    def counting_read(fn):  # how many entries each short read transaction returned
        out = real_read(fn)
        if isinstance(out, list):
            read.append(len(out))
        return out

    store._read = counting_read
    forward = list(store.meta_scan("ns", "b/"))
    assert [k for k, _ in forward] == [f"b/{i:05d}" for i in range(n)]
    assert sum(read) == n
    read.clear()
    backward = list(store.meta_scan("ns", "b/", reverse=True))
    assert [k for k, _ in backward] == [f"b/{i:05d}" for i in reversed(range(n))]
    assert sum(read) == n
    read.clear()
    assert list(store.meta_scan("ns", "bb")) == [] and sum(read) == 0
    # a scan that takes one key reads one past the cursor at most, not a page
    newest = list(store.meta_scan("ns", "b/", start_after=f"b/{n - 1:05d}", reverse=True,
                                  limit=1))
    assert newest == [(f"b/{n - 2:05d}", str(n - 2).encode())] and sum(read) <= 2
    read.clear()
    assert len(list(store.meta_scan("ns", "b/", limit=3))) == 3 and sum(read) <= 4
    store.close()
