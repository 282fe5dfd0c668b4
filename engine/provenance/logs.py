"""Live logs: a running attempt's stdout and stderr, readable while they are written.

The Docker executor follows the container's output into two spool files and stores them
as blobs when the attempt ends (engine/executors/spools.py), so the API, in other
processes, can send what a running attempt has written so far
(`follow`). Once the attempt is recorded, the rest comes from its stored, verified blobs
and the spool files are gone. Nothing is held in memory but one read of READ_BYTES.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from wfobj.engine.errors import LogStreamCut, UnknownAttempt, UnknownTask
from wfobj.engine.executors.spools import READ_BYTES, STREAMS, live_paths, read_from
from wfobj.engine.model import TaskEvidence, read
from wfobj.engine.runs.rows import RunHead
from wfobj.engine.runs.state import TaskEntry
from wfobj.engine.states import RUN_TERMINAL, TaskStatus
from wfobj.objstore import ObjectStore

FOLLOW_WAIT_S = 30.0  # the longest one follow request waits; the client asks again after
POLL_S = 0.2


def utf8_complete(data: bytes) -> int:
    """How many bytes of `data` end on a whole UTF-8 character (a cut one waits)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)


@dataclass
class LogPosition:
    """What a follower has sent of one attempt: the attempt and a byte offset per stream."""

    attempt: int | None = None
    stdout: int = 0
    stderr: int = 0

    def offset(self, stream: str) -> int:
        return getattr(self, stream)

    def advance(self, stream: str, size: int) -> None:
        setattr(self, stream, getattr(self, stream) + size)


@dataclass(frozen=True)
class Seen:
    """A task's row as a follower last read it, and whether its run had ended."""

    entry: TaskEntry
    terminal: bool


class LogFollower:
    """Yields {"type": "output", …} pieces of one attempt's streams, then one
    {"type": "end", …} record: `ended` true when the attempt (or, for a task never
    started, the run) has ended, false when `wait` seconds passed first or `follow` is
    off; the client then asks again from the offsets it names."""

    def __init__(self, store: ObjectStore, run_id: str, task: str, position: LogPosition, *,
                 follow: bool = True, wait: float = FOLLOW_WAIT_S, poll: float = POLL_S,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store, self.run_id, self.task, self.pos = store, run_id, task, position
        self.follow, self.wait, self.poll = follow, wait, poll
        self.sleep, self.monotonic = sleep, monotonic
        self.run = self.load()
        self.check_attempt()

    def load(self) -> Seen:
        """The task's row and whether the run ended: its manifest and that row only, so
        following one instance of a 100,000-instance run reads a few objects a poll."""
        head = RunHead.load(self.store, self.run_id)
        entry = head.find(self.task)
        if entry is None:
            raise UnknownTask(self.run_id, self.task)
        return Seen(entry, head.state in RUN_TERMINAL)

    def check_attempt(self) -> None:
        entry = self.run.entry
        n = self.pos.attempt
        live = len(entry.attempts) + 1 if entry.state == TaskStatus.RUNNING else None
        if n is not None and not (1 <= n <= len(entry.attempts) or n == live):
            raise UnknownAttempt(self.run_id, self.task, n)

    def current(self) -> int:
        """The attempt followed: the one asked for, else the running one, else the last."""
        if self.pos.attempt is None:
            entry = self.run.entry
            running = entry.state == TaskStatus.RUNNING
            latest = len(entry.attempts) + (1 if running else 0)
            if latest == 0:
                return 0
            self.pos.attempt = latest
        return self.pos.attempt

    def __iter__(self) -> Iterator[dict]:
        deadline = self.monotonic() + self.wait
        while True:
            n = self.current()
            entry = self.run.entry
            if n and n <= len(entry.attempts):
                yield from self.stored(entry.attempts[n - 1])
                return
            if n == 0 and self.run.terminal:
                yield self.end(True, entry.state)
                return
            if n and (entry.state != TaskStatus.RUNNING or self.run.terminal):
                # it ended without evidence (its worker died and the run was recovered):
                # what its spool still holds is all there is
                yield from self.live(n)
                yield self.end(True, entry.state)
                return
            sent = (yield from self.live(n)) if n else 0
            if not self.follow or (not sent and self.monotonic() >= deadline):
                yield self.end(False, entry.state)
                return
            if not sent:
                self.sleep(self.poll)
            self.run = self.load()

    def live(self, attempt: int) -> Iterator[dict]:
        """What the spool files hold past the offsets; returns how many bytes were sent."""
        paths = live_paths(self.store, self.run_id, self.task, attempt)
        sent = 0
        for stream in STREAMS if paths else ():
            data = read_from(paths[stream], self.pos.offset(stream))
            size = utf8_complete(data)
            if size:
                yield self.output(stream, data[:size])
                sent += size
        return sent

    def stored(self, evidence_oid: str) -> Iterator[dict]:
        """The rest of an ended attempt's streams, from its verified blobs; then the end."""
        ev = read(self.store, evidence_oid, TaskEvidence)
        streams = {"stdout": ev.stdout, "stderr": ev.stderr}
        for stream in STREAMS:
            skip = self.pos.offset(stream)
            for piece in self.store.iter_blob(streams[stream]["blob"].oid):
                if skip >= len(piece):
                    skip -= len(piece)
                    continue
                piece, skip = piece[skip:], 0
                for start in range(0, len(piece), READ_BYTES):
                    yield self.output(stream, piece[start:start + READ_BYTES])
        yield self.end(True, ev.state)

    def output(self, stream: str, data: bytes) -> dict:
        item = {"type": "output", "stream": stream, "offset": self.pos.offset(stream),
                "text": data.decode("utf-8", errors="replace")}
        self.pos.advance(stream, len(data))
        return item

    def end(self, ended: bool, state: str) -> dict:
        return {"type": "end", "task": self.task, "attempt": self.pos.attempt or 0,
                "ended": ended, "state": state, "stdout_offset": self.pos.stdout,
                "stderr_offset": self.pos.stderr}


def tail_text(store: ObjectStore, run_id: str, task: str, attempt: int,
              limit: int = READ_BYTES) -> dict[str, str] | None:
    """The last `limit` bytes of each live stream of a running attempt, as text; None
    when the attempt has no live logs here (the web UI's view of a running attempt)."""
    paths = live_paths(store, run_id, task, attempt)
    if paths is None or not paths["stdout"].exists():
        return None
    out = {}
    for stream, path in paths.items():
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        data = read_from(path, max(0, size - limit))
        out[stream] = data[:utf8_complete(data)].decode("utf-8", errors="replace")
    return out


def follow_to_end(follow_logs: Callable[..., Iterator[dict]], run_id: str,
                  task: str) -> Iterator[dict]:
    """Every record of `follow_logs` (a service's, local or remote) for one attempt,
    asking again from the offsets of each `end` record that is not `ended`, until one
    is; the records are passed on as they come, the `end` records included."""
    attempt, offsets = None, {"stdout_offset": 0, "stderr_offset": 0}
    while True:
        end = None
        for item in follow_logs(run_id, task, attempt=attempt, follow=True, **offsets):
            if item["type"] == "end":
                end = item
            yield item
        if end is None:
            raise LogStreamCut(run_id, task)
        if end["ended"]:
            return
        attempt = end["attempt"] or None
        offsets = {"stdout_offset": end["stdout_offset"], "stderr_offset": end["stderr_offset"]}
