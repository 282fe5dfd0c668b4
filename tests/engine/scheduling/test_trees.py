"""Directories through the engine, with the fake executor: `dir` params and output
directories become tree inputs, evidence records one output per directory, run_files
lists what is inside, the cache keys on the tree, the lineage finds a file inside a tree,
gc keeps a `dir` parameter's tree."""

from __future__ import annotations

import io

import blake3
import pytest

from tests.support_engine import run_with, task, trigger
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.indexes.lineage import index_tree
from wfobj.engine.layout import TREE_DONE_NS, TREE_NS
from wfobj.engine.model import CacheKey, TaskEvidence, read
from wfobj.engine.runs.evidence import load_evidence
from wfobj.engine.runs.state import RunState
from wfobj.engine.scheduling.cache import same_shape
from wfobj.engine.service import WorkflowService
from wfobj.objstore import Link, TreeBuilder, entry_at

PARTS = {"a.txt": b"A", "sub/p0": b"P0"}
PIPE = {
    "params": {"data": {"type": "dir"}},
    "tasks": {
        "make": task("split", inputs={"data": {"param": "data"}},
                     outputs={"files": ["parts", "top.txt"]}),
        "whole": task("ls /in/parts", inputs={"parts": {"task": "make", "file": "parts"}},
                      outputs={"files": ["n.txt"]}),
        "one": task("cat /in/p0", inputs={"p0": {"task": "make", "file": "parts/sub/p0"}},
                    outputs={"files": ["m.txt"]}),
        "folder": task("ls /in/sub", inputs={"sub": {"task": "make", "file": "parts/sub"}}),
    },
}
MAKES = {"make": TaskBehavior(outputs={"parts": PARTS, "top.txt": b"top"})}


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def put_tree(store, files: dict[str, bytes]) -> str:
    builder = TreeBuilder(store)
    for path, data in files.items():
        builder.add_file(path, io.BytesIO(data))
    return builder.finish().oid


def run_pipe(svc, data: str, cache: bool = False):
    run_id = trigger(svc, PIPE, cache=cache, data=data)
    state, ex = run_with(svc.store, run_id, MAKES)
    return run_id, state, {s.task: s for s in ex.specs}


@pytest.fixture
def svc(store):
    return WorkflowService(store)


def test_directories_are_inputs_and_outputs_as_trees(svc, store):
    data = put_tree(store, {"in.csv": b"x,y\n", "more/z.csv": b"z\n"})
    run_id, state, specs = run_pipe(svc, data)
    assert state == "success", svc.run_tasks(run_id)
    parts, sub = put_tree(store, PARTS), entry_at(store, put_tree(store, PARTS), "sub").oid
    [given] = specs["make"].inputs
    assert (given.name, given.kind, given.oid, given.size) == ("data", "dir", data, 6)
    assert [(i.kind, i.oid, i.size) for i in specs["whole"].inputs] == [("dir", parts, 3)]
    assert [(i.kind, i.oid, i.size) for i in specs["one"].inputs] == [("file", b3(b"P0"), 2)]
    assert [(i.kind, i.oid, i.size) for i in specs["folder"].inputs] == [("dir", sub, 2)]
    made = svc.run_task(run_id, "make")
    assert made["inputs"] == [{"name": "data", "path": "/in/data", "kind": "dir",
                               "hash": data, "size": 6}]
    assert made["outputs"] == [
        {"path": "parts", "kind": "dir", "hash": parts, "size": 3},
        {"path": "top.txt", "kind": "file", "hash": b3(b"top"), "size": 3}]
    stored = read(store, made["evidence_hash"], TaskEvidence)
    assert stored.outputs[0] == {"path": "parts", "kind": "dir", "tree": Link(parts),
                                 "size": 3}
    assert stored.outputs[1]["kind"] == "file" and stored.outputs[1]["blob"].is_blob
    assert svc.run_task(run_id, "whole")["inputs"][0]["kind"] == "dir"


def test_a_path_missing_from_an_output_directory_fails_the_attempt_unstarted(svc, store):
    broken = {"params": PIPE["params"], "tasks": {
        "make": PIPE["tasks"]["make"],
        "nope": task("true", inputs={"x": {"task": "make", "file": "parts/nope"}})}}
    run_id = trigger(svc, broken, data=put_tree(store, {"f": b"f"}))
    state, ex = run_with(store, run_id, MAKES)
    assert state == "failed"
    assert "task 'make' produced no file 'parts/nope'" in svc.run_task(run_id, "nope")["error"]
    assert [s.task for s in ex.specs] == ["make"]


def test_run_files_lists_directories_and_recursively_their_files(svc, store):
    run_id, _, _ = run_pipe(svc, put_tree(store, {"f": b"f"}))
    parts = put_tree(store, PARTS)
    made = [f for f in svc.run_files(run_id) if f["task"] == "make"]
    assert made == [
        {"task": "make", "path": "parts", "kind": "dir", "hash": parts, "size": 3},
        {"task": "make", "path": "top.txt", "kind": "file", "hash": b3(b"top"), "size": 3}]
    deep = [f for f in svc.run_files(run_id, recursive=True) if f["task"] == "make"]
    assert deep == [
        made[0],
        {"task": "make", "path": "parts/a.txt", "kind": "file", "hash": b3(b"A"), "size": 1,
         "tree": parts},
        {"task": "make", "path": "parts/sub/p0", "kind": "file", "hash": b3(b"P0"),
         "size": 2, "tree": parts},
        made[1]]


