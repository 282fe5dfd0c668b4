"""Clients that trickle a request head, one byte every second or two, cost a real `wfobj
serve` nothing but their sockets: the API keeps answering, and each trickler is cut off
once its head has taken the header deadline (default --client-timeout) or when too many
wait at once. Real gunicorn on loopback; only generous liveness bounds, no timings."""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest
import requests

from tests.support_e2e import start_server

pytestmark = pytest.mark.slow

# a request head that never ends: every byte of it is sent, one at a time
HEAD = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 4000


def address(url: str) -> tuple[str, int]:
    host, port = url.rsplit("//", 1)[1].split(":")
    return host, int(port)


class Trickler:
    """One connection sending `prefix` at once, then `trickle` a byte at a time;
    `closed_after` is how long it lived once the server closed it (None while it lives),
    `answer` what the server sent."""

    def __init__(self, where: tuple[str, int], prefix: bytes = b"", trickle: bytes = HEAD):
        self.sock = socket.create_connection(where, timeout=10)
        self.sock.sendall(prefix)
        self.trickle = trickle
        self.opened = time.monotonic()
        self.sent = 0
        self.closed_after: float | None = None
        self.answer = b""

    def step(self) -> None:
        """Send the next byte, or notice that the server closed the connection."""
        if self.closed_after is not None:
            return
        try:
            if not self.read_what_came():
                self.sock.sendall(self.trickle[self.sent % len(self.trickle):][:1])
                self.sent += 1
                return
        except OSError:
            pass
        self.closed_after = time.monotonic() - self.opened
        self.sock.close()

    def read_what_came(self) -> bool:
        """Keep what the server sent; True once it closed the connection."""
        self.sock.setblocking(False)
        try:
            while data := self.sock.recv(4096):
                self.answer += data
            return True
        except BlockingIOError:
            return False
        finally:
            self.sock.setblocking(True)


class Swarm:
    """`count` tricklers, each sending a byte every one or two seconds, from one thread;
    with `replace`, a closed trickler is replaced by a new one (the attack goes on)."""

    def __init__(self, url: str, count: int, replace: bool, **trickler: bytes) -> None:
        self.where, self.replace, self.trickler = address(url), replace, trickler
        self.live = [Trickler(self.where, **trickler) for _ in range(count)]
        self.done: list[Trickler] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopping.is_set():
            for t in list(self.live):
                t.step()
                if t.closed_after is not None:
                    self.live.remove(t)
                    self.done.append(t)
                    if self.replace:
                        self.live.append(Trickler(self.where, **self.trickler))
            self.stopping.wait(random.uniform(1.0, 2.0))

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        for t in self.live:
            t.sock.close()


def health_within(url: str, seconds: float) -> bool:
    try:
        return requests.get(url + "/api/health", timeout=seconds).ok
    except requests.RequestException:
        return False


def slow_health_checks(url: str, seconds: float) -> list[float]:
    """Ask /api/health twice a second for `seconds`: when (s from the start) an answer
    took over 2 s."""
    slow = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        asked = time.monotonic()
        if not health_within(url, 2.0):
            slow.append(round(asked - start, 1))
        time.sleep(max(0.0, 0.5 - (time.monotonic() - asked)))
    return slow


def test_forty_tricklers_do_not_keep_health_from_answering(tmp_path):
    srv = start_server(tmp_path, engine_workers=0, extra=("--client-timeout", "5"))
    swarm = Swarm(srv.url, 40, replace=True)
    try:
        time.sleep(3)  # every trickler has sent a few bytes: a thread each, before the fix
        slow = slow_health_checks(srv.url, 20)
        assert not slow, f"/api/health took over 2 s at {slow} s\n{srv.log()}"
        assert swarm.done, "no trickler was ever cut off"
    finally:
        swarm.stop()
        srv.stop()


UPLOAD = (b"POST /api/objects HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream"
          b"\r\nContent-Length: 100000\r\n\r\n")


