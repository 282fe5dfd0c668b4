"""The outbox: an event is in the store exactly when the change it tells of is, once per
hook that wants it, in the order of the run's audit entries; hooks as stored config."""

from __future__ import annotations

import pytest

from tests.support_engine import chain, run_with, service, trigger
from wfobj.engine.errors import HookRefused, UnknownHook
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.layout import OUTBOX_NS
from wfobj.engine.runs.state import RunState, run_ref
from wfobj.engine.states import RunStatus
from wfobj.engine.webhooks.events import EVENT_NAMES
from wfobj.engine.webhooks.outbox import Delivery, Outbox
from wfobj.engine.webhooks.registry import HookStore
from wfobj.objstore import ConflictError

URL = "http://127.0.0.1:9/hook"


class Secrets:
    """A secret source holding fixed values (the real one is engine/access/secrets.py)."""

    def __init__(self, **values: bytes) -> None:
        self.values = values

    def exists(self, name: str) -> bool:
        return name in self.values

    def value(self, name: str) -> bytes:
        return self.values[name]


def outbox(store) -> list[tuple[str, dict]]:
    """(key, the CloudEvent) of every outbox entry."""
    return [(key, Delivery.from_bytes(key, raw).event)
            for key, raw in store.meta_scan(OUTBOX_NS)]


def test_no_hook_no_entries(store):
    run_id = trigger(service(store), chain("a"))
    assert run_with(store, run_id)[0] == RunStatus.SUCCESS
    assert outbox(store) == []


def test_each_wanted_event_is_queued_in_order_with_the_manifest_of_its_commit(store):
    hooks = HookStore(store)
    every = hooks.add(URL, list(EVENT_NAMES), user="root")
    ends = hooks.add(URL, "run.succeeded,run.failed", user="root")
    run_id = trigger(service(store), chain("a", "b"))
    state, _ = run_with(store, run_id, {"a": TaskBehavior(exit_code=3)})
    assert state == RunStatus.FAILED
    mine = [(k, v) for k, v in outbox(store) if k.endswith(every.id)]
    types = [v["type"] for _, v in mine]
    assert types == ["org.wfobj.run.created", "org.wfobj.run.started",
                     "org.wfobj.task.failed", "org.wfobj.run.failed"]
    assert [k for k, _ in mine] == sorted(k for k, _ in mine)
    raw = store.meta_get(OUTBOX_NS, mine[0][0])
    assert len(raw) < 400, raw  # what the event is made of, not its JSON
    last = mine[-1][1]
    assert last["data"]["manifest"] == store.get_ref(run_ref(run_id))
    assert last["data"]["state"] == "failed" and last["data"]["workflow"] == "wf"
    assert mine[2][1]["subject"] == "a"
    # each event names the manifest its own transaction wrote: the first holding its entry
    for _, value in mine:
        data = value["data"]
        manifest = store.get_object(data["manifest"])
        assert manifest["audit_count"] >= data["audit_seq"]
        if manifest.get("previous") is not None:
            assert store.get_object(manifest["previous"].oid)["audit_count"] < data["audit_seq"]
    theirs = [v["type"] for k, v in outbox(store) if k.endswith(ends.id)]
    assert theirs == ["org.wfobj.run.failed"]


def test_a_change_that_does_not_commit_queues_nothing(store):
    HookStore(store).add(URL, ["run.started"], user="root")
    run_id = trigger(service(store), chain("a"))
    run = RunState.load(store, run_id)
    stale = RunState.load(store, run_id)
    with run.change(store, "2026-12-03T10:00:00.000000Z") as b:
        run.audit(b, at="2026-12-03T10:00:00.000000Z", actor="t", event="run_state",
                  old=run.state, new=RunStatus.RUNNING)
        run.set_state(RunStatus.RUNNING, "2026-12-03T10:00:00.000000Z")
    assert len(outbox(store)) == 1
    with pytest.raises(ConflictError), stale.change(store, "2026-12-03T10:00:01.000000Z") as b:
        stale.audit(b, at="2026-12-03T10:00:01.000000Z", actor="t", event="run_state",
                    old=stale.state, new=RunStatus.RUNNING)
        stale.set_state(RunStatus.RUNNING, "2026-12-03T10:00:01.000000Z")
    assert len(outbox(store)) == 1


def test_heads_keep_each_runs_order_per_hook(store):
    hook = HookStore(store).add(URL, list(EVENT_NAMES), user="root")
    first = trigger(service(store), chain("a"))
    second = trigger(service(store), chain("a"))
    run_with(store, first)
    box = Outbox(store)
    heads = box.heads(1e12, busy=set(), limit=10)
    assert [(d.run_id, d.event["type"]) for _, d in heads] == [
        (first, "org.wfobj.run.created"), (second, "org.wfobj.run.created")]
    assert box.heads(1e12, busy={(first, hook.id)}, limit=10)[0][1].run_id == second
    raw, head = heads[0]
    assert box.claim(raw, head, "me", 2e12) is not None
    assert box.claim(raw, head, "other", 2e12) is None  # taken already
    # leased: neither it nor the run's later events are offered
    assert [d.run_id for _, d in box.heads(1e12, busy=set(), limit=10)] == [second]


def test_hook_config_is_checked_and_its_changes_logged(store):
    hooks = HookStore(store, secrets=Secrets(sig=b"k"))
    for url in ("ftp://x/y", "http://", "not a url", "file:///etc/passwd", "", 3):
        with pytest.raises(HookRefused, match="url") as err:
            hooks.add(url, ["run.failed"], user="root")
        assert err.value.field == "url"
    with pytest.raises(HookRefused, match="'run.exploded' is not an event"):
        hooks.add(URL, ["run.failed", "run.exploded"], user="root")
    with pytest.raises(HookRefused, match="events"):
        hooks.add(URL, [], user="root")
    with pytest.raises(HookRefused, match="no secret 'nope'"):
        hooks.add(URL, ["run.failed"], secret_name="nope", user="root")
    hook = hooks.add(URL, "task.failed, run.created", secret_name="sig", user="root")
    assert hook.events == ("run.created", "task.failed") and hook.secret_name == "sig"
    assert [h.id for h in hooks.list()] == [hook.id]
    hooks.remove(hook.id, user="boss")
    with pytest.raises(UnknownHook):
        hooks.remove(hook.id, user="boss")
    changes = hooks.changes()
    assert [(c["user"], c["old"] is None, c["new"] is None) for c in changes] == [
        ("root", True, False), ("boss", False, True)]
    assert changes[1]["old"]["url"] == URL


def test_a_killed_run_and_a_succeeded_one_tell_their_ends(store):
    HookStore(store).add(URL, ["run.succeeded", "run.killed"], user="root")
    svc = service(store)
    killed = trigger(svc, chain("a"))
    svc.kill_run(killed, user="bob")
    done = trigger(svc, chain("a"), name="other")
    run_with(store, done)
    ends = {v["data"]["run_id"]: v for _, v in outbox(store)}
    assert ends[killed]["type"] == "org.wfobj.run.killed"
    assert ends[killed]["data"]["state"] == "killed" and "bob" in ends[killed]["data"]["reason"]
    assert ends[done]["type"] == "org.wfobj.run.succeeded"
    assert ends[done]["data"]["state"] == "success"
