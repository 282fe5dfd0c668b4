"""The deliverer against loopback receivers on a real LMDB store: signed CloudEvents in
each run's order, retries with backoff, give-ups, hanging receivers that hold nothing but
their own deliveries, and deliverers sharing a store without sending twice."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import replace

from tests.engine.webhooks.test_outbox import Secrets
from tests.support_engine import chain, run_with, service, trigger
from tests.support_webhooks import Receiver, checked_event, receiving
from wfobj.engine.clock import Clock
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.layout import OUTBOX_NS
from wfobj.engine.runs.state import run_ref
from wfobj.engine.webhooks.delivery import Deliverer, DeliverySettings
from wfobj.engine.webhooks.events import EVENT_NAMES, SIGNATURE_HEADER
from wfobj.engine.webhooks.outbox import Outbox, run_epoch
from wfobj.engine.webhooks.registry import HookStore

FAST = DeliverySettings(concurrency=4, timeout=2.0, backoff=0.05, poll=0.02, max_tries=3,
                        gather=0.01)


def drain(store, deliverer: Deliverer, until, timeout: float = 20.0) -> None:
    """Step `deliverer` until `until()` holds (or fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    deliverer.initialize()
    try:
        while not until():
            assert time.monotonic() < deadline, Outbox(store).list()
            deliverer.loop()
    finally:
        deliverer.shutdown()


def outbox_empty(store) -> bool:
    return next(iter(store.meta_scan(OUTBOX_NS)), None) is None


def test_a_failed_run_arrives_signed_valid_and_in_order(lmdb_store):
    store = lmdb_store
    secrets = Secrets(hooksig=b"s3cret")
    with receiving() as rx:
        HookStore(store, secrets=secrets).add(rx.url, list(EVENT_NAMES), secret_name="hooksig",
                                              user="root")
        run_id = trigger(service(store), chain("a", "b"))
        run_with(store, run_id, {"a": TaskBehavior(exit_code=2)})
        drain(store, Deliverer(store, secrets=secrets, settings=FAST),
              lambda: outbox_empty(store))
        got = rx.wait_for(4)
    events = [checked_event(r) for r in got]
    assert [e.get_type() for e in events] == ["org.wfobj.run.created", "org.wfobj.run.started",
                                              "org.wfobj.task.failed", "org.wfobj.run.failed"]
    assert {e.get_source() for e in events} == {f"/api/runs/{run_id}"}
    assert len({e.get_id() for e in events}) == 4
    last = events[-1].get_data()
    assert last["manifest"] == store.get_ref(run_ref(run_id)) and last["state"] == "failed"
    assert events[2].get_data()["task"] == "a" and events[2].get_subject() == "a"
    for r in got:
        expected = "sha256=" + hmac.new(b"s3cret", r.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(r.headers[SIGNATURE_HEADER], expected)
        assert r.headers["Content-Type"].startswith("application/cloudevents+json")
    log = Outbox(store).list(run_id=run_id)
    assert [(d.state, d.tries, d.status) for d in log] == [("delivered", 1, 200)] * 4


def test_500_then_200_is_retried_with_backoff_and_logged(lmdb_store):
    store = lmdb_store
    with receiving(Receiver(answers=[500, 503])) as rx:
        hook = HookStore(store).add(rx.url, ["run.created", "run.succeeded"], user="root")
        run_id = trigger(service(store), chain("a"))
        run_with(store, run_id)
        drain(store, Deliverer(store, settings=FAST), lambda: outbox_empty(store))
        got = rx.wait_for(4)
    # the run's second event waited until its first was through
    ids = [r.event["type"] for r in got]
    assert ids == ["org.wfobj.run.created"] * 3 + ["org.wfobj.run.succeeded"]
    assert "X-Wfobj-Signature" not in got[0].headers  # a hook without a secret: unsigned
    created, ended = sorted(Outbox(store).list(hook=hook.id), key=lambda d: d.key)
    assert (created.state, created.tries, created.status, created.error) == (
        "delivered", 3, 200, None)
    assert (ended.state, ended.tries) == ("delivered", 1)


def test_a_receiver_that_never_succeeds_is_given_up_and_the_run_goes_on(lmdb_store):
    store = lmdb_store
    with receiving(Receiver(then=500)) as rx:
        HookStore(store).add(rx.url, ["run.created", "run.succeeded"], user="root")
        run_id = trigger(service(store), chain("a"))
        run_with(store, run_id)
        drain(store, Deliverer(store, settings=FAST), lambda: outbox_empty(store))
    log = Outbox(store).list(run_id=run_id)
    assert [(d.state, d.tries, d.status, d.error) for d in log] == [
        ("failed", 3, 500, "HTTP 500")] * 2
    assert log[0].to_json()["type"] == "org.wfobj.run.succeeded"


def test_a_hanging_receiver_costs_only_its_own_deliveries(lmdb_store):
    store = lmdb_store
    settings = DeliverySettings(concurrency=4, timeout=2.0, backoff=30, poll=0.02, gather=0.05)
    with receiving(Receiver(hang=60)) as stuck, receiving() as fine:
        hooks = HookStore(store)
        stuck_hook = hooks.add(stuck.url, list(EVENT_NAMES), user="root")
        hooks.add(fine.url, list(EVENT_NAMES), user="root")
        runs = [trigger(service(store), chain("a"), name=f"w{i}") for i in range(3)]
        deliverer = Deliverer(store, settings=settings)
        deliverer.initialize()
        try:
            t0 = time.monotonic()
            for run_id in runs:
                run_with(store, run_id)  # the engine never waits for the deliverer
            engine = time.monotonic() - t0
            deadline = time.monotonic() + 10
            while len(fine.received) < 9 and time.monotonic() < deadline:
                step = time.monotonic()
                deliverer.loop()
                assert time.monotonic() - step < 1.0  # a step never waits out a receiver
        finally:
            deliverer.shutdown()
        assert engine < 5
        assert len(fine.received) == 9
        stuck_log = Outbox(store).list(hook=stuck_hook.id)
    assert all(d.state == "pending" for d in stuck_log) and len(stuck_log) == 9
    tried = [d for d in stuck_log if d.tries]
    assert len(tried) == 3 and all("ReadTimeout" in d.error for d in tried)
    # one try per run (its first event), then backoff: nothing else of those runs was sent
    assert len(stuck.received) == 3


def test_an_expired_lease_is_sent_again_by_another_deliverer(lmdb_store):
    store = lmdb_store
    with receiving() as rx:
        HookStore(store).add(rx.url, ["run.created"], user="root")
        trigger(service(store), chain("a"))
        box = Outbox(store)
        raw, head = box.heads(time.time(), busy=set(), limit=1)[0]
        assert box.claim(raw, head, "dead-deliverer", time.time() + 0.3) is not None
        other = Deliverer(store, settings=FAST)
        other.initialize()
        try:
            other.loop()
            assert rx.received == []  # leased by the dead one
            time.sleep(0.4)
            drain(store, other, lambda: outbox_empty(store))
        finally:
            other.shutdown()
        assert len(rx.wait_for(1)) == 1


def test_two_deliverers_on_one_store_send_each_event_once(lmdb_store):
    store = lmdb_store
    with receiving() as rx:
        HookStore(store).add(rx.url, list(EVENT_NAMES), user="root")
        for i in range(6):
            run_with(store, trigger(service(store), chain("a", "b"), name=f"w{i}"))
        pair = [Deliverer(store, settings=FAST, deliverer_id=f"d{i}") for i in range(2)]
        threads = [threading.Thread(target=d.serve) for d in pair]
        for t in threads:
            t.start()
        try:
            rx.wait_for(18)
            deadline = time.monotonic() + 10
            while not outbox_empty(store) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            for d in pair:
                d.stop.set()
            for t in threads:
                t.join(10)
    ids = [r.event["id"] for r in rx.received]
    assert len(ids) == 18 and len(set(ids)) == 18


def test_a_removed_hook_drops_its_pending_events(lmdb_store):
    store = lmdb_store
    hooks = HookStore(store)
    hook = hooks.add("http://127.0.0.1:9/never", ["run.created"], user="root")
    trigger(service(store), chain("a"))
    hooks.remove(hook.id, user="root")
    drain(store, Deliverer(store, settings=FAST), lambda: outbox_empty(store))
    [done] = Outbox(store).list()
    assert (done.state, done.tries, done.error) == ("dropped", 0, "the hook was removed")


def test_a_secret_removed_after_the_hook_fails_its_deliveries_at_once(lmdb_store):
    store = lmdb_store
    secrets = Secrets(k=b"v")
    with receiving() as rx:
        HookStore(store, secrets=secrets).add(rx.url, ["run.created"], secret_name="k",
                                              user="root")
        trigger(service(store), chain("a"))
        del secrets.values["k"]
        drain(store, Deliverer(store, secrets=secrets, settings=FAST),
              lambda: outbox_empty(store))
        assert rx.received == []
    [done] = Outbox(store).list()
    assert done.state == "failed" and "secret 'k' no longer exists" in done.error


def test_the_delivery_log_keeps_the_runs_of_its_days(lmdb_store, monkeypatch):
    from wfobj.engine.runs import lifecycle

    # run ids stay increasing within a process: a test before this one that made a run on
    # a clock set days ahead leaves later ids at that time, so start from the real clock
    monkeypatch.setattr(lifecycle, "_last_uuid7", [0, 0])
    store = lmdb_store
    with receiving() as rx:
        HookStore(store).add(rx.url, ["run.created"], user="root")
        old = trigger(service(store), chain("a"))
        time.sleep(0.005)  # run ids carry their creation millisecond: tell the two apart
        new = trigger(service(store), chain("a"))

        def both_logged() -> bool:  # a send is logged once its answer is in, after the claim
            return outbox_empty(store) and {d.run_id for d in Outbox(store).list()} == {old, new}

        drain(store, Deliverer(store, settings=FAST), both_logged)
    box = Outbox(store)
    assert box.prune_log(run_epoch(new)) == 1  # only the older run's line
    assert [d.run_id for d in box.list()] == [new]
    assert box.prune_log(run_epoch(new)) == 0
    keep_all = Deliverer(store, settings=replace(FAST, log_days=0))
    keep_all.initialize()
    assert keep_all.prune() == 0
    keep_all.shutdown()

    class Later(Clock):
        def epoch(self) -> float:
            return time.time() + 31 * 86400

    later = Deliverer(store, settings=FAST, clock=Later())
    later.initialize()
    assert later.prune() == 1 and later.prune() == 0  # then not again within the hour
    later.shutdown()
    assert Outbox(store).list() == [] and old < new
