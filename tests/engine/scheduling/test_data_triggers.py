"""Data refs and data triggers on a real LMDB store: one run per new (definition,
content), never twice for the same content, whatever the ref does."""

from __future__ import annotations

import io
import tarfile
import threading

import pytest

from tests.support_engine import task
from wfobj.engine.errors import DataRefError, ParameterError, UnknownTrigger, UnknownWorkflow
from wfobj.engine.scheduling.data_triggers import TriggerKeeper
from wfobj.engine.service import WorkflowService
from wfobj.objstore import ConflictError, ObjectNotFound

WF = {"params": {"input": {"type": "file"}, "n": {"type": "int", "default": 2}},
      "tasks": {"a": task("cat /in/x", inputs={"x": {"param": "input"}})}}


@pytest.fixture
def svc(lmdb_store):
    svc = WorkflowService(lmdb_store)
    svc.apply_workflow("wf", WF, user="alice")
    return svc


def blob(svc: WorkflowService, text: str) -> str:
    return svc.put_file(io.BytesIO(text.encode()))["hash"]


def runs(svc: WorkflowService) -> list[dict]:
    return list(reversed(svc.list_runs(limit=1000)["runs"]))


def test_each_move_to_new_content_starts_one_run_with_the_hash(svc):
    a, b = blob(svc, "a"), blob(svc, "b")
    svc.tag_data("data/reads", a)
    svc.add_trigger("data/reads", workflow="wf", param="input", user="admin")
    keeper = TriggerKeeper(svc.store, svc.clock)
    assert keeper.tick() == []  # content held when subscribing starts nothing
    svc.tag_data("data/reads", b)
    [run_id] = keeper.tick()
    assert keeper.tick() == []
    run = svc.get_run(run_id)
    assert run["parameters"] == {"input": b, "n": 2}
    assert run["triggered_by"] == "data:data/reads"
    assert run["trigger"] == {"kind": "data", "ref": "data/reads", "hash": b,
                              "param": "input", "content": "file"}


def test_the_same_content_never_triggers_the_same_definition_twice(svc, tmp_path):
    a, b, c = blob(svc, "a"), blob(svc, "b"), blob(svc, "c")
    svc.add_trigger("data/reads", workflow="wf", param="input", user="admin")
    keeper = TriggerKeeper(svc.store, svc.clock)
    for target in (a, b, a, b, a, c, b):
        svc.tag_data("data/reads", target)
        keeper.tick()
    assert [r["parameters"]["input"] for r in runs(svc)] == [a, b, c]
    # another subscribed ref holding seen content starts nothing either
    svc.add_trigger("data/other", workflow="wf", param="input", user="admin")
    svc.tag_data("data/other", a)
    assert keeper.tick() == []
    last = svc.list_triggers()[0]["last"]
    assert last["hash"] == a and last["run_id"] is None and last["already_run_by"]


def test_a_new_definition_runs_on_content_the_old_one_saw(svc):
    a, b = blob(svc, "a"), blob(svc, "b")
    svc.add_trigger("data/reads", workflow="wf", param="input", user="admin")
    keeper = TriggerKeeper(svc.store, svc.clock)
    svc.tag_data("data/reads", a)
    keeper.tick()
    svc.tag_data("data/reads", b)
    keeper.tick()
    svc.apply_workflow("wf", {**WF, "description": "v2"}, user="alice")
    svc.tag_data("data/reads", a)
    keeper.tick()
    defs = [r["definition_hash"] for r in runs(svc)]
    assert len(defs) == 3 and defs[0] == defs[1] != defs[2]


