"""What an LMDB store costs a process in memory: the pages of the file it maps are dropped
as it writes (lmdbenv.SharedEnv.accessed), and the heap LMDB's commits free is kept for
the next commit (lmdbenv.keep_freed_heap). Real LMDB, real /proc readings, no timings."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading

import blake3

from tests import ROOT
from wfobj.objstore import LmdbObjectStore, lmdbenv, open_store
from wfobj.objstore.fsck import fsck_store

MiB = 1 << 20


def mapped_bytes(store: LmdbObjectStore) -> int:
    """Bytes of the store's data.mdb this process has mapped (Rss in /proc/self/smaps)."""
    address, _ = store._env().mapping
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split(maxsplit=1)[0]
            if "-" in head and not head.endswith(":"):
                inside = int(head.split("-")[0], 16) == address
            elif inside and head == "Rss:":
                total += int(line.split()[1]) * 1024
    return total


def read_through_the_map(store: LmdbObjectStore, oid: str) -> bytes:
    """The blob's bytes, read as views of the map (every page of every chunk is mapped)."""
    return b"".join(bytes(piece) for piece in store.iter_blob(oid))


def test_dropped_pages_leave_the_process_not_the_store(tmp_path):
    store = LmdbObjectStore(tmp_path / "store", create=True)
    data = os.urandom(24 * MiB)
    oid, _ = store.put_stream(io.BytesIO(data))
    assert read_through_the_map(store, oid) == data
    assert mapped_bytes(store) >= 20 * MiB  # the whole file was just read through the map

    store._env().drop_mapped_pages()

    assert mapped_bytes(store) < 2 * MiB
    assert read_through_the_map(store, oid) == data  # mapped again from the page cache
    assert open_store(tmp_path / "store").get_raw(oid) == data


def test_write_transactions_drop_what_reads_mapped(tmp_path, monkeypatch):
    store = LmdbObjectStore(tmp_path / "store", create=True)
    oid, _ = store.put_stream(io.BytesIO(os.urandom(24 * MiB)))
    read_through_the_map(store, oid)
    before = mapped_bytes(store)
    monkeypatch.setattr(lmdbenv, "DROP_ACCESSES", 8)

    with store.batch() as batch:
        for i in range(12):  # 12 blobs: each is a lookup, a write and a stamp
            batch.put_blob(b"small %d" % i)

    assert before >= 20 * MiB
    assert mapped_bytes(store) < before / 4


def test_drops_inside_transactions_lose_nothing(tmp_path, monkeypatch):
    """Pages dropped after every access, while another thread reads views of the map:
    every byte written is read back, fsck is clean."""
    monkeypatch.setattr(lmdbenv, "DROP_ACCESSES", 1)
    monkeypatch.setattr(lmdbenv, "DROP_BYTES", 1)
    store = LmdbObjectStore(tmp_path / "store", create=True)
    first = os.urandom(12 * MiB)
    first_oid, _ = store.put_stream(io.BytesIO(first))
    stop, seen = threading.Event(), []

    def reader() -> None:
        while not stop.is_set():
            seen.append(read_through_the_map(store, first_oid) == first)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        second = os.urandom(20 * MiB)
        second_oid, _ = store.put_stream(io.BytesIO(second))
        small = [store.put_blob(b"blob %d" % i) for i in range(200)]
    finally:
        stop.set()
        thread.join()
    assert seen and all(seen)
    assert read_through_the_map(store, second_oid) == second
    assert [store.get_raw(oid) for oid in small] == [b"blob %d" % i for i in range(200)]
    assert fsck_store(store).ok


FREE_HEAP = """
import sys, tempfile
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) << 10
if sys.argv[1] == "store":
    from wfobj.objstore import init_store
    init_store(tempfile.mkdtemp(dir=sys.argv[2]))._env()
blocks = [b"\\x01" * (1 << 20) for _ in range(24)]  # 24 blocks of 1 MiB, as LMDB allocates
held = anon()
del blocks
print(held - anon())
"""


def returned_on_free(tmp_path, opened: str) -> int:
    out = subprocess.run([sys.executable, "-c", FREE_HEAP, opened, str(tmp_path)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return int(out.stdout)


def test_a_process_with_a_store_keeps_the_heap_it_frees(tmp_path):
    """Freed blocks of a megabyte stay in the heap for the next commit once a store is
    open; in a process without one, glibc hands them back (the test tells the two apart)."""
    assert returned_on_free(tmp_path, "store") < 4 * MiB
    assert returned_on_free(tmp_path, "none") >= 16 * MiB


def test_a_put_is_there_for_another_process_when_it_returns(tmp_path):
    store = LmdbObjectStore(tmp_path / "store", create=True)
    data = os.urandom(9 * MiB)
    oid, _ = store.put_stream(io.BytesIO(data))
    check = ("import sys, blake3; from wfobj.objstore import open_store; "
             "print(blake3.blake3(open_store(sys.argv[1]).get_raw(sys.argv[2])).hexdigest())")
    out = subprocess.run([sys.executable, "-c", check, str(tmp_path / "store"), oid],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == oid == blake3.blake3(data).hexdigest()
