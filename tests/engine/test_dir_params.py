"""`dir` parameters: a tree's hash (or a unique prefix at trigger), refused clearly when it
names a blob, another object or nothing; `file` parameters refuse a tree the same way."""

from __future__ import annotations

import io

import pytest

from tests.engine.test_file_param_prefix import absent_prefix
from tests.support_engine import task
from wfobj.engine.definitions.format import normalize
from wfobj.engine.errors import DefinitionError, ParameterError
from wfobj.engine.service import WorkflowService
from wfobj.objstore import TreeBuilder

TAKES_DIR = {"params": {"data": {"type": "dir"}, "note": {"type": "file"}},
             "tasks": {"t": task("ls -R /in/data", inputs={"data": {"param": "data"}})}}


def put_tree(store, files: dict[str, bytes]) -> str:
    builder = TreeBuilder(store)
    for path, data in files.items():
        builder.add_file(path, io.BytesIO(data))
    return builder.finish().oid


@pytest.fixture
def svc(store):
    service = WorkflowService(store)
    service.apply_workflow("wf", TAKES_DIR, user="alice")
    return service


def trigger(svc, data, note=None):
    note = note or svc.put_file(io.BytesIO(b"a note"))["hash"]
    return svc.trigger(name="wf", parameters={"data": data, "note": note}, user="alice")


def test_a_tree_hash_or_a_unique_prefix_names_the_directory(svc, store):
    tree = put_tree(store, {"a.txt": b"a", "sub/b.txt": b"b"})
    for given in (tree, tree[:10]):
        run = svc.get_run(trigger(svc, given)["run_id"])
        assert run["parameters"]["data"] == tree  # the run records the full hash


def test_dir_values_that_name_no_tree_are_refused(svc, store):
    blob = store.put_blob(b"just a file")
    with pytest.raises(ParameterError, match=f"{blob[:8]} names a blob object, not a dir"):
        trigger(svc, blob[:8])
    with pytest.raises(ParameterError, match=f"{blob} names a blob object, not a dir"):
        trigger(svc, blob)
    definition = svc.get_workflow("wf")["definition_hash"]
    with pytest.raises(ParameterError, match="names a definition object, not a dir"):
        trigger(svc, definition)
    with pytest.raises(ParameterError, match="no dir in the store has a hash starting with"):
        trigger(svc, absent_prefix(store))
    with pytest.raises(ParameterError, match=f"dir {'ab' * 32} is not in the store"):
        trigger(svc, "ab" * 32)
    with pytest.raises(ParameterError, match="is not a dir hash"):
        trigger(svc, "folder")
    tree = put_tree(store, {"x": b"x"})
    with pytest.raises(ParameterError, match=f"{tree} names a tree object, not a file"):
        trigger(svc, tree, note=tree)


def test_a_dir_default_is_a_full_hash_checked_at_trigger(store):
    svc = WorkflowService(store)
    tree = put_tree(store, {"x": b"x"})
    with pytest.raises(DefinitionError, match="params.data.default: 'abc' is not a dir hash"):
        svc.apply_workflow("wf", {**TAKES_DIR, "params": {"data": {"type": "dir",
                                                                   "default": "abc"}}},
                           user="alice")
    for default, problem in ((tree, None), ("cd" * 32, "default dir (cd)+ is not in the store"),
                             (store.put_blob(b"b"), "names a blob object, not a dir")):
        svc.apply_workflow("wf", {**TAKES_DIR, "params": {"data": {"type": "dir",
                                                                   "default": default}}},
                           user="alice")
        if problem is None:
            run_id = svc.trigger(name="wf", user="alice")["run_id"]
            assert svc.get_run(run_id)["parameters"] == {"data": tree}
        else:
            with pytest.raises(ParameterError, match=problem):
                svc.trigger(name="wf", user="alice")


def test_only_file_and_dir_params_are_inputs():
    bad = {"params": {"n": {"type": "int"}},
           "tasks": {"t": task("true", inputs={"n": {"param": "n"}})}}
    with pytest.raises(DefinitionError, match="param 'n' is not of type file or dir"):
        normalize(bad, "wf")
