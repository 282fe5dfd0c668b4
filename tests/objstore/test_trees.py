"""Trees: directories stored as git-like objects, from a folder or a tar stream, read back,
checked out and archived; every bad entry refused by name, nothing half-linked."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from tests.support_damage import replace_record
from wfobj.objstore import (
    ChecksumMismatch,
    InvalidObject,
    Link,
    MemoryObjectStore,
    NotATree,
    ObjectNotFound,
    PathNotInTree,
    TreeRefused,
    archive_tree,
    checkout_tree,
    entry_at,
    put_directory,
    put_tar,
    read_tree,
    walk_tree,
)
from wfobj.objstore import trees as trees_module
from wfobj.objstore.trees import Tree


def make_folder(root, files: dict[str, bytes], executable=(), empty_dirs=()):
    for path, data in files.items():
        place = root / path
        place.parent.mkdir(parents=True, exist_ok=True)
        place.write_bytes(data)
        os.chmod(place, 0o755 if path in executable else 0o644)
    for path in empty_dirs:
        (root / path).mkdir(parents=True, exist_ok=True)
    return root


SAMPLE = {"genome.fa": b">chr1\nACGT\n", "reads/a.fq": b"@a\nAC\n+\nII\n",
          "reads/b.fq": b"@b\nGT\n+\nII\n", "bin/run.sh": b"#!/bin/sh\necho hi\n"}


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    out.seek(0)
    return out


def file_info(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def test_a_folder_is_one_tree_whose_hash_depends_only_on_content(store, tmp_path):
    one = make_folder(tmp_path / "one", SAMPLE, executable={"bin/run.sh"}, empty_dirs=["out"])
    two = make_folder(tmp_path / "two", dict(reversed(SAMPLE.items())),
                      executable={"bin/run.sh"}, empty_dirs=["out"])
    os.utime(two / "genome.fa", (0, 0))  # times are not kept
    first, second = put_directory(store, one), put_directory(store, two)
    assert first == second
    assert first.files == 4 and first.size == sum(map(len, SAMPLE.values()))
    root = read_tree(store, first.oid)
    assert [e.name for e in root.entries] == ["bin", "genome.fa", "out", "reads"]
    assert entry_at(store, first.oid, "bin/run.sh").executable
    assert not entry_at(store, first.oid, "genome.fa").executable
    assert read_tree(store, entry_at(store, first.oid, "out").oid).entries == ()
    make_folder(two, {}, executable=(), empty_dirs=[])
    os.chmod(two / "bin/run.sh", 0o644)  # the executable bit is part of the content
    assert put_directory(store, two).oid != first.oid


def test_a_file_in_a_tree_is_the_blob_b3sum_names(store, tmp_path):
    import blake3

    stored = put_directory(store, make_folder(tmp_path / "d", SAMPLE))
    entry = entry_at(store, stored.oid, "reads/a.fq")
    assert entry.oid == blake3.blake3(SAMPLE["reads/a.fq"]).hexdigest()
    assert store.get_raw(entry.oid) == SAMPLE["reads/a.fq"]
    with pytest.raises(PathNotInTree):
        entry_at(store, stored.oid, "reads/c.fq")
    with pytest.raises(PathNotInTree):
        entry_at(store, stored.oid, "genome.fa/x")


def test_the_same_content_as_tar_gives_the_same_tree(store, tmp_path):
    folder = make_folder(tmp_path / "d", SAMPLE, executable={"bin/run.sh"})
    members = [file_info("./" + path, data, 0o755 if path == "bin/run.sh" else 0o600)
               for path, data in SAMPLE.items()]
    assert put_tar(store, tar_of(members)).oid == put_directory(store, folder).oid


def test_archive_is_deterministic_and_reads_back_to_the_same_tree(store, tmp_path):
    stored = put_directory(store, make_folder(tmp_path / "d", SAMPLE, empty_dirs=["e/f"]))
    data = b"".join(archive_tree(store, stored.oid))
    assert data == b"".join(archive_tree(store, stored.oid))
    assert len(data) % 512 == 0
    names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert names == [path for path, _ in walk_tree(store, stored.oid)]
    assert put_tar(store, io.BytesIO(data)).oid == stored.oid


def test_checkout_restores_bytes_and_executable_bits(store, tmp_path):
    stored = put_directory(store, make_folder(tmp_path / "d", SAMPLE,
                                              executable={"bin/run.sh"}, empty_dirs=["o"]))
    out = tmp_path / "out"
    assert checkout_tree(store, stored.oid, out) == stored
    for path, data in SAMPLE.items():
        assert (out / path).read_bytes() == data
    assert os.stat(out / "bin/run.sh").st_mode & 0o777 == 0o755
    assert os.stat(out / "genome.fa").st_mode & 0o777 == 0o644
    assert (out / "o").is_dir()
    assert put_directory(store, out).oid == stored.oid
    with pytest.raises(TreeRefused, match="not an empty directory"):
        checkout_tree(store, stored.oid, out)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o027])
def test_checkout_gives_the_tree_modes_whatever_the_umask(store, tmp_path, umask):
    stored = put_directory(store, make_folder(tmp_path / "d", SAMPLE,
                                              executable={"bin/run.sh"}))
    old = os.umask(umask)
    try:
        checkout_tree(store, stored.oid, tmp_path / "out")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "out/bin/run.sh").st_mode & 0o777 == 0o755
    assert os.stat(tmp_path / "out/reads/a.fq").st_mode & 0o777 == 0o644


def test_a_damaged_large_file_gets_no_name_and_leaves_nothing_aside(tmp_path):
    store = MemoryObjectStore()
    big = os.urandom(6 << 20)
    stored = put_directory(store, make_folder(tmp_path / "d", {"sub/big.bin": big}))
    entries = dict(walk_tree(store, stored.oid))
    chunk_oid = store.chunk_list(entries["sub/big.bin"].oid)[-1][0]
    damaged = bytearray(b"B" + store.record(chunk_oid).body)
    damaged[-1] ^= 0xFF
    replace_record(store, chunk_oid, bytes(damaged))
    with pytest.raises(ChecksumMismatch):
        checkout_tree(store, stored.oid, tmp_path / "out")
    assert os.listdir(tmp_path / "out/sub") == []


def test_not_a_tree_is_refused_before_anything_is_written(store, tmp_path):
    blob = store.put_blob(b"just bytes")
    with pytest.raises(NotATree):
        read_tree(store, blob)
    with pytest.raises(NotATree):
        checkout_tree(store, blob, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(NotATree):
        read_tree(store, store.put_object({"type": "note"}))


@pytest.mark.parametrize("kind", ["symlink", "fifo", "socket"])
def test_special_files_in_a_folder_are_refused_by_path(store, tmp_path, kind):
    import socket

    folder = make_folder(tmp_path / "d", SAMPLE)
    place = folder / "reads" / "odd"
    if kind == "symlink":
        place.symlink_to("/etc/passwd")
    elif kind == "fifo":
        os.mkfifo(place)
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(place))
    before = set(store)
    with pytest.raises(TreeRefused) as info:
        put_directory(store, folder)
    assert info.value.path == "reads/odd"
    assert not any(store.type_of(o) == "tree" for o in set(store) - before)


def _special(name: str, type_: bytes, **fields) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = type_
    for key, value in fields.items():
        setattr(info, key, value)
    return info, None


@pytest.mark.parametrize(("member", "path", "reason"), [
    (file_info("/etc/passwd", b"x"), "/etc/passwd", "absolute"),
    (file_info("a/../../x", b"x"), "a/../../x", "'..'"),
    (file_info("a/./../x", b"x"), "a/./../x", "'..'"),
    (_special("link", tarfile.SYMTYPE, linkname="/etc/passwd"), "link", "symbolic link"),
    (_special("hard", tarfile.LNKTYPE, linkname="genome.fa"), "hard", "hard link"),
    (_special("dev", tarfile.CHRTYPE, devmajor=1, devminor=3), "dev", "device"),
    (_special("fifo", tarfile.FIFOTYPE), "fifo", "FIFO"),
    (file_info("x" * 300, b"x"), "x" * 300, "over 255 bytes"),
])
def test_bad_tar_entries_are_refused_by_name_and_nothing_is_linked(store, member, path,
                                                                   reason):
    members = [file_info("genome.fa", SAMPLE["genome.fa"]), member]
    before = set(store)
    with pytest.raises(TreeRefused) as info:
        put_tar(store, tar_of(members))
    assert info.value.path == path and reason in info.value.reason
    assert not any(store.type_of(o) == "tree" for o in set(store) - before)


def test_a_duplicate_or_a_file_under_a_file_is_refused(store):
    with pytest.raises(TreeRefused, match="given twice"):
        put_tar(store, tar_of([file_info("a", b"1"), file_info("./a", b"2")]))
    with pytest.raises(TreeRefused, match="is a file"):
        put_tar(store, tar_of([file_info("a", b"1"), file_info("a/b", b"2")]))


def test_a_cut_tar_stores_no_tree(store):
    whole = tar_of([file_info(f"f{i}", bytes(3000)) for i in range(5)]).getvalue()
    before = set(store)
    with pytest.raises(TreeRefused, match="cut short|not a tar"):
        put_tar(store, io.BytesIO(whole[:4000]))
    assert not any(store.type_of(o) == "tree" for o in set(store) - before)
    with pytest.raises(TreeRefused, match="not a tar"):
        put_tar(store, io.BytesIO(b"\x01" * 1024))


def test_bounds_on_width_and_depth(store, monkeypatch):
    monkeypatch.setattr(trees_module, "MAX_ENTRIES", 3)
    with pytest.raises(TreeRefused, match="more than 3 entries"):
        put_tar(store, tar_of([file_info(f"f{i}", b"") for i in range(4)]))
    deep = "/".join(["d"] * (trees_module.MAX_DEPTH + 1)) + "/f"
    with pytest.raises(TreeRefused, match="deep"):
        put_tar(store, tar_of([file_info(deep, b"")]))


def test_tree_objects_are_read_strictly(store):
    blob = store.put_blob(b"x")
    good = {"name": "a", "kind": "file", "blob": Link.blob(blob), "size": 1,
            "executable": False}
    assert read_tree(store, store.put_object({"type": "tree", "entries": [good]})).size == 1
    for bad in ({**good, "extra": 1}, {**good, "kind": "dir"}, {**good, "size": -1},
                {**good, "name": ".."}, {**good, "name": "a/b"},
                {**good, "blob": Link.obj(store.put_object({"type": "note"}))}):
        oid = store.put_object({"type": "tree", "entries": [bad]})
        with pytest.raises(InvalidObject):
            read_tree(store, oid)
    unordered = store.put_object({"type": "tree", "entries": [
        {**good, "name": "b"}, {**good, "name": "a"}]})
    with pytest.raises(InvalidObject, match="order"):
        read_tree(store, unordered)
    assert Tree.of([]).to_value() == {"type": "tree", "entries": []}


class _Lazy:
    """A stream read from a generator of byte pieces: the whole never exists at once."""

    def __init__(self, pieces):
        self.pieces, self.buffer = iter(pieces), b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buffer) < n:
            piece = next(self.pieces, None)
            if piece is None:
                break
            self.buffer += piece
        out, self.buffer = (self.buffer, b"") if n < 0 else (self.buffer[:n], self.buffer[n:])
        return out


def _peak_of(fn) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_extended_header_is_refused_before_it_is_read(store):
    info = tarfile.TarInfo("x")
    info.pax_headers = {"comment": "c" * (50 << 20)}
    head = info.tobuf(tarfile.PAX_FORMAT)  # the header alone; bytes come lazily below

    def upload():
        with pytest.raises(TreeRefused, match="extended header"):
            put_tar(store, _Lazy([head[:512]] + [b"c" * (1 << 20)] * 60))

    assert _peak_of(upload) < 8 << 20


def test_directories_between_files_are_not_held(store):
    def pieces():
        for i in range(800):  # 800 folders, each with a 60 KiB pax comment: ~48 MiB
            info = tarfile.TarInfo(f"d{i}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            info.pax_headers = {"comment": "c" * (60 << 10)}
            yield info.tobuf(tarfile.PAX_FORMAT)
        yield bytes(2 * 512)

    result = {}
    peak = _peak_of(lambda: result.setdefault("tree", put_tar(store, _Lazy(pieces()))))
    assert result["tree"].files == 0
    assert peak < 16 << 20


def test_an_empty_folder_is_bound_by_depth_like_a_file(store):
    deepest = "/".join(["d"] * trees_module.MAX_DEPTH)
    put_tar(store, tar_of([_special(deepest, tarfile.DIRTYPE)]))
    with pytest.raises(TreeRefused, match="deep"):
        put_tar(store, tar_of([_special(deepest + "/d", tarfile.DIRTYPE)]))


def test_a_damaged_file_never_gets_its_name_in_a_checkout(tmp_path):
    from tests.support_damage import flip_byte_on_disk
    from wfobj.objstore import ChecksumMismatch, LmdbObjectStore

    body = b"a small file whose stored bytes will be damaged " * 20
    folder = make_folder(tmp_path / "d", {"good.txt": b"fine\n", "zbad.txt": body})
    store = LmdbObjectStore(tmp_path / "store", create=True)
    oid = put_directory(store, folder).oid
    store.close()
    flip_byte_on_disk(tmp_path / "store", body[:64])
    out = tmp_path / "out"
    with pytest.raises(ChecksumMismatch):
        checkout_tree(LmdbObjectStore(tmp_path / "store"), oid, out)
    assert (out / "good.txt").read_bytes() == b"fine\n"
    assert not (out / "zbad.txt").exists()
    assert [p.name for p in out.iterdir()] == ["good.txt"]


def test_files_sharing_a_blob_are_each_checked_out(store, tmp_path):
    """The files of a folder are read in few snapshots (LMDB: views, written from where
    they are stored); a blob two names share is written under both, in every folder."""
    files = {f"{d}/{name}": b"same bytes\n" for d in ("a", "b") for name in ("x", "y")}
    files.update({f"many/f{i:04d}": str(i).encode() * (i % 7) for i in range(600)})
    stored = put_directory(store, make_folder(tmp_path / "d", files, executable={"a/y"}))
    out = tmp_path / "out"
    assert checkout_tree(store, stored.oid, out) == stored
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*")
            if p.is_file()} == files
    assert os.stat(out / "a/y").st_mode & 0o777 == 0o755
    assert os.stat(out / "a/x").st_mode & 0o777 == 0o644


def test_read_blobs_hands_over_verified_content_only(store):
    ids = [store.put_blob(data) for data in (b"one", b"two", b"three")]
    got: list = []
    store.read_blobs(ids, lambda oid, content: got.append((oid, bytes(content))))
    assert got == [(ids[0], b"one"), (ids[1], b"two"), (ids[2], b"three")]
    big = store.put_blob(bytes(5 << 20))
    with pytest.raises(InvalidObject, match="chunks"):
        store.read_blobs([big], lambda oid, content: None)
    with pytest.raises(ObjectNotFound):
        store.read_blobs(["ab" * 32], lambda oid, content: None)
    if isinstance(store, MemoryObjectStore):
        replace_record(store, ids[1], b"Btwx")
        seen: list = []
        with pytest.raises(ChecksumMismatch):
            store.read_blobs(ids, lambda oid, content: seen.append(oid))
        assert seen == [ids[0]]
