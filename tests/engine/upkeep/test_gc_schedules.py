"""gc keeps what schedules and data refs need: every schedule version (the audit trail),
pinned definitions, the files their parameters and subscriptions' parameters name, and
data refs' targets."""

from __future__ import annotations

import io
import time

from tests.support_engine import task
from wfobj.engine.service import WorkflowService
from wfobj.engine.upkeep.gc import collect_garbage


def test_schedules_and_data_refs_keep_what_they_name(lmdb_store):
    svc = WorkflowService(lmdb_store)
    svc.apply_workflow("wf", {"params": {"f": {"type": "file"}}, "tasks": {"a": task()}},
                       user="a")
    kept = svc.put_file(io.BytesIO(b"schedule input"))["hash"]
    data = svc.put_file(io.BytesIO(b"data input"))["hash"]
    gone = svc.put_file(io.BytesIO(b"nobody's"))["hash"]
    extra = svc.put_file(io.BytesIO(b"a subscription's other param"))["hash"]
    svc.apply_workflow("two", {"params": {"f": {"type": "file"}, "g": {"type": "file"}},
                               "tasks": {"a": task()}}, user="a")
    svc.add_trigger("data/in", workflow="two", param="f", parameters={"g": extra}, user="a")
    svc.add_schedule("s", cron="0 * * * *", workflow="wf", parameters={"f": kept}, pin=True,
                     user="a")
    svc.pause_schedule("s", user="b")
    svc.tag_data("data/in", data)
    pinned = svc.get_workflow("wf")["definition_hash"]
    svc.apply_workflow("wf", {"params": {"f": {"type": "file"}}, "tasks": {"b": task()}},
                       user="a")
    collect_garbage(lmdb_store, grace=600, now=time.time() + 3600)
    assert kept in lmdb_store and data in lmdb_store and pinned in lmdb_store
    assert extra in lmdb_store
    assert gone not in lmdb_store
    assert [h["change"] for h in svc.get_schedule("s")["history"]] == ["paused", "created"]
