"""Sync carries `data/` refs: blob and tree targets only, moves forced like any move
that is not a fast-forward; schedules and subscriptions stay in their store."""

from __future__ import annotations

import io

import pytest

from tests.support_engine import task
from wfobj.engine.service import WorkflowService
from wfobj.engine.upkeep.sync_policy import EngineRefPolicy
from wfobj.objstore import MemoryObjectStore, ObjectStore, RefRefused
from wfobj.objstore.sync import REFUSED, UPDATED, LocalRemote, RefPolicy, pull, push

POLICY = EngineRefPolicy()


class AnyRefs(RefPolicy):
    """A side that checks nothing, as an old or hostile peer would."""

    def check_name(self, name: str) -> None:
        pass

    def check_target(self, store: ObjectStore, name: str, oid: str) -> None:
        pass

    def movable(self, name: str) -> bool:
        return True

    def descends(self, store: ObjectStore, ancestor: str, descendant: str) -> bool:
        return True


def stores():
    return WorkflowService(MemoryObjectStore()), MemoryObjectStore()


def test_push_and_pull_carry_data_refs_to_blobs():
    here, there = stores()
    oid = here.put_file(io.BytesIO(b"reads"))["hash"]
    here.tag_data("data/reads", oid)
    here.apply_workflow("wf", {"params": {"f": {"type": "file"}}, "tasks": {"a": task()}},
                        user="a")
    here.add_schedule("s", cron="0 * * * *", workflow="wf", parameters={"f": oid}, user="a")
    here.add_trigger("data/reads", workflow="wf", param="f", user="a")
    report = push(here.store, LocalRemote(there, POLICY), POLICY)
    assert {r.name: r.status for r in report.refs}["data/reads"] == UPDATED
    assert there.get_ref("data/reads") == oid
    assert WorkflowService(there).list_schedules() == []  # standing orders are not synced
    assert WorkflowService(there).list_triggers() == []
    back = MemoryObjectStore()
    pull(back, LocalRemote(there, POLICY), POLICY)
    assert back.get_ref("data/reads") == oid


def test_a_moved_data_ref_needs_force():
    here, there = stores()
    a = here.put_file(io.BytesIO(b"a"))["hash"]
    b = here.put_file(io.BytesIO(b"b"))["hash"]
    here.tag_data("data/x", a)
    push(here.store, LocalRemote(there, POLICY), POLICY)
    here.tag_data("data/x", b)
    report = push(here.store, LocalRemote(there, POLICY), POLICY)
    assert report.refs[0].status == REFUSED and "fast-forward" in report.refs[0].reason
    push(here.store, LocalRemote(there, POLICY), POLICY, force=True)
    assert there.get_ref("data/x") == b


@pytest.mark.parametrize("target", ["object", "version"])
def test_data_refs_to_anything_but_blobs_and_trees_are_refused(target):
    here, there = stores()
    here.apply_workflow("wf", {"tasks": {"a": task()}}, user="a")
    oid = (here.store.put_object({"type": "note", "text": "x"}) if target == "object"
           else here.store.get_ref("workflows/wf"))
    here.store.set_ref_if_equals("data/bad", None, oid)
    with pytest.raises(RefRefused, match="not a blob or a tree"):
        push(here.store, LocalRemote(there, POLICY), AnyRefs())
    with pytest.raises(RefRefused, match="not a blob or a tree"):
        pull(there, LocalRemote(here.store, AnyRefs()), POLICY)
    with pytest.raises(RefRefused, match="letters, digits"):
        POLICY.check_name("data/a b")
