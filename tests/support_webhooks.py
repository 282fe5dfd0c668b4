"""A loopback webhook receiver for tests: records what it is sent and answers as told
(200, a status per request in turn, hangs, or trickles its answer a byte at a time),
each request on its own thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudevents.core.bindings.http import HTTPMessage, from_http_event


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when the request was read
    closed_at: float | None = None  # when the answer ended (sent whole, or cut by the sender)

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """`answers`: statuses given to the first requests in turn, then `then` to every
    other; `hang` seconds of silence before answering (the request is recorded first);
    `trickle`: seconds between the bytes of an answer sent one at a time, its headers
    padded to `trickle_bytes`, until it is sent or the sender hangs up."""

    answers: list[int] = field(default_factory=list)
    then: int = 200
    hang: float = 0.0
    trickle: float = 0.0
    trickle_bytes: int = 100
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self, got: Received) -> int:
        with self.lock:
            self.received.append(got)
            return self.answers.pop(0) if self.answers else self.then

    def events(self) -> list[dict]:
        with self.lock:
            return [r.event for r in self.received]

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while len(self.received) < count and not deadline.is_set():
                deadline.wait(0.05)
        finally:
            timer.cancel()
        assert len(self.received) >= count, (len(self.received), self.events())
        return list(self.received)


def checked_event(got: Received):
    """The request parsed by the CloudEvents SDK (its v1.0 event refuses a malformed one)."""
    headers = {k.lower(): v for k, v in got.headers.items()}
    return from_http_event(HTTPMessage(headers=headers, body=got.body))


@contextmanager
def receiving(receiver: Receiver | None = None, port: int = 0) -> Iterator[Receiver]:
    """A receiver on loopback (on `port`, default any free one) while inside."""
    receiver = receiver or Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got = Received(self.path, dict(self.headers), body)
            status = receiver.answer(got)
            if receiver.trickle:
                self.trickle(status)
            else:
                if receiver.hang:
                    receiver.released.wait(receiver.hang)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            got.closed_at = time.monotonic()

        def trickle(self, status: int) -> None:
            head = f"HTTP/1.1 {status} OK\r\nContent-Length: 0\r\nX-Pad: "
            answer = (head + "x" * max(0, receiver.trickle_bytes - len(head))
                      + "\r\n\r\n").encode()
            self.close_connection = True
            try:
                for i in range(len(answer)):
                    self.wfile.write(answer[i:i + 1])
                    if receiver.released.wait(receiver.trickle):
                        return
            except OSError:
                pass  # the sender hung up

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()
