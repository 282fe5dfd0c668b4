"""`run compare` of runs whose outputs are directories: the paths inside two output trees
that differ, found by reading only the directories whose hashes differ."""

from __future__ import annotations

import io

import blake3
import pytest

from tests.support_engine import run_with, task, trigger
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.provenance import compare
from wfobj.engine.service import WorkflowService
from wfobj.objstore import TreeBuilder, entry_at

MAKES_A_FOLDER = {"tasks": {"make": task("make", outputs={"files": ["out", "note.txt"]})}}
BEFORE = {"same/deep/x": b"x", "same/y": b"y", "edit.txt": b"one", "gone.txt": b"bye",
          "sub/keep": b"k", "sub/edit": b"1", "was_file": b"f", "old_dir/z": b"z"}
AFTER = {"same/deep/x": b"x", "same/y": b"y", "edit.txt": b"two", "new.txt": b"hi",
         "sub/keep": b"k", "sub/edit": b"2", "was_file/now": b"d", "new_dir/w": b"w"}


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def put_tree(store, files: dict[str, bytes], executable: tuple[str, ...] = ()) -> str:
    builder = TreeBuilder(store)
    for path, data in files.items():
        builder.add_file(path, io.BytesIO(data), executable=path in executable)
    return builder.finish().oid


def run_making(svc, files: dict[str, bytes], note: bytes = b"note") -> str:
    run_id = trigger(svc, MAKES_A_FOLDER)
    behavior = TaskBehavior(outputs={"out": files, "note.txt": note})
    assert run_with(svc.store, run_id, {"make": behavior})[0] == "success"
    return run_id


@pytest.fixture
def svc(store):
    return WorkflowService(store)


def test_an_output_directory_in_both_runs_lists_the_paths_that_differ(svc, store):
    first, second = run_making(svc, BEFORE), run_making(svc, AFTER)
    c = svc.compare_runs(first, second)
    assert not c["identical"] and c["same_definition"] and c["same_parameters"]
    (made,) = c["tasks"]
    out, note = made["outputs"]
    assert note == {"path": "note.txt", "a": b3(b"note"), "b": b3(b"note"), "same": True}
    a, b = put_tree(store, BEFORE), put_tree(store, AFTER)
    assert {k: out[k] for k in ("path", "a", "b", "same", "kind")} == {
        "path": "out", "a": a, "b": b, "same": False, "kind": ["dir", "dir"]}
    assert out["paths"] == [
        {"path": "edit.txt", "change": "changed", "kind": ["file", "file"],
         "a": b3(b"one"), "b": b3(b"two")},
        {"path": "gone.txt", "change": "removed", "kind": ["file", None],
         "a": b3(b"bye"), "b": None},
        {"path": "new.txt", "change": "added", "kind": [None, "file"], "a": None,
         "b": b3(b"hi")},
        # a directory on one side only is one row, named by its tree hash
        {"path": "new_dir", "change": "added", "kind": [None, "dir"], "a": None,
         "b": entry_at(store, b, "new_dir").oid},
        {"path": "old_dir", "change": "removed", "kind": ["dir", None],
         "a": entry_at(store, a, "old_dir").oid, "b": None},
        {"path": "sub/edit", "change": "changed", "kind": ["file", "file"], "a": b3(b"1"),
         "b": b3(b"2")},
        {"path": "was_file", "change": "changed", "kind": ["file", "dir"], "a": b3(b"f"),
         "b": entry_at(store, b, "was_file").oid},
    ]


def test_the_same_directory_has_no_paths_and_files_keep_their_shape(svc, store):
    first, second = run_making(svc, BEFORE), run_making(svc, BEFORE, note=b"other")
    c = svc.compare_runs(first, second)
    out, note = c["tasks"][0]["outputs"]
    assert out["same"] and out["kind"] == ["dir", "dir"] and out["paths"] == []
    assert set(note) == {"path", "a", "b", "same"} and not note["same"]
    assert not c["identical"]


def test_a_directory_on_one_side_only_has_kinds_but_no_paths(svc, store):
    first = run_making(svc, BEFORE)
    other = trigger(svc, {"tasks": {"make": task("x", outputs={"files": ["out"]})}},
                    name="flat")
    run_with(store, other, {"make": TaskBehavior(outputs={"out": b"a file"})})
    (out,) = [o for o in svc.compare_runs(first, other)["tasks"][0]["outputs"]
              if o["path"] == "out"]
    assert out["kind"] == ["dir", "file"] and "paths" not in out and not out["same"]


def test_only_the_executable_bit_differs(store):
    a = put_tree(store, {"run.sh": b"#!/bin/sh\n"})
    b = put_tree(store, {"run.sh": b"#!/bin/sh\n"}, executable=("run.sh",))
    assert list(compare.tree_changes(store, a, b)) == [
        {"path": "run.sh", "change": "mode", "kind": ["file", "file"], "a": b3(b"#!/bin/sh\n"),
         "b": b3(b"#!/bin/sh\n"), "executable": [False, True]}]


def test_only_directories_whose_hashes_differ_are_read(store, monkeypatch):
    """A one-file change in 40 folders of 25 files reads the two roots and the two
    folders holding the file, nothing else; the same tree reads nothing."""
    files = {f"d{i:02}/f{j:02}": f"{i}/{j}".encode() for i in range(40) for j in range(25)}
    a = put_tree(store, files)
    b = put_tree(store, {**files, "d17/f03": b"changed"})
    reads: list[str] = []
    real = compare.read_tree
    monkeypatch.setattr(compare, "read_tree", lambda s, oid: reads.append(oid) or real(s, oid))
    changes = list(compare.tree_changes(store, a, b))
    assert [c["path"] for c in changes] == ["d17/f03"]
    assert sorted(reads) == sorted([a, b, entry_at(store, a, "d17").oid,
                                    entry_at(store, b, "d17").oid])
    reads.clear()
    assert list(compare.tree_changes(store, a, a)) == [] and reads == []