def test_racing_keepers_start_one_run_per_move(svc):
    svc.add_trigger("data/reads", workflow="wf", param="input", user="admin")
    keepers = [TriggerKeeper(svc.store, svc.clock) for _ in range(6)]
    for i in range(5):
        svc.tag_data("data/reads", blob(svc, f"v{i}"))
        barrier = threading.Barrier(len(keepers))

        def race(keeper: TriggerKeeper, barrier: threading.Barrier) -> None:
            barrier.wait()
            keeper.tick()

        threads = [threading.Thread(target=race, args=(k, barrier)) for k in keepers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(runs(svc)) == 5


def test_dir_params_take_trees(svc):
    svc.apply_workflow("dirs", {"params": {"d": {"type": "dir"}}, "tasks": {"a": task()}},
                       user="alice")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("x.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    tree = svc.put_tree(io.BytesIO(buf.getvalue()))["hash"]
    svc.add_trigger("data/dir", workflow="dirs", param="d", user="admin")
    assert svc.tag_data("data/dir", tree)["kind"] == "dir"
    [run_id] = TriggerKeeper(svc.store, svc.clock).tick()
    assert svc.get_run(run_id)["parameters"] == {"d": tree}
    assert svc.get_run(run_id)["trigger"]["content"] == "dir"


def test_a_run_that_cannot_start_is_kept_with_its_error(svc):
    svc.apply_workflow("dirs", {"params": {"d": {"type": "dir"}}, "tasks": {"a": task()}},
                       user="alice")
    svc.add_trigger("data/x", workflow="dirs", param="d", user="admin")
    svc.tag_data("data/x", blob(svc, "a file, not a dir"))
    assert TriggerKeeper(svc.store, svc.clock).tick() == []
    [sub] = svc.list_triggers()
    assert "dir" in sub["last"]["error"] and sub["last"]["run_id"] is None


def test_tags_move_by_compare_and_swap_to_blobs_and_trees_only(svc):
    a, b = blob(svc, "a"), blob(svc, "b")
    assert svc.tag_data("data/r", a, new_only=True)["previous"] is None
    with pytest.raises(ConflictError):
        svc.tag_data("data/r", b, new_only=True)
    with pytest.raises(ConflictError):
        svc.tag_data("data/r", b, old=b)
    assert svc.tag_data("data/r", b, old=a)["previous"] == a
    assert svc.get_data("data/r") == {"ref": "data/r", "hash": b, "kind": "file"}
    definition = svc.get_workflow("wf")["definition_hash"]
    with pytest.raises(DataRefError, match="file \\(blob\\) or a directory"):
        svc.tag_data("data/r", definition)
    with pytest.raises(DataRefError, match="not a data ref"):
        svc.tag_data("workflows/wf", a)
    with pytest.raises(ObjectNotFound):
        svc.tag_data("data/r", "ab" * 32)
    assert svc.list_data() == [{"ref": "data/r", "hash": b, "kind": "file"}]


@pytest.mark.parametrize(("ref", "param", "error"), [
    ("runs/x", "input", "not a data ref"), ("workflows/wf", "input", "not a data ref"),
    ("data/../x", "input", "no '..'"), ("data/r", "n", "of type int"),
    ("data/r", "nope", "not declared")])
def test_bad_subscriptions_are_refused_naming_the_problem(svc, ref, param, error):
    with pytest.raises(DataRefError, match=error):
        svc.add_trigger(ref, workflow="wf", param=param, user="admin")
    assert svc.list_triggers() == []


def test_subscriptions_list_and_remove(svc):
    with pytest.raises(UnknownWorkflow):
        svc.add_trigger("data/r", workflow="nope", param="input", user="admin")
    assert svc.add_trigger("data/r", workflow="wf", param="input", user="admin")["created"]
    assert not svc.add_trigger("data/r", workflow="wf", param="input", user="admin")["created"]
    assert [t["ref"] for t in svc.list_triggers()] == ["data/r"]
    assert svc.remove_trigger("data/r", workflow="wf", param="input")["removed"]
    with pytest.raises(UnknownTrigger):
        svc.remove_trigger("data/r", workflow="wf", param="input")


def test_the_other_params_come_from_the_subscription(svc):
    svc.apply_workflow("pair", {"params": {"reads": {"type": "file"}, "ref": {"type": "file"},
                                           "k": {"type": "int"}}, "tasks": {"a": task()}},
                       user="alice")
    genome = blob(svc, "genome")
    with pytest.raises(ParameterError, match="k"):
        svc.add_trigger("data/reads", workflow="pair", param="reads", user="admin")
    with pytest.raises(ParameterError, match="reads"):  # the triggering param is not given
        svc.add_trigger("data/reads", workflow="pair", param="reads", user="admin",
                        parameters={"reads": genome, "ref": genome, "k": 1})
    made = svc.add_trigger("data/reads", workflow="pair", param="reads", user="admin",
                           parameters={"ref": genome, "k": 21})
    assert made["keeps"] == [genome]
    svc.tag_data("data/reads", b := blob(svc, "reads"))
    [run_id] = TriggerKeeper(svc.store, svc.clock).tick()
    assert svc.get_run(run_id)["parameters"] == {"reads": b, "ref": genome, "k": 21}
