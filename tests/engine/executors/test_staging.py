"""An attempt's folder without Docker: a tree input is checked out verified, read-only,
executable bits kept, and the folder is removed whatever the modes."""

from __future__ import annotations

import io
import os
import stat

import blake3
import pytest

from tests.support_damage import replace_record
from wfobj.engine.executors.base import InputFile
from wfobj.engine.executors.staging import AttemptFolder
from wfobj.objstore import ChecksumMismatch, MemoryObjectStore, NotATree, TreeBuilder


def tree_of(store, files: dict[str, bytes], executable=()) -> tuple[str, int]:
    builder = TreeBuilder(store)
    for path, data in files.items():
        builder.add_file(path, io.BytesIO(data), executable=path in executable)
    builder.add_dir("empty")
    stored = builder.finish()
    return stored.oid, stored.size


def test_a_tree_input_is_a_read_only_folder(tmp_path):
    store = MemoryObjectStore()
    oid, size = tree_of(store, {"a.txt": b"a", "sub/run.sh": b"#!/bin/sh\n"},
                        executable=["sub/run.sh"])
    blob = store.put_blob(b"plain")
    folder = AttemptFolder(str(tmp_path), "run-1")
    folder.stage_inputs(store, [InputFile("data", oid, size, "dir"), InputFile("f", blob, 5)])
    data = os.path.join(folder.in_dir, "data")
    assert open(os.path.join(data, "sub", "run.sh"), "rb").read() == b"#!/bin/sh\n"
    modes = {path: stat.S_IMODE(os.stat(os.path.join(data, path)).st_mode)
             for path in ("", "a.txt", "sub", "sub/run.sh", "empty")}
    assert modes == {"": 0o555, "a.txt": 0o444, "sub": 0o555, "sub/run.sh": 0o555,
                     "empty": 0o555}
    assert open(os.path.join(folder.in_dir, "f"), "rb").read() == b"plain"
    folder.remove()
    assert os.listdir(tmp_path) == []


def test_a_damaged_or_wrong_tree_input_is_refused(tmp_path):
    store = MemoryObjectStore()
    oid, size = tree_of(store, {"a.txt": b"good bytes"})
    folder = AttemptFolder(str(tmp_path), "run-2")
    with pytest.raises(NotATree):
        folder.stage_inputs(store, [InputFile("x", store.put_blob(b"blob"), 4, "dir")])
    good = blake3.blake3(b"good bytes").hexdigest()
    record = store._objects[bytes.fromhex(good)]
    replace_record(store, good, record.replace(b"good bytes", b"evil bytes"))
    with pytest.raises(ChecksumMismatch):
        folder.stage_inputs(store, [InputFile("data", oid, size, "dir")])
    assert not os.path.exists(os.path.join(folder.in_dir, "data", "a.txt"))
    folder.remove()
    assert os.listdir(tmp_path) == []
