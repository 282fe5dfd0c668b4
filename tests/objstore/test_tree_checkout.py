"""`checkout_tree` with its writer threads: the same folder whatever the number of writers
and the batch sizes, every file verified before it is written, and on an error (a damaged
blob, a failed write) no file holding other bytes than its blob's, nothing left aside,
every descriptor closed and every writer stopped. Real LMDB stores, real folders."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from tests.objstore.test_trees import make_folder
from tests.support_damage import flip_byte_on_disk
from wfobj.objstore import ChecksumMismatch, LmdbObjectStore, put_directory
from wfobj.objstore import trees as trees_module
from wfobj.objstore.trees import checkout_tree, walk_tree


def many_files() -> dict[str, bytes]:
    """300 small files over nested folders (some sharing bytes) and one chunked file."""
    files = {f"d{i % 7}/e{i % 3}/f{i:03d}.txt": (b"%d\n" % i) * (1 + i % 50) for i in range(300)}
    files.update({"same/a": b"shared\n", "same/b": b"shared\n", "top.txt": b"top\n"})
    files["big/large.bin"] = os.urandom(trees_module.chunking.CHUNK_THRESHOLD + 4096)
    return files


def tree_on_disk(root) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in root.rglob("*") if p.is_file()}


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("wfobj-checkout")]


@pytest.fixture
def store(tmp_path):
    opened = LmdbObjectStore(tmp_path / "store", create=True)
    yield opened
    opened.close()


@pytest.mark.parametrize("writers", [0, 1, 2, 5])
def test_any_number_of_writers_gives_the_same_folder(store, tmp_path, monkeypatch, writers):
    monkeypatch.setattr(trees_module, "WRITE_BATCH_FILES", 7)  # many batches, pending
    monkeypatch.setattr(trees_module, "WRITES_PENDING", 3)  # trimmed often
    files = many_files()
    stored = put_directory(store, make_folder(tmp_path / "d", files,
                                              executable={"d1/e1/f001.txt", "same/b"},
                                              empty_dirs=["empty/deeper"]))
    before = open_fds()
    out = tmp_path / "out"
    assert checkout_tree(store, stored.oid, out, writers=writers) == stored
    got = tree_on_disk(out)
    assert {path: data for path, (data, _) in got.items()} == files
    assert got["d1/e1/f001.txt"][1] == got["same/b"][1] == 0o755
    assert got["top.txt"][1] == got["big/large.bin"][1] == 0o644
    assert (out / "empty/deeper").is_dir()
    assert put_directory(store, out).oid == stored.oid
    assert open_fds() == before
    assert writer_threads() == []


def test_a_damaged_blob_among_many_leaves_only_whole_verified_files(tmp_path, monkeypatch):
    monkeypatch.setattr(trees_module, "WRITE_BATCH_FILES", 7)  # 4 verified files wait
    files = {f"f{i:03d}": b"file %03d " % i * 40 for i in range(120)}
    damaged = files["f060"]
    store = LmdbObjectStore(tmp_path / "store", create=True)
    oid = put_directory(store, make_folder(tmp_path / "d", files)).oid
    store.close()
    flip_byte_on_disk(tmp_path / "store", damaged[:64])
    before = open_fds()
    store = LmdbObjectStore(tmp_path / "store")
    try:
        with pytest.raises(ChecksumMismatch):
            checkout_tree(store, oid, tmp_path / "out", writers=2)
    finally:
        store.close()
    got = tree_on_disk(tmp_path / "out")
    assert "f060" not in got
    assert set(got) == {f"f{i:03d}" for i in range(60)}  # those verified before it, whole
    assert all(files[name] == data for name, (data, _) in got.items())
    assert open_fds() == before
    assert writer_threads() == []


@pytest.mark.parametrize("writers", [0, 2])
def test_a_failed_write_removes_its_file_and_stops_the_checkout(store, tmp_path, monkeypatch,
                                                                writers):
    files = {f"f{i:03d}": b"%03d" % i + b"." * 2000 for i in range(200)}
    stored = put_directory(store, make_folder(tmp_path / "d", files))
    real_write = os.write

    def disk_full_at_f100(fd: int, data) -> int:
        if bytes(data[:3]) == b"100":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    before = open_fds()
    monkeypatch.setattr(trees_module.os, "write", disk_full_at_f100)
    with pytest.raises(OSError, match="No space left"):
        checkout_tree(store, stored.oid, tmp_path / "out", writers=writers)
    monkeypatch.undo()
    got = tree_on_disk(tmp_path / "out")
    assert "f100" not in got
    assert all(files[name] == data for name, (data, _) in got.items())
    assert open_fds() == before
    assert writer_threads() == []


def test_the_counts_are_the_trees(store, tmp_path):
    files = many_files()
    stored = put_directory(store, make_folder(tmp_path / "d", files))
    done = checkout_tree(store, stored.oid, tmp_path / "out")
    assert (done.files, done.size) == (len(files), sum(map(len, files.values())))
    assert done.files == sum(1 for _, e in walk_tree(store, stored.oid) if e.kind == "file")
