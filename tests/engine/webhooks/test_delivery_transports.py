"""A webhook try keeps its total deadline however it goes out, not only directly over
plain HTTP: through a SOCKS proxy (the receiver behind it trickling its answer, or the
proxy trickling its own handshake), to an HTTPS receiver stuck in its TLS handshake, and
through an HTTP proxy slow to answer CONNECT, the try is cut at 2 x the hook timeout.
Real loopback middlemen (tests/support_socks.py; SOCKS through PySocks as requests uses
it), a real trickling receiver, one deliverer on a real LMDB store."""

from __future__ import annotations

import time

import pytest

from tests.engine.webhooks.test_delivery_deadline import SETTINGS, outbox_empty, serve_until
from tests.support_engine import chain, service, trigger
from tests.support_socks import SocksProxy, Trickler, socks_proxy, trickling
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


def deliver(store, rx: Receiver | str) -> float:
    HookStore(store).add(rx if isinstance(rx, str) else rx.url, ["run.created"], user="root")
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


def cut_twice(store, server: Trickler, took: float, error: str = DEADLINE_ERROR) -> None:
    [logged] = Outbox(store).list()
    assert (logged.state, logged.tries) == ("failed", 2)
    assert logged.error.startswith(error), logged.error
    assert len(server.tunnels) == 2
    for tunnel in server.tunnels:
        assert tunnel.closed_at is not None and tunnel.closed_at - tunnel.opened_at < 3.0
    assert took < 12


# a TLS handshake record announcing 16,000 bytes, then its first bytes: 0.5 s a byte (the
# ssl module bounds a whole handshake by the socket's timeout, 1 s here: it ends first)
TLS_STALL = b"\x16\x03\x03\x3e\x80" + b"\x02" * 40


def test_an_https_receiver_stuck_in_its_tls_handshake_is_cut_at_the_deadline(
        lmdb_store, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with trickling(Trickler(TLS_STALL)) as server:
        took = deliver(lmdb_store, f"https://127.0.0.1:{server.port}/hook")
        time.sleep(0.8)  # the server notices the last hang-up
    cut_twice(lmdb_store, server, took, error="ReadTimeout")


def test_an_http_proxy_slow_to_answer_connect_is_cut_at_the_deadline(lmdb_store, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    answer = b"HTTP/1.1 200 Connection established\r\nX-Pad: " + b"x" * 40 + b"\r\n\r\n"
    with trickling(Trickler(answer)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        took = deliver(lmdb_store, "https://receiver.invalid/hook")
        time.sleep(0.8)
    cut_twice(lmdb_store, proxy, took)
