"""Request heads still arriving: the connections a gunicorn worker holds in its poller,
without a thread, until the request line and headers are all in (gunicorn_workers.py).

A client that sends its head a byte at a time would otherwise hold a request thread for
as long as it keeps sending, however slowly: the socket's read timeout starts again with
every byte. Here a head has one deadline for all of it (`--header-timeout`, by default
`--client-timeout`), is held to MAX_HEAD_BYTES, and at most `limit` heads wait at once
per worker: one more pushes the oldest out. So a trickling client costs a socket and at
most MAX_HEAD_BYTES of memory, and only for the deadline.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum

MAX_HEAD_BYTES = 64 << 10  # a request line and headers, together
DEFAULT_TIMEOUT = 30.0  # seconds, as `serve --client-timeout`
DEFAULT_LIMIT = 256  # heads waiting at once, per worker process
TIMEOUT_ENV = "WFOBJ_HEADER_TIMEOUT"
LIMIT_ENV = "WFOBJ_HEADER_CONNECTIONS"


class Verdict(Enum):
    WAIT = "wait"  # the head has not ended yet
    READY = "ready"  # gunicorn's parser can take it without reading the socket again
    TOO_LARGE = "too large"  # over MAX_HEAD_BYTES and not ended


def head_state(data: bytes | bytearray, start: int = 0) -> Verdict:
    """Whether `data` holds a whole head: an empty line ends it, and a bare LF (which
    gunicorn refuses at once) makes it ready too. Only `data[start:]` is new since the
    last look, so only the bytes around it are scanned."""
    end = data.find(b"\r\n\r\n", max(0, start - 3))
    if end >= 0:
        return Verdict.TOO_LARGE if end + 4 > MAX_HEAD_BYTES else Verdict.READY
    if _bare_lf(data, start):
        return Verdict.READY
    return Verdict.TOO_LARGE if len(data) > MAX_HEAD_BYTES else Verdict.WAIT


def _bare_lf(data: bytes | bytearray, start: int) -> bool:
    at = data.find(b"\n", start)
    while at >= 0:
        if at == 0 or data[at - 1] != 0x0D:
            return True
        at = data.find(b"\n", at + 1)
    return False


@dataclass
class Waiting:
    deadline: float
    data: bytearray = field(default_factory=bytearray)


class WaitingHeads:
    """The connections whose head is arriving, oldest first, with what each has sent."""

    def __init__(self, timeout: float, limit: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout, self.limit, self.clock = timeout, limit, clock
        self._waiting: OrderedDict[Hashable, Waiting] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, conn: Hashable) -> bool:
        return conn in self._waiting

    def hold(self, conn: Hashable, data: bytes = b"") -> list[Hashable]:
        """Start waiting for the head of `conn` (`data`: what it sent already); the
        connections pushed out to stay within the limit, oldest first."""
        self._waiting[conn] = Waiting(self.clock() + self.timeout, bytearray(data))
        pushed = []
        while len(self._waiting) > self.limit:
            pushed.append(self._waiting.popitem(last=False)[0])
        return pushed

    def feed(self, conn: Hashable, chunk: bytes) -> Verdict:
        waiting = self._waiting[conn]
        start = len(waiting.data)
        waiting.data += chunk
        return head_state(waiting.data, start)

    def take(self, conn: Hashable) -> bytes:
        """Stop waiting for `conn`; what it sent."""
        waiting = self._waiting.pop(conn, None)
        return b"" if waiting is None else bytes(waiting.data)

    def expired(self) -> list[tuple[Hashable, bool]]:
        """Take out the connections past their deadline: (conn, whether it sent anything)."""
        now, out = self.clock(), []
        while self._waiting:
            conn, waiting = next(iter(self._waiting.items()))
            if waiting.deadline > now:
                break
            del self._waiting[conn]
            out.append((conn, bool(waiting.data)))
        return out

    def cut_short(self, seconds: float) -> None:
        """Let every head wait `seconds` more at most (a stopping worker)."""
        latest = self.clock() + seconds
        for waiting in self._waiting.values():
            waiting.deadline = min(waiting.deadline, latest)


def from_environment() -> WaitingHeads:
    """The deadline and the limit `wfobj serve` gave its gunicorn (TIMEOUT_ENV, LIMIT_ENV),
    or the defaults."""
    return WaitingHeads(float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT),
                        int(os.environ.get(LIMIT_ENV) or DEFAULT_LIMIT))
