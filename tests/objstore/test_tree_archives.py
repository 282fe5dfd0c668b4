"""Between a folder and a tar: a folder scanned as put_directory checks it, streamed as the
tar put_tar stores (hashed as it is read), and a tar checked out only if it is exactly the
tree asked for."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from tests.objstore.test_trees import SAMPLE, file_info, make_folder, tar_of
from wfobj.objstore import (
    ChecksumMismatch,
    DirectoryArchive,
    TreeRefused,
    archive_tree,
    checkout_archive,
    put_directory,
    put_tar,
    scan_directory,
)
from wfobj.objstore import trees as trees_module


def read_all(archive: DirectoryArchive, piece: int = 1000) -> bytes:
    out = bytearray()
    while data := archive.read(piece):
        out += data
    return bytes(out)


def test_a_scan_lists_directories_before_their_files_in_name_order(tmp_path):
    folder = make_folder(tmp_path / "d", SAMPLE, executable={"bin/run.sh"}, empty_dirs={"e"})
    items = [(i.path, i.is_dir, i.executable) for i in scan_directory(folder)]
    assert items == [("bin", True, False), ("bin/run.sh", False, True), ("e", True, False),
                     ("genome.fa", False, False), ("reads", True, False),
                     ("reads/a.fq", False, False), ("reads/b.fq", False, False)]


def test_a_too_wide_folder_is_refused_before_any_file_in_it(tmp_path, monkeypatch):
    monkeypatch.setattr(trees_module, "MAX_ENTRIES", 3)
    folder = make_folder(tmp_path / "d", {f"wide/f{i}": b"x" for i in range(4)})
    seen = []
    with pytest.raises(TreeRefused, match="more than 3 entries") as info:
        seen.extend(scan_directory(folder))
    assert info.value.path == "wide/f3" and [i.path for i in seen] == ["wide"]


def test_a_too_deep_folder_is_refused_by_path(tmp_path):
    place = tmp_path / "d" / os.path.join(*["d"] * (trees_module.MAX_DEPTH + 2))
    place.mkdir(parents=True)
    with pytest.raises(TreeRefused, match="deep"):
        list(scan_directory(tmp_path / "d"))


def test_a_folder_streamed_as_tar_is_the_tree_put_directory_stores(store, tmp_path):
    folder = make_folder(tmp_path / "d", {**SAMPLE, "big.bin": os.urandom(300_000)},
                         executable={"bin/run.sh"}, empty_dirs={"empty/inner"})
    archive = DirectoryArchive(folder)
    data = read_all(archive)
    local = put_directory(store, folder)
    assert archive.stored == local
    assert put_tar(store, io.BytesIO(data)) == local
    assert data == b"".join(archive_tree(store, local.oid))  # the same tar, byte for byte


def test_a_file_that_grows_while_streamed_is_refused_and_the_tar_has_no_end(store, tmp_path):
    folder = make_folder(tmp_path / "d", {"a.txt": b"x" * 5000, "b.txt": b"y"})
    archive = DirectoryArchive(folder)
    head = archive.read(1000)
    with open(folder / "a.txt", "ab") as f:
        f.write(b"more")
    with pytest.raises(TreeRefused, match="changed while it was read") as info:
        read_all(archive)
    assert info.value.path == "a.txt" and archive.stored is None
    with pytest.raises(TreeRefused):
        put_tar(store, io.BytesIO(head))


def test_a_symlink_in_a_folder_ends_the_stream_short(tmp_path):
    folder = make_folder(tmp_path / "d", SAMPLE)
    (folder / "link").symlink_to("genome.fa")
    archive = DirectoryArchive(folder)
    with pytest.raises(TreeRefused, match="symbolic link") as info:
        read_all(archive)
    assert info.value.path == "link" and archive.stored is None


def test_checkout_of_an_archive_restores_the_tree(store, tmp_path):
    folder = make_folder(tmp_path / "d", SAMPLE, executable={"bin/run.sh"},
                         empty_dirs={"empty"})
    stored = put_directory(store, folder)
    tar = io.BytesIO(b"".join(archive_tree(store, stored.oid)))
    out = checkout_archive(tar, stored.oid, tmp_path / "out" / "new")
    assert out == stored
    got = tmp_path / "out" / "new"
    assert sorted(p.relative_to(got).as_posix() for p in got.rglob("*")) == [
        "bin", "bin/run.sh", "empty", "genome.fa", "reads", "reads/a.fq", "reads/b.fq"]
    assert (got / "reads" / "a.fq").read_bytes() == SAMPLE["reads/a.fq"]
    assert os.stat(got / "bin" / "run.sh").st_mode & 0o777 == 0o755
    assert os.stat(got / "genome.fa").st_mode & 0o777 == 0o644


def test_an_archive_of_another_tree_is_refused_and_leaves_nothing(store, tmp_path):
    stored = put_directory(store, make_folder(tmp_path / "d", SAMPLE))
    other = tar_of([file_info("genome.fa", b">changed\n")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChecksumMismatch):
        checkout_archive(other, stored.oid, tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []
    with pytest.raises(ChecksumMismatch):
        checkout_archive(tar_of([file_info("x", b"")]), stored.oid, tmp_path / "new")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(("member", "path"), [
    (file_info("../escape", b"x"), "../escape"),
    (file_info("/abs", b"x"), "/abs"),
])
def test_a_bad_member_is_refused_by_name_and_nothing_is_written(tmp_path, member, path):
    with pytest.raises(TreeRefused) as info:
        checkout_archive(tar_of([member]), "0" * 64, tmp_path / "new")
    assert info.value.path == path
    assert not (tmp_path / "new").exists() and not (tmp_path / "escape").exists()


def test_a_link_member_or_a_cut_archive_is_refused(tmp_path):
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(TreeRefused, match="symbolic link"):
        checkout_archive(tar_of([(link, None)]), "0" * 64, tmp_path / "a")
    whole = tar_of([file_info("f", bytes(3000))]).getvalue()
    with pytest.raises(TreeRefused, match="cut short"):
        checkout_archive(io.BytesIO(whole[:2000]), "0" * 64, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_checkout_refuses_a_directory_that_is_not_empty(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_bytes(b"mine")
    with pytest.raises(TreeRefused, match="not an empty directory"):
        checkout_archive(tar_of([]), "0" * 64, tmp_path / "full")
    assert (tmp_path / "full" / "keep").read_bytes() == b"mine"
