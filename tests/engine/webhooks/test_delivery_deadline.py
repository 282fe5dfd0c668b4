"""A webhook try has a total deadline (2 x the hook timeout), however slowly a receiver
trickles its answer: a try is cut before its outbox lease runs out, so no other deliverer
sends the event again while the first send is still open. What a receiver sees twice is a
retry, with the same event id and body. Real trickling receiver sockets on loopback, two
deliverers on one real LMDB store."""

from __future__ import annotations

import threading
import time

from tests.support_engine import chain, service, trigger
from tests.support_webhooks import Receiver, receiving
from wfobj.engine.layout import OUTBOX_NS
from wfobj.engine.webhooks.delivery import Deliverer, DeliverySettings
from wfobj.engine.webhooks.outbox import Outbox
from wfobj.engine.webhooks.registry import HookStore

# each try: 1 s to connect and per read, 2 s in all; the lease is 3 x 1 + 5 = 8 s
SETTINGS = DeliverySettings(concurrency=2, timeout=1.0, backoff=0.3, poll=0.02, gather=0.01,
                            max_tries=2)


def outbox_empty(store) -> bool:
    return next(iter(store.meta_scan(OUTBOX_NS)), None) is None


def serve_until(store, deliverers: list[Deliverer], until, timeout: float) -> None:
    threads = [threading.Thread(target=d.serve) for d in deliverers]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, Outbox(store).list()
            time.sleep(0.05)
    finally:
        for d in deliverers:
            d.stop.set()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads)


def test_a_trickling_receiver_is_cut_at_the_deadline_and_never_sent_to_twice_at_once(
        lmdb_store):
    store = lmdb_store
    # an answer of 150 bytes, one every 0.1 s: 15 s, far past the lease
    with receiving(Receiver(trickle=0.1, trickle_bytes=150)) as rx:
        HookStore(store).add(rx.url, ["run.created"], user="root")
        trigger(service(store), chain("a"))
        pair = [Deliverer(store, settings=SETTINGS, deliverer_id=f"d{i}") for i in range(2)]
        started = time.monotonic()
        serve_until(store, pair, lambda: outbox_empty(store), timeout=40)
        took = time.monotonic() - started
        time.sleep(0.5)  # the receiver notices the last hang-up
        got = sorted(rx.received, key=lambda r: r.at)
    [logged] = Outbox(store).list()
    assert (logged.state, logged.tries, logged.status) == ("failed", 2, None)
    assert logged.error == "no answer within 2s (the deadline of one try)"
    assert len(got) == logged.tries  # every send is a logged try: none behind the log's back
    for r in got:  # each cut at the deadline (the receiver sees the hang-up a trickle later)
        assert r.closed_at is not None and r.closed_at - r.at < 3.0, r.closed_at - r.at
    for first, then in zip(got, got[1:], strict=False):
        assert first.closed_at <= then.at  # one try at a time
    assert len({r.body for r in got}) == 1  # a retry is the same event, id and body
    assert took < 15


def test_a_slow_answer_within_the_deadline_is_delivered(lmdb_store):
    store = lmdb_store
    # 60 bytes, one every 0.02 s: 1.2 s in all, every read well within the 1 s timeout
    with receiving(Receiver(trickle=0.02, trickle_bytes=60)) as rx:
        HookStore(store).add(rx.url, ["run.created"], user="root")
        trigger(service(store), chain("a"))
        serve_until(store, [Deliverer(store, settings=SETTINGS)],
                    lambda: outbox_empty(store), timeout=20)
        assert len(rx.received) == 1
    [logged] = Outbox(store).list()
    assert (logged.state, logged.tries, logged.status) == ("delivered", 1, 200)


def test_stopping_the_deliverer_waits_no_longer_than_a_try(lmdb_store):
    store = lmdb_store
    with receiving(Receiver(trickle=0.1, trickle_bytes=600)) as rx:
        HookStore(store).add(rx.url, ["run.created"], user="root")
        trigger(service(store), chain("a"))
        deliverer = Deliverer(store, settings=SETTINGS)
        thread = threading.Thread(target=deliverer.serve)
        thread.start()
        rx.wait_for(1)
        stopping = time.monotonic()
        deliverer.stop.set()
        thread.join(30)
        assert time.monotonic() - stopping < 3.0
    [logged] = Outbox(store).list()
    assert (logged.state, logged.tries) == ("pending", 1)
    assert "deadline" in logged.error