def test_the_cache_key_holds_the_input_tree(svc, store):
    data = put_tree(store, {"in.csv": b"1\n"})
    first, _, ran = run_pipe(svc, data, cache=True)
    assert set(ran) == {"make", "whole", "one", "folder"}
    key = read(store, svc.run_task(first, "make")["cache_key"], CacheKey)
    assert key.inputs == [{"path": "/in/data", "tree": Link(data)}]
    second, _, ran = run_pipe(svc, data, cache=True)
    assert ran == {}  # the same tree: every task a hit
    assert svc.run_task(second, "make")["cached_from"] == svc.run_task(first, "make")["evidence_hash"]
    assert svc.run_task(second, "whole")["inputs"] == svc.run_task(first, "whole")["inputs"]
    changed = put_tree(store, {"in.csv": b"2\n"})
    _, _, ran = run_pipe(svc, changed, cache=True)
    assert set(ran) == {"make"}  # a changed tree misses; the same outputs hit downstream
    key = svc.explain_task(first, "make")["components"]
    assert key["inputs./in/data"] == data


def test_evidence_from_before_trees_still_reads_and_is_not_reused_for_a_directory(svc, store):
    """Old evidence has no `kind` (files only) and listed a directory's files one by one."""
    run_id, _, _ = run_pipe(svc, put_tree(store, {"f": b"f"}))
    ev = read(store, svc.run_task(run_id, "make")["evidence_hash"], TaskEvidence)
    old_rows = [{"path": "parts/a.txt", "blob": Link.blob(b3(b"A")), "size": 1},
                {"path": "top.txt", "blob": Link.blob(b3(b"top")), "size": 3}]
    old = TaskEvidence.from_value("x", {**ev.to_value(), "outputs": old_rows,
                                        "inputs": []})
    view = load_evidence(store, store.put_object(old.to_value()))
    assert view["outputs"][0] == {"path": "parts/a.txt", "kind": "file", "hash": b3(b"A"),
                                  "size": 1}
    assert not same_shape(old, ("parts", "top.txt"))
    assert same_shape(TaskEvidence.from_value("y", {**old.to_value(), "outputs": old_rows[1:]}),
                      ("top.txt",))
    assert same_shape(ev, ("parts", "top.txt"))


def test_a_file_inside_a_tree_is_found_with_its_tree_and_path(svc, store):
    data = put_tree(store, {"in.csv": b"x\n"})
    run_id, _, _ = run_pipe(svc, data)
    parts = put_tree(store, PARTS)
    sub = entry_at(store, parts, "sub").oid
    info = svc.file_info(b3(b"P0"))
    made = svc.run_task(run_id, "make")["evidence_hash"]
    assert info["kind"] == "file" and info["size"] == 2
    assert info["produced_by"] == [
        {"run_id": run_id, "task": "make", "path": "parts/sub/p0", "attempt": 1,
         "evidence_hash": made, "cached_from": None, "tree": parts}]
    used = {(u["task"], u["input"], u.get("tree"), u.get("path")) for u in info["used_by"]}
    assert used == {("one", "p0", None, None), ("folder", "sub", sub, "p0"),
                    ("whole", "parts", parts, "sub/p0")}
    inner = svc.file_info(b3(b"x\n"))
    assert inner["parameter_of"] == [{"run_id": run_id, "param": "data", "tree": data,
                                      "path": "in.csv"}]
    assert inner["used_by"][0]["tree"] == data and inner["used_by"][0]["path"] == "in.csv"
    tree = svc.file_info(parts)
    assert (tree["kind"], tree["size"]) == ("dir", 3)
    assert [p["path"] for p in tree["produced_by"]] == ["parts"]
    up = svc.file_lineage(b3(b"P0"), direction="up")
    nodes = {n["id"]: n for n in up["nodes"]}
    assert nodes[f"file:{data}"]["dir"] and not nodes[f"file:{b3(b'P0')}"]["dir"]
    assert {"from": f"task:{run_id}/make", "to": f"file:{b3(b'P0')}", "kind": "output",
            "path": "parts/sub/p0"} in up["edges"]
    down = svc.file_lineage(b3(b"x\n"), direction="down")
    assert {f"task:{run_id}/make", f"task:{run_id}/whole"} <= {n["id"] for n in down["nodes"]}


def test_tree_indexing_costs_only_the_trees_not_seen_before(store):
    shared = {f"shared/f{i}": b"%d" % i for i in range(5)}
    first = put_tree(store, {**shared, "one.txt": b"1"})
    second = put_tree(store, {**shared, "two.txt": b"2"})
    with store.batch() as b:
        assert index_tree(store, b, first) == 2  # the root and `shared`
    with store.batch() as b:
        assert index_tree(store, b, second) == 1  # `shared` is indexed already
    with store.batch() as b:
        assert index_tree(store, b, first) == 0
    assert {k.split("/")[1] for k, _ in store.meta_scan(TREE_NS, b3(b"0") + "/")} == {
        entry_at(store, first, "shared").oid}
    assert store.meta_get(TREE_DONE_NS, second) == b""


def test_reindex_rebuilds_the_tree_index(svc, store):
    run_id, _, _ = run_pipe(svc, put_tree(store, {"in.csv": b"x\n"}))
    before = {ns: sorted(store.meta_scan(ns)) for ns in (TREE_NS, TREE_DONE_NS)}
    info = svc.file_info(b3(b"P0"))
    for ns in (TREE_NS, TREE_DONE_NS, "file-out", "file-in", "file-param"):
        with store.batch() as b:
            for key, _ in list(store.meta_scan(ns)):
                b.meta_delete(ns, key)
    assert svc.file_info(b3(b"P0"))["produced_by"] == []
    assert svc.reindex() == 1
    assert {ns: sorted(store.meta_scan(ns)) for ns in (TREE_NS, TREE_DONE_NS)} == before
    assert svc.file_info(b3(b"P0")) == info
    assert RunState.load(store, run_id).state == "success"
