"""One LMDB environment per store path per process, and what fork() needs.

LMDB forbids opening one environment twice in a process, and a handle must not be used
across fork(). So environments are shared by path within a process, opened lazily in the
process that uses them, and reopened in a forked child. The fork hooks registered at the
bottom are this package's only import-time side effect: without them a child forked while
a thread of the parent is inside a transaction (gunicorn, engine workers) would inherit
that transaction's locks and reader slot.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import lmdb

# `stored_at`: digest -> when the record was last written or found by a write (8 bytes,
# big-endian Unix milliseconds); gc removes only records older than its grace period
DBS = (b"objects", b"refs", b"meta", b"stored_at")
FILE_MODE = 0o600  # data.mdb and lock.mdb, when LMDB creates them: the owner's only
READER_CHECK_INTERVAL = 10.0  # seconds between sweeps of reader slots left by dead processes
REMAP_BYTES = 8 << 20  # record bytes this process commits between two remaps of the file


class KnownPresent:
    """Digests this process committed or found in the store lately. Objects are never
    removed while they are this young (a collector must wait longer than MAX_AGE), so the
    closure check can skip looking them up: a lookup faults the record's pages into this
    process, megabytes for each chunk of a large file. Bounded in size and age."""

    MAX_ENTRIES = 1 << 16
    MAX_AGE = 300.0

    def __init__(self) -> None:
        self._digests: set[bytes] = set()
        self._since = time.monotonic()

    def __contains__(self, digest: bytes) -> bool:
        # an entry older than MAX_AGE no longer vouches for its digest: gc may have removed it
        return time.monotonic() - self._since <= self.MAX_AGE and digest in self._digests

    def add_all(self, digests: list[bytes]) -> None:
        if (len(self._digests) + len(digests) > self.MAX_ENTRIES
                or time.monotonic() - self._since > self.MAX_AGE):
            self._digests.clear()
            self._since = time.monotonic()
        self._digests.update(digests)


class SharedEnv:
    """An open environment and the locks that keep its transactions apart from map growth."""

    def __init__(self, path: Path, map_size: int):
        self.pid = os.getpid()
        self.env = lmdb.open(
            str(path), map_size=map_size, max_dbs=len(DBS) + 1, max_readers=1024,
            subdir=True, create=True, readahead=False, mode=FILE_MODE,
        )
        self.dbs = {name: self.env.open_db(name) for name in DBS}
        self.users = 0
        # LMDB needs no transaction of this process open while the map size changes:
        # reads hold `guard`, writes hold `write_lock`, a size change holds both (always
        # taken in that order: write_lock, then guard)
        self.guard = threading.RLock()
        self.write_lock = threading.RLock()
        self.checked_at = 0.0
        self.written = 0  # record bytes committed since the map was last (re)made
        self.known = KnownPresent()
        self.check_readers()

    def check_readers(self) -> None:
        """Free reader slots of processes that died holding one: a stale slot pins its old
        snapshot, and LMDB then cannot reuse any page freed since, so the file grows."""
        self.env.reader_check()
        self.checked_at = time.monotonic()

    def check_readers_now_and_then(self) -> None:
        if time.monotonic() - self.checked_at > READER_CHECK_INTERVAL:
            self.check_readers()

    def adopt_map_size(self) -> None:
        with self.write_lock, self.guard:
            self.env.set_mapsize(0)  # the size another process grew the map to
            self.written = 0

    def committed(self, nbytes: int) -> None:
        """`nbytes` of records were just committed. Every REMAP_BYTES the file is mapped
        afresh (LMDB remaps on a size change, here to the size it has): a read of a
        B-tree page maps the whole page-cache folio around it, often megabytes of this
        process's own recent writes, so a process that writes gigabytes would otherwise
        keep more and more of them mapped (its RSS growing with what it stored, though
        the kernel could take the pages back)."""
        self.written += nbytes
        if self.written >= REMAP_BYTES:
            self.adopt_map_size()

    def grow(self) -> None:
        with self.write_lock, self.guard:
            self.env.set_mapsize(max(self.env.info()["map_size"] * 2, 1 << 20))

    def close(self) -> None:
        with self.write_lock, self.guard:
            self.env.close()


_ENVS: dict[tuple[str, int], SharedEnv] = {}
_ENVS_LOCK = threading.Lock()


def acquire(path: Path, map_size: int) -> SharedEnv:
    key = (str(path.resolve()), os.getpid())
    with _ENVS_LOCK:
        shared = _ENVS.get(key)
        if shared is None:
            shared = _ENVS[key] = SharedEnv(path, map_size)
        shared.users += 1
        return shared


def release(path: Path, shared: SharedEnv) -> None:
    key = (str(path.resolve()), shared.pid)
    with _ENVS_LOCK:
        shared.users -= 1
        if shared.users <= 0 and _ENVS.get(key) is shared:
            del _ENVS[key]
            shared.close()


def _before_fork() -> None:
    # No transaction of ours may be open across fork(): wait until none is.
    _ENVS_LOCK.acquire()
    for shared in _ENVS.values():
        shared.write_lock.acquire()
        shared.guard.acquire()


def _after_fork_in_parent() -> None:
    for shared in _ENVS.values():
        shared.guard.release()
        shared.write_lock.release()
    _ENVS_LOCK.release()


def _after_fork_in_child() -> None:
    # The child opens its own handles; the inherited ones are closed (py-lmdb refuses a
    # second open of files still open in this process). With no transaction open this
    # touches nothing the parent shares.
    inherited = list(_ENVS.values())
    _ENVS.clear()
    for shared in inherited:
        shared.guard.release()
        shared.write_lock.release()
        with contextlib.suppress(lmdb.Error):
            shared.env.close()
    _ENVS_LOCK.release()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
