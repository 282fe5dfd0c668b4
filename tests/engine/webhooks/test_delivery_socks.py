"""A webhook try through a SOCKS proxy keeps its total deadline, as a direct one does:
whether the receiver behind the proxy trickles its answer or the proxy trickles its own
handshake, the try is cut at 2 x the hook timeout. A real SOCKS5 proxy on loopback
(tests/support_socks.py, through PySocks as requests uses it), a real trickling receiver,
one deliverer on a real LMDB store."""

from __future__ import annotations

import time

import pytest

from tests.engine.webhooks.test_delivery_deadline import SETTINGS, outbox_empty, serve_until
from tests.support_engine import chain, service, trigger
from tests.support_socks import SocksProxy, socks_proxy
from tests.support_webhooks import Receiver, receiving
from wfobj.engine.webhooks.delivery import Deliverer
from wfobj.engine.webhooks.outbox import Outbox
from wfobj.engine.webhooks.registry import HookStore

DEADLINE_ERROR = "no answer within 2s (the deadline of one try)"


@pytest.fixture
def through(monkeypatch):
    """Send the deliverer's requests through `proxy` (requests reads the environment)."""
    def use(proxy: SocksProxy) -> None:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY",
                     "https_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
    return use


def deliver(store, rx: Receiver) -> float:
    HookStore(store).add(rx.url, ["run.created"], user="root")
    trigger(service(store), chain("a"))
    started = time.monotonic()
    serve_until(store, [Deliverer(store, settings=SETTINGS)], lambda: outbox_empty(store),
                timeout=40)
    return time.monotonic() - started


def test_a_prompt_answer_through_the_proxy_is_delivered(lmdb_store, through):
    with receiving() as rx, socks_proxy() as proxy:
        through(proxy)
        deliver(lmdb_store, rx)
        assert len(rx.received) == 1
    [logged] = Outbox(lmdb_store).list()
    assert (logged.state, logged.status) == ("delivered", 200)
    assert proxy.tunnels and proxy.tunnels[0].target[1] == int(rx.url.split(":")[2].split("/")[0])


def test_a_trickling_receiver_behind_the_proxy_is_cut_at_the_deadline(lmdb_store, through):
    # an answer of 150 bytes, one every 0.1 s (each read well within the 1 s timeout): 15 s
    with receiving(Receiver(trickle=0.1, trickle_bytes=150)) as rx, socks_proxy() as proxy:
        through(proxy)
        took = deliver(lmdb_store, rx)
        time.sleep(0.5)  # the proxy notices the last hang-up
        assert len(rx.received) == 2
    [logged] = Outbox(lmdb_store).list()
    assert (logged.state, logged.tries, logged.error) == ("failed", 2, DEADLINE_ERROR)
    for tunnel in proxy.tunnels:
        assert tunnel.closed_at is not None and tunnel.closed_at - tunnel.opened_at < 3.0
    assert took < 12


def test_a_proxy_trickling_its_handshake_is_cut_at_the_deadline(lmdb_store, through):
    # 12 handshake bytes, one every 0.6 s (each read within the 1 s timeout): 7.2 s a try
    with receiving() as rx, socks_proxy(SocksProxy(trickle=0.6)) as proxy:
        through(proxy)
        took = deliver(lmdb_store, rx)
        time.sleep(0.8)  # the proxy notices the last hang-up
        assert rx.received == []
    [logged] = Outbox(lmdb_store).list()
    assert (logged.state, logged.tries, logged.error) == ("failed", 2, DEADLINE_ERROR)
    assert len(proxy.tunnels) == 2
    for tunnel in proxy.tunnels:
        assert tunnel.closed_at is not None and tunnel.closed_at - tunnel.opened_at < 3.0
    assert took < 12