def test_forty_unauthenticated_bodies_trickling_do_not_hold_threads(tmp_path):
    """The head is whole and answered 401 at once; the body the app never read must not
    be waited for in a thread, a byte at a time."""
    srv = start_server(tmp_path, engine_workers=0)
    swarm = Swarm(srv.url, 40, replace=True, prefix=UPLOAD, trickle=b"b")
    try:
        time.sleep(3)
        slow = slow_health_checks(srv.url, 15)
        assert not slow, f"/api/health took over 2 s at {slow} s\n{srv.log()}"
        assert swarm.done and all(t.answer.startswith(b"HTTP/1.1 401 ") for t in swarm.done)
    finally:
        swarm.stop()
        srv.stop()


def test_a_trickler_is_cut_off_at_the_header_deadline(tmp_path):
    srv = start_server(tmp_path, engine_workers=0, workers=1, extra=("--client-timeout", "3"))
    swarm = Swarm(srv.url, 3, replace=False)
    try:
        end = time.monotonic() + 30
        while swarm.live and time.monotonic() < end:
            time.sleep(0.2)
        assert not swarm.live, "a trickler outlived its header deadline by far"
        for t in swarm.done:
            assert t.closed_after >= 2.0  # not before its deadline
            assert t.answer.startswith(b"HTTP/1.1 408 "), t.answer
        assert health_within(srv.url, 2.0)
    finally:
        swarm.stop()
        srv.stop()


def test_too_many_tricklers_at_once_push_the_oldest_out(tmp_path):
    srv = start_server(tmp_path, engine_workers=0, workers=1,
                       extra=("--header-timeout", "120", "--header-connections", "8"))
    swarm = Swarm(srv.url, 20, replace=False)
    try:
        end = time.monotonic() + 30
        while len(swarm.done) < 12 and time.monotonic() < end:
            time.sleep(0.2)
        assert len(swarm.done) >= 12, "connections past the cap were kept"
        assert health_within(srv.url, 2.0)
    finally:
        swarm.stop()
        srv.stop()


def test_clients_that_never_close_do_not_stall_the_worker(tmp_path):
    """A whole request with `Connection: close`, then the client keeps its socket open
    and silent: closing it politely (reading what it may still send) must not wait."""
    srv = start_server(tmp_path, engine_workers=0, workers=1)
    request = b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    held = []
    try:
        for _ in range(60):
            sock = socket.create_connection(address(srv.url), timeout=10)
            sock.sendall(request)
            held.append(sock)
        slow = slow_health_checks(srv.url, 10)
        assert not slow, f"/api/health took over 2 s at {slow} s"
        answered = sum(sock.recv(4096).startswith(b"HTTP/1.1 200 ") for sock in held)
        assert answered == len(held)  # each got its whole answer before the close
    finally:
        for sock in held:
            sock.close()
        srv.stop()


# ---- what the waiting room must not break --------------------------------------------

@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("heads"), engine_workers=0, workers=1)
    yield server
    assert server.stop() == 0, server.log()


def exchange(srv, *pieces: bytes, pause: float = 0.0) -> bytes:
    """Send `pieces` (with `pause` between them) on one connection; all it answers until
    the server closes it."""
    with socket.create_connection(address(srv.url), timeout=20) as sock:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(pause)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_head_in_pieces_then_a_pipelined_second_request(srv):
    first = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    second = b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = exchange(srv, first[:10], first[10:30], first[30:] + second[:20], second[20:],
                    pause=0.3)
    assert data.count(b"HTTP/1.1 200 OK") == 2, data


def test_kept_alive_connections_and_bodies_are_served(srv):
    with requests.Session() as session:
        for i in range(5):
            body = bytes([i]) * (200_000 + i)
            up = session.post(f"{srv.url}/api/objects", data=body, timeout=20,
                              headers=srv.h(**{"Content-Type": "application/octet-stream"}))
            assert up.status_code == 201, up.text
            got = session.get(f"{srv.url}/api/objects/{up.json()['hash']}", timeout=20,
                              headers=srv.h("reader"))
            assert got.content == body


def test_a_head_over_64_kib_is_a_json_431(srv):
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 8000) for i in range(9))
    data = exchange(srv, b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert data.startswith(b"HTTP/1.1 431 "), data[:200]
    assert b'"title": "Request Header Fields Too Large"' in data
