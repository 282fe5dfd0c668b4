"""Polite closes that never wait: the write side is shut at once, what the client still
sends is read in the poller, and the socket is closed when the client closes, when its
time is up, or when too many linger. Real socket pairs and a real selector."""

from __future__ import annotations

import selectors
import socket

import pytest

from wfobj.cli.processes.lingering import LINGER_S, LingeringCloses


@pytest.fixture
def poller():
    with selectors.DefaultSelector() as sel:
        yield sel


def dispatch(poller, timeout: float = 0.5) -> None:
    for key, _ in poller.select(timeout):
        key.data(key.fileobj)


def test_the_client_reads_everything_then_eof_and_its_close_ends_the_linger(poller):
    server, client = socket.socketpair()
    closes = LingeringCloses(poller)
    server.sendall(b"the last answer")
    closes.close(server)
    assert client.recv(100) == b"the last answer" and client.recv(100) == b""
    client.sendall(b"more it still sends")  # read and dropped, no reset
    dispatch(poller)
    assert len(closes) == 1
    client.close()
    dispatch(poller)
    assert len(closes) == 0 and server.fileno() == -1


def test_a_client_that_never_closes_is_closed_when_its_time_is_up(poller):
    now = [0.0]
    server, client = socket.socketpair()
    closes = LingeringCloses(poller, clock=lambda: now[0])
    closes.close(server)
    closes.expire()
    assert len(closes) == 1
    now[0] = LINGER_S
    closes.expire()
    assert len(closes) == 0 and server.fileno() == -1
    client.close()


def test_past_the_limit_the_oldest_is_closed_at_once(poller):
    pairs = [socket.socketpair() for _ in range(3)]
    closes = LingeringCloses(poller, limit=2)
    for server, _ in pairs:
        closes.close(server)
    assert len(closes) == 2 and pairs[0][0].fileno() == -1
    for server, client in pairs:
        client.close()
        server.close()
