"""A total deadline for one webhook try, over requests' per-phase timeouts.

requests (urllib3) times each phase (connect, each read of the answer), never a try as a
whole: a receiver that trickles its answer, a byte now and then, keeps a try going for as
long as it likes. Past the lease of its outbox entry another deliverer takes the entry
and sends it again while the first send is still open (docs/events.md). So a try runs
under a `TryDeadline`: the connections it uses register with it (`WatchedAdapter`, mounted
on the deliverer's sessions), and when the deadline passes it shuts their socket down,
which ends the blocked read at once with a connection error.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class TryDeadline:
    """`with TryDeadline(seconds) as d:` around one request made in this thread: once
    `seconds` have passed, the connection it uses is shut down (`expired` says so)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._conn: HTTPConnection | None = None
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

    def attach(self, conn: HTTPConnection) -> None:
        """`conn` carries this try (cut at once if the deadline has passed already)."""
        with self._lock:
            self._conn = conn
            if self.expired:
                _shut(conn)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._conn is not None:
                _shut(self._conn)


def _shut(conn: HTTPConnection) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return  # still connecting: its connect timeout bounds it, then attach() cuts it
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed meanwhile


def _current() -> TryDeadline | None:
    return getattr(_local, "deadline", None)


class _Watched:
    """Registers the connection with the thread's TryDeadline when it connects and when
    a request starts on it (a kept-alive connection does not connect again)."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        if (deadline := _current()) is not None:
            deadline.attach(self)  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        if (deadline := _current()) is not None:
            deadline.attach(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


WATCHED_POOLS = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections a TryDeadline can cut (direct and through an
    HTTP proxy; a SOCKS proxy keeps its own connections, bounded per phase only)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = WATCHED_POOLS
        return manager


def watched_session() -> requests.Session:
    """A requests session whose tries a TryDeadline can cut."""
    session = requests.Session()
    adapter = WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
