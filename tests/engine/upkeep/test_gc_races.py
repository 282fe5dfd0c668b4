"""gc racing triggers and registrations: what a trigger or a registration names by hash
(file and dir parameters, file and dir defaults) is stamped in its own transaction, so a
gc that marked before it and sweeps after it keeps those objects (docs/objstore.md)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest

from tests import ROOT
from wfobj.engine.errors import ParameterError
from wfobj.engine.runs.lifecycle import create_run
from wfobj.engine.service import WorkflowService
from wfobj.engine.upkeep.gc import collect_garbage
from wfobj.objstore import LmdbObjectStore, TreeBuilder, walk_tree

IMAGE = "wfobj/toolbox:local"
USES_FILE = {"params": {"f": {"type": "file"}},
             "tasks": {"t": {"image": IMAGE, "command": ["cat", "f"],
                             "inputs": {"f": {"param": "f"}}}}}
USES_DIR = {"params": {"d": {"type": "dir"}},
            "tasks": {"t": {"image": IMAGE, "command": ["ls", "d"],
                            "inputs": {"d": {"param": "d"}}}}}

TRIGGER_ELSEWHERE = """
import json, sys
from wfobj.engine.errors import ParameterError
from wfobj.engine.runs.lifecycle import create_run
from wfobj.engine.service import WorkflowService
from wfobj.objstore import LmdbObjectStore
path, name, param, values = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
svc = WorkflowService(LmdbObjectStore(path))
ids = [svc.trigger(name=name, parameters={param: v}, user="bob")["run_id"] for v in values]
print(json.dumps(ids))
"""


def three_hours_ago() -> float:
    return time.time() - 3 * 3600


def old_objects(path) -> tuple[list[str], str, str]:
    """Uploads made three hours ago that nothing references: three files, a tree of two
    files, and a file meant as a default; the `uses-file` and `uses-dir` workflows."""
    old = LmdbObjectStore(path, create=True, clock=three_hours_ago)
    svc = WorkflowService(old)
    files = [svc.put_file(io.BytesIO(f"old input {i}".encode()))["hash"] for i in range(3)]
    tree = TreeBuilder(old)
    tree.add_file("a.txt", io.BytesIO(b"tree file a"))
    tree.add_file("sub/b.txt", io.BytesIO(b"tree file b"))
    tree_oid = tree.finish().oid
    default = svc.put_file(io.BytesIO(b"an old default"))["hash"]
    svc.apply_workflow("uses-file", USES_FILE, user="alice")
    svc.apply_workflow("uses-dir", USES_DIR, user="alice")
    return files, tree_oid, default


def gc_with_writes_between_mark_and_sweep(store, writes) -> None:
    """Run gc, doing `writes` after its mark and before its sweep: the window in which a
    trigger or a registration committed while `wfobj gc` ran."""
    sweep = store.remove_where

    def writes_then_sweep(select):
        writes()
        return sweep(select)

    store.remove_where = writes_then_sweep
    try:
        collect_garbage(store, grace=3600)
    finally:
        del store.remove_where


def test_triggers_in_another_process_during_gc_keep_their_inputs(tmp_path):
    path = tmp_path / "store"
    files, tree_oid, _ = old_objects(path)
    store = LmdbObjectStore(path)
    triggered: list[str] = []

    def trigger_elsewhere():
        for name, param, values in (("uses-file", "f", files), ("uses-dir", "d", [tree_oid])):
            out = subprocess.run([sys.executable, "-c", TRIGGER_ELSEWHERE, str(path), name,
                                  param, json.dumps(values)],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
            triggered.extend(json.loads(out.stdout))

    gc_with_writes_between_mark_and_sweep(store, trigger_elsewhere)
    assert len(triggered) == 4
    for oid in [*files, tree_oid]:
        assert oid in store
    for _, entry in walk_tree(store, tree_oid):
        assert entry.oid in store
    # a later gc roots them through the runs' parameters
    collect_garbage(store, grace=3600)
    assert all(oid in store for oid in [*files, tree_oid])


def test_registration_during_gc_keeps_its_file_default(tmp_path):
    path = tmp_path / "store"
    _, tree_oid, default = old_objects(path)
    store = LmdbObjectStore(path)
    svc = WorkflowService(store)
    with_defaults = {"params": {"f": {"type": "file", "default": default},
                                "d": {"type": "dir", "default": tree_oid}},
                     "tasks": {"t": {"image": IMAGE, "command": ["true"],
                                     "inputs": {"f": {"param": "f"}, "d": {"param": "d"}}}}}

    gc_with_writes_between_mark_and_sweep(
        store, lambda: svc.apply_workflow("defaults", with_defaults, user="alice"))
    assert default in store and tree_oid in store
    run = svc.trigger(name="defaults", parameters={}, user="alice")
    assert run["state"] == "pending"


def test_trigger_whose_file_gc_removed_meanwhile_fails_whole_naming_the_param(tmp_path):
    """gc swept between the trigger's check and its commit: no run, a 400-class error."""
    store = LmdbObjectStore(tmp_path / "store", create=True)
    svc = WorkflowService(store)
    svc.apply_workflow("uses-file", USES_FILE, user="alice")
    oid, definition = svc.registry.definition(svc.get_workflow("uses-file")["definition_hash"])
    gone = "ab" * 32
    with pytest.raises(ParameterError, match=r"'f': file abab.* is not in the store"):
        create_run(store, svc.clock, definition_oid=oid,
                   definition=definition, parameters={"f": gone}, user="alice",
                   engine_version="test")
    assert svc.list_runs()["runs"] == []
