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
import ctypes
import functools
import os
import platform
import threading
import time
from pathlib import Path

import lmdb

# `stored_at`: digest -> when the record was last written or found by a write (8 bytes,
# big-endian Unix milliseconds); gc removes only records older than its grace period
DBS = (b"objects", b"refs", b"meta", b"stored_at")
FILE_MODE = 0o600  # data.mdb and lock.mdb, when LMDB creates them: the owner's only
READER_CHECK_INTERVAL = 10.0  # seconds between sweeps of reader slots left by dead processes
# this process's write transactions drop the pages of the file they mapped after this many
# B-tree lookups or writes, or this many bytes of records written, whichever comes first
DROP_ACCESSES = 8
DROP_BYTES = 1 << 20
# glibc's malloc, tuned once per process (see keep_freed_heap): memory a commit frees is
# kept for the next one up to KEEP_FREED_BYTES, and blocks up to MMAP_ABOVE_BYTES come
# from the heap (LMDB allocates each value's pages in one block: a chunk is at most 4 MiB)
KEEP_FREED_BYTES = 32 << 20
MMAP_ABOVE_BYTES = 8 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
_MADV_DONTNEED = 4


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
        self.accesses = self.written = 0  # since mapped pages were last dropped
        self.known = KnownPresent()
        self.data_file = path / "data.mdb"
        self.mapping = mapping_of(self.data_file)  # (address, length) of the map
        keep_freed_heap()
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
            self.remapped()

    def accessed(self, nbytes: int = 0) -> None:
        """A write transaction (holding the write lock) looked up or wrote a key of a
        table, or `nbytes` of record. Reading a B-tree page of the file maps the whole
        page-cache folio around it (the kernel maps large folios whole), often megabytes
        of recent writes: one lookup in a large store maps 0.2-6 MiB, and a transaction
        that reaches a hundred leaves would map hundreds of MiB, growing with the store.
        So every DROP_ACCESSES lookups or DROP_BYTES of records, mapped pages are dropped:
        what a process maps stays bounded, whatever it stores (the kernel could take these
        pages back, but they count in its RSS)."""
        self.accesses += 1
        self.written += nbytes
        if self.accesses >= DROP_ACCESSES or self.written >= DROP_BYTES:
            self.drop_mapped_pages()

    def drop_mapped_pages(self) -> None:
        """Unmap every page of the file from this process (MADV_DONTNEED: the pages stay
        in the page cache, a later read maps them again; the map is read-only and shared,
        so nothing is lost, even inside a transaction or under a concurrent read).
        Holding the write lock keeps the map where it is meanwhile (only a size change
        moves it). Where the map is not found (not Linux), nothing is dropped."""
        with self.write_lock:
            self.accesses = self.written = 0
            if self.mapping is not None:
                _dont_need(*self.mapping)

    def grow(self) -> None:
        with self.write_lock, self.guard:
            self.env.set_mapsize(max(self.env.info()["map_size"] * 2, 1 << 20))
            self.remapped()

    def remapped(self) -> None:
        """The map was made afresh (a size change): nothing of it is mapped any more."""
        self.accesses = self.written = 0
        self.mapping = mapping_of(self.data_file)

    def close(self) -> None:
        with self.write_lock, self.guard:
            self.env.close()


def mapping_of(path: Path) -> tuple[int, int] | None:
    """(address, length) of this process's shared read-only map of the file at `path`
    (LMDB's map; py-lmdb does not tell where it is), from /proc/self/maps: the mapping of
    that device and inode. None where there is no such file or mapping."""
    try:
        st = os.stat(path)
        with open("/proc/self/maps") as maps:
            lines = maps.readlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(maxsplit=5)  # address perms offset dev inode [path]
        if len(fields) < 5 or fields[1] != "r--s" or int(fields[4]) != st.st_ino:
            continue
        major, minor = (int(n, 16) for n in fields[3].split(":"))
        if (major, minor) == (os.major(st.st_dev), os.minor(st.st_dev)):
            start, end = (int(n, 16) for n in fields[0].split("-"))
            return start, end - start
    return None


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, for madvise (None where it is not Linux's)."""
    if platform.system() != "Linux":
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


_HEAP_KEPT = False


def _dont_need(address: int, length: int) -> bool:
    """madvise(MADV_DONTNEED) over a shared file mapping: its pages are unmapped from this
    process, not lost. False if it failed (or cannot be called here)."""
    libc = _libc()
    return libc is not None and libc.madvise(address, length, _MADV_DONTNEED) == 0


def keep_freed_heap() -> None:
    """Once per process: glibc keeps up to KEEP_FREED_BYTES of freed heap for reuse, and
    serves blocks up to MMAP_ABOVE_BYTES from the heap. Without a writable map, LMDB
    copies a transaction's records into pages it allocates and frees them at commit; by
    default glibc hands megabytes of those back to the kernel after every commit (trims
    the heap, unmaps each large block) and the next commit faults them in again, a page at
    a time: 85,000 page faults and half a second of system time for a 512 MiB put
    (measured), against 17,000 once the memory is kept. A process's peak memory is the
    same either way; what it frees below that is kept, not returned."""
    global _HEAP_KEPT
    libc = _libc()
    if _HEAP_KEPT or libc is None or platform.libc_ver()[0] != "glibc":
        return
    _HEAP_KEPT = True
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt(_M_MMAP_THRESHOLD, MMAP_ABOVE_BYTES)
    libc.mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_BYTES)


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
