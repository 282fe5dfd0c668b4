"""Closing a connection politely without waiting for the client (gunicorn_workers.py).

RFC 9112 section 9.6: a server that closes a connection shuts its write side first and
reads, and drops, what the client still sends until the client closes too, so that a
reset does not destroy the last answer before the client read it. gunicorn does that
reading in its worker's main loop, blocking for up to two seconds per connection: a few
clients that keep their sockets open after `Connection: close` stall every request of
the worker. Here the reading happens in the worker's poller instead, for LINGER_S at
most, with at most `limit` connections lingering at once (the oldest is closed at once).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections import OrderedDict
from collections.abc import Callable

LINGER_S = 2.0  # as gunicorn's close_graceful
MAX_DRAIN = 64 << 10  # bytes read from one client before its socket is closed anyway
DEFAULT_LIMIT = 1024


class LingeringCloses:
    """Sockets whose write side is shut, read in `poller` until the client closes them,
    their time is up, or they sent MAX_DRAIN more bytes."""

    def __init__(self, poller: selectors.BaseSelector, limit: int = DEFAULT_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.poller, self.limit, self.clock = poller, limit, clock
        self._lingering: OrderedDict[socket.socket, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._lingering)

    def close(self, sock: socket.socket) -> None:
        """Shut the write side of `sock` and close it once the client is done."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self._readable)
        except (OSError, ValueError):
            _close(sock)
            return
        self._lingering[sock] = (self.clock() + LINGER_S, 0)
        while len(self._lingering) > self.limit:
            self.done(next(iter(self._lingering)))

    def _readable(self, sock: socket.socket) -> None:
        deadline, drained = self._lingering[sock]
        try:
            data = sock.recv(MAX_DRAIN)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        drained += len(data)
        if not data or drained >= MAX_DRAIN:
            self.done(sock)
        else:
            self._lingering[sock] = (deadline, drained)

    def expire(self) -> None:
        """Close the sockets whose time is up."""
        now = self.clock()
        while self._lingering:
            sock, (deadline, _) = next(iter(self._lingering.items()))
            if deadline > now:
                return
            self.done(sock)

    def done(self, sock: socket.socket) -> None:
        self._lingering.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
