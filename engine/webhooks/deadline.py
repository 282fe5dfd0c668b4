"""A total deadline for one webhook try, over requests' per-phase timeouts.

requests (urllib3) times each phase (connect, each read of the answer), never a try as a
whole: a receiver that trickles its answer, a byte now and then, keeps a try going for as
long as it likes. Past the lease of its outbox entry another deliverer takes the entry
and sends it again while the first send is still open (docs/events.md). So a try runs
under a `TryDeadline`: the connections it uses register with it (the `Watched` mixin of
the connections engine/webhooks/transport.py and socks_proxy.py make), and when the
deadline passes it shuts their socket down, which ends the blocked read at once with a
connection error.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from urllib3.connection import HTTPConnection

_local = threading.local()


class TryDeadline:
    """`with TryDeadline(seconds) as d:` around one request made in this thread: once
    `seconds` have passed, the connection it uses is shut down (`expired` says so)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._conn: HTTPConnection | socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> TryDeadline:
        _local.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _local.deadline = None

    def attach(self, conn: HTTPConnection | socket.socket) -> bool:
        """`conn` (a connection, or a socket still connecting) carries this try; cut at
        once if the deadline has passed already. False then."""
        with self._lock:
            self._conn = conn
            if self.expired:
                _shut(conn)
            return not self.expired

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._conn is not None:
                _shut(self._conn)


def _shut(conn: HTTPConnection | socket.socket) -> None:
    sock = conn if isinstance(conn, socket.socket) else getattr(conn, "sock", None)
    if sock is None:
        return  # still connecting: its connect timeout bounds it, then attach() cuts it
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed meanwhile


def current_deadline() -> TryDeadline | None:
    return getattr(_local, "deadline", None)


class Watched:
    """Registers the connection with the thread's TryDeadline: its socket as soon as it
    is connected (before an HTTP proxy's CONNECT tunnel and the TLS handshake, which a
    slow proxy or server could otherwise stretch), the connection once it is set up, and
    again when a request starts on it (a kept-alive connection does not connect again)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        if (deadline := current_deadline()) is not None:
            deadline.attach(sock)  # past the deadline: shut, so what follows fails
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        if (deadline := current_deadline()) is not None:
            deadline.attach(self)  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        if (deadline := current_deadline()) is not None:
            deadline.attach(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]
