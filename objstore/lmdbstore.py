"""LMDB backend: the embedded default store, safe for several processes at once.

Every read runs in its own short read transaction, so no snapshot outlives the call
that needed it (a held snapshot stops LMDB from reusing freed pages, and the file grows).
A full map is grown and the write retried; a map grown by another process is adopted on
the next transaction. A transaction is the unit of atomicity: a kill -9 leaves either all
of a batch or none of it.

A store is private to its owner: a new store's folder is made 0700 and LMDB creates its
files 0600 (lmdbenv.py), whatever the umask, since it holds every parameter, log, output
and token hash. An existing store's modes are left as they are.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import lmdb

from . import lmdbenv
from .errors import StoreNotFound
from .store import ObjectStore, Transaction

T = TypeVar("T")
DEFAULT_MAP_SIZE = 64 << 30
_VERSION_KEY = b"store\x00format"
FORMAT_VERSION = b"1"
STORE_FOLDER_MODE = 0o700  # a new store's folder: its owner only
SCAN_PAGE = 512  # keys read per short transaction by iterators
RECORDS_PER_READ = 256  # records viewed in one short read transaction, at most …
READ_BYTES = 16 << 20  # … and once this many bytes are viewed, no more


class _LmdbTransaction:
    """Transaction (store.py) over one LMDB write transaction."""

    def __init__(self, txn: lmdb.Transaction, shared: lmdbenv.SharedEnv, now_ms: int):
        self.txn = txn
        self.shared = shared  # told of each lookup and write (it drops what they mapped)
        self.stamp = now_ms.to_bytes(8, "big")  # the stored-at time of what this writes
        self.known = shared.known
        self.seen: list[bytes] = []  # digests found or written: present once this commits
        self.objects, self.refs, self.meta, self.times = (shared.dbs[name] for name in lmdbenv.DBS)
        self.cursor = txn.cursor(db=self.objects)

    def has(self, digest: bytes) -> bool:
        # Positioning on a record faults all its pages into this process (py-lmdb reads
        # a value's every page; megabytes for a chunk). So what this process committed
        # itself is not looked up again, and a record is found by its stored-at time,
        # written and removed with it (8 bytes); only records stored before those times
        # were kept, and absent ones, are looked for in the objects table.
        if digest in self.known:
            return True
        self.shared.accessed()
        found = (self.txn.get(digest, db=self.times) is not None
                 or self.cursor.set_key(digest))
        if found:
            self.seen.append(digest)
        return found

    def kind_of(self, digest: bytes) -> bytes | None:
        record = self.txn.get(digest, db=self.objects)
        return None if record is None else bytes(record[:1])

    def put_record(self, digest: bytes, record: bytes) -> None:
        self.shared.accessed(len(record))
        self.txn.put(digest, record, db=self.objects)
        self.touch(digest)
        self.seen.append(digest)

    def touch(self, digest: bytes) -> None:
        self.shared.accessed()
        self.txn.put(digest, self.stamp, db=self.times)

    def stored_at(self, digest: bytes) -> int | None:
        value = self.txn.get(digest, db=self.times)
        return None if value is None else int.from_bytes(value, "big")

    def delete_record(self, digest: bytes) -> None:
        self.txn.delete(digest, db=self.objects)
        self.txn.delete(digest, db=self.times)

    def get_ref(self, name: str) -> bytes | None:
        value = self.txn.get(name.encode(), db=self.refs)
        return None if value is None else bytes(value)

    def set_ref(self, name: str, digest: bytes | None) -> None:
        self._set(self.refs, name.encode(), digest)

    def get_meta(self, key: bytes) -> bytes | None:
        value = self.txn.get(key, db=self.meta)
        return None if value is None else bytes(value)

    def set_meta(self, key: bytes, value: bytes | None) -> None:
        self._set(self.meta, key, value)

    def _set(self, db: object, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.txn.delete(key, db=db)
        else:
            self.txn.put(key, value, db=db)


class LmdbObjectStore(ObjectStore):
    def __init__(self, path: str | os.PathLike, *, create: bool = False, map_size: int = 0,
                 clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.clock = clock  # stamps stored-at times (gc's ages)
        self._map_size = map_size or int(os.environ.get("WFOBJ_MAP_SIZE", DEFAULT_MAP_SIZE))
        self._shared: lmdbenv.SharedEnv | None = None
        if create:
            make_store_folder(self.path)
            self._transact(lambda txn: txn.txn.put(_VERSION_KEY, FORMAT_VERSION,
                                                   db=txn.meta, overwrite=False))
        elif not (self.path / "data.mdb").is_file():
            raise StoreNotFound(str(self.path))

    # ---- environment lifecycle ------------------------------------------------------
    def _env(self) -> lmdbenv.SharedEnv:
        shared = self._shared
        if shared is None or shared.pid != os.getpid():
            # opened lazily, and again in a forked child (never reusing the parent's handle)
            shared = self._shared = lmdbenv.acquire(self.path, self._map_size)
        return shared

    def close(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None and shared.pid == os.getpid():
            lmdbenv.release(self.path, shared)

    def _read(self, fn: Callable[[lmdb.Transaction, dict], T], *, views: bool = False) -> T:
        """`fn` in one short read transaction; with `views`, values are views of the map,
        valid only until `fn` returns."""
        shared = self._env()
        while True:
            with shared.guard:
                try:
                    txn = shared.env.begin(buffers=views)
                except lmdb.MapResizedError:
                    txn = None
                if txn is not None:
                    try:
                        return fn(txn, shared.dbs)
                    finally:
                        txn.abort()
            shared.adopt_map_size()

    def _transact(self, fn: Callable[[Transaction], T]) -> T:
        while True:
            shared = self._env()
            try:
                with shared.write_lock:
                    shared.check_readers_now_and_then()
                    with shared.env.begin(write=True) as txn:
                        view = _LmdbTransaction(txn, shared, int(self.clock() * 1000))
                        result = fn(view)
                    shared.known.add_all(view.seen)  # only once the commit succeeded
                    return result
            except lmdb.MapResizedError:
                shared.adopt_map_size()
            except lmdb.MapFullError:
                shared.grow()

    def _pages(
        self, db_name: bytes, first: Callable[[lmdb.Cursor], bool], step: str,
        values: bool = True, prefix: bytes | None = None, page_size: int = SCAN_PAGE,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Iterate a table in pages of SCAN_PAGE keys, each read in its own short
        transaction, so a slow consumer never pins a snapshot (or blocks map growth).
        With `prefix`, a page ends at the first key without it (and so does the scan):
        a prefix scan reads what it answers, not a page of the keys after it. A caller
        that takes only a few keys asks for pages of `page_size`."""
        last: bytes | None = None
        while True:
            def page(txn: lmdb.Transaction, dbs: dict, last=last) -> list[tuple[bytes, bytes]]:
                cursor = txn.cursor(db=dbs[db_name])
                if not (first(cursor) if last is None else _resume(cursor, last, step)):
                    return []
                out = []
                for item in getattr(cursor, step)(keys=True, values=values):
                    if prefix is not None and not (item[0] if values else item).startswith(prefix):
                        break
                    out.append(item if values else (item, b""))
                    if len(out) >= page_size:
                        break
                return out

            items = self._read(page)
            yield from items
            if len(items) < page_size:
                return
            last = items[-1][0]

    # ---- primitives -------------------------------------------------------------------
    def _get_record(self, digest: bytes) -> bytes | None:
        return self._read(lambda txn, dbs: txn.get(digest, db=dbs[b"objects"]))

    def _read_records(
        self, digests: list[bytes], use: Callable[[list[memoryview | None]], None]
    ) -> None:
        """Records handed over as views of the map, a group to a short snapshot: up to
        RECORDS_PER_READ records, fewer once READ_BYTES are read."""
        at = 0
        while at < len(digests):
            def group(txn: lmdb.Transaction, dbs: dict, start: int = at) -> int:
                views, size = [], 0
                for digest in digests[start:start + RECORDS_PER_READ]:
                    views.append(raw := txn.get(digest, db=dbs[b"objects"]))
                    size += 0 if raw is None else len(raw)
                    if size >= READ_BYTES:
                        break
                use(views)
                return len(views)

            at += self._read(group, views=True)

    def _iter_digests(self, start: bytes = b"") -> Iterator[bytes]:
        for key, _ in self._pages(
            b"objects", lambda c: c.set_range(start), "iternext", values=False
        ):
            yield key

    def _iter_stored_at(self) -> Iterator[tuple[bytes, int]]:
        for key, value in self._pages(b"stored_at", lambda c: c.first(), "iternext"):
            yield key, int.from_bytes(value, "big")

    def _get_ref(self, name: str) -> bytes | None:
        return self._read(lambda txn, dbs: txn.get(name.encode(), db=dbs[b"refs"]))

    def _iter_refs(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        raw_prefix = prefix.encode()
        for key, value in self._pages(b"refs", lambda c: c.set_range(raw_prefix), "iternext",
                                      prefix=raw_prefix):
            if not key.startswith(raw_prefix):
                return
            yield key.decode(), value

    def _meta_get(self, key: bytes) -> bytes | None:
        return self._read(lambda txn, dbs: txn.get(key, db=dbs[b"meta"]))

    def _meta_scan(
        self, prefix: bytes, start: bytes | None, reverse: bool, wanted: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        size = SCAN_PAGE if wanted is None else max(1, min(SCAN_PAGE, wanted))
        if reverse:
            pages = self._pages(b"meta", lambda c: _position_down(c, prefix, start), "iterprev",
                                prefix=prefix, page_size=size)
        else:
            pages = self._pages(
                b"meta", lambda c: c.set_range(start if start is not None else prefix), "iternext",
                prefix=prefix, page_size=size,
            )
        for key, value in pages:
            if not key.startswith(prefix):
                return
            yield key, value

    # ---- maintenance ---------------------------------------------------------------
    def stats(self) -> dict:
        """Objects held and bytes used (pages in use × page size: data.mdb up to its
        last used page), from LMDB's own counts: no scan."""
        entries = self._read(lambda txn, dbs: txn.stat(dbs[b"objects"])["entries"])
        env = self._env().env
        info, page = env.info(), env.stat()["psize"]
        return {"objects": entries, "bytes": (info["last_pgno"] + 1) * page,
                "map_size": info["map_size"], "last_pgno": info["last_pgno"]}


def _position_down(cursor: lmdb.Cursor, prefix: bytes, start: bytes | None) -> bool:
    """Put the cursor on the last key <= `start` (or the last key with `prefix`)."""
    upper = start if start is not None else _prefix_end(prefix)
    if upper is None:
        return cursor.last()
    if cursor.set_range(upper):
        return cursor.key() == start or cursor.prev()
    return cursor.last()


def _resume(cursor: lmdb.Cursor, last: bytes, step: str) -> bool:
    """Put the cursor on the key after `last` in the direction of `step`."""
    if step == "iternext":
        if not cursor.set_range(last):
            return False
        return cursor.next() if cursor.key() == last else True
    if cursor.set_range(last):
        return cursor.prev()
    return cursor.last()


def _prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix`."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def make_store_folder(path: Path) -> None:
    """The folder of a store about to be created: 0700 whatever the umask. A folder that
    already holds a store keeps its mode (its owner may share it on purpose)."""
    new_store = not (path / "data.mdb").exists()
    path.mkdir(mode=STORE_FOLDER_MODE, parents=True, exist_ok=True)
    if new_store:
        os.chmod(path, STORE_FOLDER_MODE)


def open_store(path: str | os.PathLike) -> LmdbObjectStore:
    """Open an existing store at `path` (StoreNotFound if there is none)."""
    return LmdbObjectStore(path)


def init_store(path: str | os.PathLike) -> LmdbObjectStore:
    """Create (or open) a store at `path`."""
    return LmdbObjectStore(path, create=True)
