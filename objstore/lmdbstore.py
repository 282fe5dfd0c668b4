"""LMDB backend: the embedded default store, safe for several processes at once.

The environment is opened lazily in the process that uses it (and reopened after a fork),
so gunicorn workers and engine workers each get their own handle. A full map is grown
and the transaction retried; a map grown by another process is picked up on the next
transaction. A transaction is the unit of atomicity: a kill -9 leaves either all of a
batch or none of it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import lmdb

from . import native
from .errors import StoreNotFound
from .ids import ObjectId, checked_digest
from .native import VERIFY_MAX_RECORD
from .store import (
    KIND_BLOB,
    KIND_STRUCT,
    ObjectStore,
    WriteBatch,
    apply_checks,
    encode_structured_record,
    payload_digest,
)

T = TypeVar("T")
DEFAULT_MAP_SIZE = 64 << 30
_DBS = (b"objects", b"refs", b"meta")
_VERSION_KEY = b"store\x00format"
FORMAT_VERSION = b"1"


READER_MAX_AGE = 0.05  # seconds an object-lookup snapshot is reused before renewal
SCAN_PAGE = 512  # keys read per short transaction by iterators
_monotonic = time.monotonic
_fromhex = bytes.fromhex
_pid = os.getpid()  # this process's id, kept current by the fork hook below
_ENVS: dict[tuple[str, int], _SharedEnv] = {}
_ENVS_LOCK = threading.Lock()


class _SharedEnv:
    """One LMDB environment per store path per process (LMDB forbids opening it twice)."""

    def __init__(self, path: Path, map_size: int):
        self.pid = os.getpid()
        self.env = lmdb.open(
            str(path), map_size=map_size, max_dbs=len(_DBS) + 1, max_readers=1024,
            subdir=True, create=True, readahead=False,
        )
        self.dbs = {name: self.env.open_db(name) for name in _DBS}
        self.objects = self.dbs[b"objects"]
        self.users = 0
        # reads hold `guard` briefly; growing the map holds it (and `write_lock`) so no
        # transaction of this process is open while the map is remapped
        self.guard = threading.RLock()
        self.write_lock = threading.RLock()
        self.reader: lmdb.Transaction | None = None
        self.reader_at = 0.0

    def renew_reader(self) -> lmdb.Transaction:
        if self.reader is not None:
            self.reader.abort()
            self.reader = None
        try:
            self.reader = self.env.begin(buffers=False)
        except lmdb.MapResizedError:
            self.env.set_mapsize(0)  # adopt the size another process grew the map to
            self.reader = self.env.begin(buffers=False)
        self.reader_at = time.monotonic()
        return self.reader

    def get_object_record(self, digest: bytes) -> bytes | None:
        """Objects are immutable, so a snapshot a few ms old can only *miss* an object
        added since; a miss renews it. Reusing it makes single gets far cheaper."""
        guard = self.guard
        guard.acquire()
        try:
            txn = self.reader
            if txn is None or _monotonic() - self.reader_at > READER_MAX_AGE:
                txn = self.renew_reader()
            rec = txn.get(digest, None, self.objects)
            if rec is None:
                rec = self.renew_reader().get(digest, None, self.objects)
            return rec
        finally:
            guard.release()

    def grow(self) -> None:
        with self.write_lock, self.guard:
            if self.reader is not None:
                self.reader.abort()
                self.reader = None
            self.env.set_mapsize(max(self.env.info()["map_size"] * 2, 1 << 20))

    def close(self) -> None:
        with self.guard:
            if self.reader is not None:
                self.reader.abort()
                self.reader = None
            self.env.close()


def _acquire_env(path: Path, map_size: int) -> _SharedEnv:
    key = (str(path.resolve()), os.getpid())
    with _ENVS_LOCK:
        shared = _ENVS.get(key)
        if shared is None:
            shared = _ENVS[key] = _SharedEnv(path, map_size)
        shared.users += 1
        return shared


def _release_env(path: Path, shared: _SharedEnv) -> None:
    key = (str(path.resolve()), shared.pid)
    with _ENVS_LOCK:
        shared.users -= 1
        if shared.users <= 0 and _ENVS.get(key) is shared:
            del _ENVS[key]
            shared.close()


def _before_fork() -> None:
    # No transaction of ours may be open across fork(): the child closes the inherited
    # environments, and LMDB would otherwise let it clear the parent's reader slots.
    _ENVS_LOCK.acquire()
    for shared in _ENVS.values():
        shared.write_lock.acquire()
        shared.guard.acquire()
        if shared.reader is not None:
            shared.reader.abort()
            shared.reader = None


def _after_fork_in_parent() -> None:
    for shared in _ENVS.values():
        shared.guard.release()
        shared.write_lock.release()
    _ENVS_LOCK.release()


def _after_fork_in_child() -> None:
    # The child must open its own handle (LMDB handles do not survive fork) and
    # py-lmdb refuses a second open of files still open in this process, so the
    # inherited ones are closed; with no transaction open this touches nothing shared.
    global _pid
    _pid = os.getpid()
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


class LmdbObjectStore(ObjectStore):
    def __init__(self, path: str | os.PathLike, *, create: bool = False, map_size: int = 0):
        self.path = Path(path)
        self._map_size = map_size or int(os.environ.get("WFOBJ_MAP_SIZE", DEFAULT_MAP_SIZE))
        self._shared: _SharedEnv | None = None
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
            with self._env().begin(write=True) as txn:
                txn.put(_VERSION_KEY, FORMAT_VERSION, db=self._dbs[b"meta"], overwrite=False)
        elif not (self.path / "data.mdb").is_file():
            raise StoreNotFound(str(self.path))

    # ---- environment lifecycle ------------------------------------------------------
    def _env_shared(self) -> _SharedEnv:
        shared = self._shared
        if shared is None or shared.pid != os.getpid():
            # opened lazily, and again in a forked child (never reusing the parent's handle)
            shared = self._shared = _acquire_env(self.path, self._map_size)
        return shared

    def _env(self) -> lmdb.Environment:
        return self._env_shared().env

    @property
    def _dbs(self) -> dict[bytes, object]:
        return self._env_shared().dbs

    def close(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None and shared.pid == os.getpid():
            _release_env(self.path, shared)

    def _read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        shared = self._env_shared()
        with shared.guard:
            try:
                txn = shared.env.begin(buffers=False)
            except lmdb.MapResizedError:
                shared.env.set_mapsize(0)
                txn = shared.env.begin(buffers=False)
            try:
                return fn(txn)
            finally:
                txn.abort()

    def _write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        while True:
            shared = self._env_shared()
            try:
                with shared.write_lock:
                    with shared.env.begin(write=True, buffers=True) as txn:
                        result = fn(txn)
                    shared.reader_at = 0.0  # read-your-writes: the next get renews
                    return result
            except lmdb.MapResizedError:
                with shared.write_lock, shared.guard:
                    shared.env.set_mapsize(0)
            except lmdb.MapFullError:
                shared.grow()

    def _pages(
        self, db_name: bytes, first: Callable[[lmdb.Cursor], bool], step: str,
        values: bool = True,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Iterate a table in pages of SCAN_PAGE keys, each read in its own short
        transaction, so a slow consumer never pins a snapshot (or blocks map growth)."""
        last: bytes | None = None
        while True:
            def page(txn: lmdb.Transaction, last=last) -> list[tuple[bytes, bytes]]:
                cursor = txn.cursor(db=self._dbs[db_name])
                if last is None:
                    if not first(cursor):
                        return []
                elif not _resume(cursor, last, step):
                    return []
                out = []
                for item in getattr(cursor, step)(keys=True, values=values):
                    out.append(item if values else (item, b""))
                    if len(out) >= SCAN_PAGE:
                        break
                return out

            items = self._read(page)
            yield from items
            if len(items) < SCAN_PAGE:
                return
            last = items[-1][0]

    def put_objects(self, values: Iterable[dict]) -> list[ObjectId]:
        """As ObjectStore.put_objects (one transaction, closure checked), but each object is
        encoded, hashed and put straight into the write transaction: no batch of records
        is built up first. An error aborts the transaction, so nothing is written."""
        values = values if isinstance(values, list) else list(values)  # retried on MapFull

        def apply(txn: lmdb.Transaction) -> list[ObjectId]:
            return _encode_and_put(txn, self._dbs[b"objects"], values)

        return self._write(apply)

    def get_raws(self, oids: Iterable[str]) -> list[bytes]:
        """get_raw of many objects (each verified) in one read transaction."""
        oids = list(oids)
        db = self._dbs[b"objects"]
        compiled = native.compiled
        out = None
        if compiled is not None:  # None back: an id is not canonical
            out = self._read(lambda txn: compiled.read_verified(txn.get, oids, db,
                                                                VERIFY_MAX_RECORD))
        if out is None:
            digests = _parse_ids(oids)
            if digests is None:
                digests = [checked_digest(oid) for oid in oids]  # raises for the first bad one

            def read(txn: lmdb.Transaction) -> list[bytes | None]:
                get = txn.get
                return [_verified_payload(get(d, None, db), d) for d in digests]

            out = self._read(read)
        if None in out:  # missing, damaged, chunked or large: get_raw settles each one
            for i, payload in enumerate(out):
                if payload is None:
                    out[i] = self.get_raw(oids[i])
        return out

    # ---- primitives -------------------------------------------------------------------
    def _get_record(self, digest: bytes) -> bytes | None:
        return self._env_shared().get_object_record(digest)

    def _has(self, digest: bytes) -> bool:
        return self._env_shared().get_object_record(digest) is not None

    def get_records(self, digests: list[bytes]) -> list[bytes | None]:  # noqa: D102
        """Many records in one read transaction (bulk readers: walk, sync, bench)."""

        def read(txn: lmdb.Transaction) -> list[bytes | None]:
            db = self._dbs[b"objects"]
            return [txn.get(d, db=db) for d in digests]

        return self._read(read)

    def _iter_digests(self, start: bytes = b"") -> Iterator[bytes]:
        for key, _ in self._pages(
            b"objects", lambda c: c.set_range(start), "iternext", values=False
        ):
            yield key

    def _commit(self, batch: WriteBatch) -> None:
        def apply(txn: lmdb.Transaction) -> None:
            objects, refs, meta = (self._dbs[name] for name in _DBS)

            def kind_of(digest: bytes) -> bytes | None:
                rec = txn.get(digest, db=objects)
                return None if rec is None else bytes(rec[:1])

            def get_ref(name: str) -> bytes | None:
                val = txn.get(name.encode(), db=refs)
                return None if val is None else bytes(val)

            def get_meta(key: bytes) -> bytes | None:
                val = txn.get(key, db=meta)
                return None if val is None else bytes(val)

            if batch.refs or batch.meta:
                for op in apply_checks(batch, kind_of, get_ref, get_meta):
                    txn.put(op.digest, op.record, db=objects)
            else:
                _put_objects(txn, objects, batch)
            for ref in batch.refs:
                if ref.new is None:
                    txn.delete(ref.name.encode(), db=refs)
                else:
                    txn.put(ref.name.encode(), ref.new, db=refs)
            for item in batch.meta:
                if item.value is None:
                    txn.delete(item.key, db=meta)
                else:
                    txn.put(item.key, item.value, db=meta)

        self._write(apply)

    def _get_ref(self, name: str) -> bytes | None:
        return self._read(lambda txn: txn.get(name.encode(), db=self._dbs[b"refs"]))

    def _iter_refs(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        raw_prefix = prefix.encode()
        for key, value in self._pages(b"refs", lambda c: c.set_range(raw_prefix), "iternext"):
            if not key.startswith(raw_prefix):
                return
            yield key.decode(), value

    def _meta_get(self, key: bytes) -> bytes | None:
        return self._read(lambda txn: txn.get(key, db=self._dbs[b"meta"]))

    def _meta_scan(
        self, prefix: bytes, start: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        if reverse:
            pages = self._pages(b"meta", lambda c: _position_down(c, prefix, start), "iterprev")
        else:
            pages = self._pages(
                b"meta", lambda c: c.set_range(start if start is not None else prefix), "iternext"
            )
        for key, value in pages:
            if not key.startswith(prefix):
                return
            yield key, value

    # ---- maintenance ---------------------------------------------------------------
    def stats(self) -> dict:
        entries = self._read(lambda txn: txn.stat(self._dbs[b"objects"])["entries"])
        info = self._env().info()
        return {"objects": entries, "map_size": info["map_size"], "last_pgno": info["last_pgno"]}


def _parse_ids(oids: list[str]) -> list[bytes] | None:
    """Raw digests of canonical ids, or None if any id is not canonical."""
    try:
        digests = list(map(_fromhex, oids))
    except (TypeError, ValueError):
        return None
    # fromhex also takes upper case and spaces; only canonical ids round-trip
    if list(map(bytes.hex, digests)) != oids or not set(map(len, digests)) <= {32}:
        return None
    return digests


def _verified_payload(rec: bytes | None, digest: bytes) -> bytes | None:
    """read_verified's check without the extension: the payload if it hashes to `digest`."""
    if rec is None or len(rec) > VERIFY_MAX_RECORD:
        return None
    payload = rec[1:]
    return payload if payload_digest(payload) == digest else None


def _encode_and_put(txn: lmdb.Transaction, objects: object, values: list) -> list[ObjectId]:
    from .errors import MissingLinks

    put = txn.put
    get = txn.get
    fromhex = bytes.fromhex
    staged: set[bytes] = set()  # links known to resolve: in the store or this transaction
    staged_ids: set[str] = set()  # the same as hex ids (a str caches its hash)
    oids: list[ObjectId] = []
    add_oid = oids.append
    collecting = gc.isenabled()  # see WriteBatch.put_objects
    if collecting:
        gc.disable()
    try:
        for value in values:
            record, digest, links = encode_structured_record(value)
            # positional: put(key, value, dupdata, overwrite, append, db)
            if not put(digest, record, True, False, False, objects):
                # already stored; identical bytes stored as a blob are upgraded
                if get(digest, None, objects)[:1] != KIND_BLOB:
                    add_oid(digest.hex())
                    continue
                if links:
                    _check_links(get, objects, staged, digest, [fromhex(ln.oid) for ln in links],
                                 MissingLinks)
                put(digest, record, True, True, False, objects)
            elif links:
                for link in links:
                    if link.oid not in staged_ids:
                        if get(fromhex(link.oid), None, objects) is None:
                            _check_links(get, objects, staged, digest,
                                         [fromhex(ln.oid) for ln in links], MissingLinks)
                        staged_ids.add(link.oid)
            add_oid(digest.hex())  # type: ignore[arg-type]  # an ObjectId
    finally:
        if collecting:
            gc.enable()
    return oids


def _put_objects(txn: lmdb.Transaction, objects: object, batch: WriteBatch) -> None:
    """Write a batch of only objects with the checks of apply_checks, in one pass.

    put(overwrite=False) both writes a new record and tells whether one was there, so
    the common case (a new object) costs one B-tree descent instead of a lookup and a
    put. A link's target is looked up only when it is neither staged by this batch nor
    known present; a failed check raises, and the caller aborts the whole transaction.
    """
    from .errors import MissingLinks

    put = txn.put
    get = txn.get
    known = batch.known_present  # committed earlier by this writer (not copied: it may be big)
    staged: set[bytes] = set()
    add = staged.add
    for digest, record, links in batch.objects:
        # positional: put(key, value, dupdata, overwrite, append, db), kwargs cost more
        if not put(digest, record, True, False, False, objects):
            existing = get(digest, None, objects)
            # identical bytes stored as a blob earlier may be upgraded to a structured object
            if not (existing[:1] == KIND_BLOB and record[:1] == KIND_STRUCT):
                add(digest)
                continue
            _check_links(get, objects, staged, digest, links, MissingLinks, known)
            put(digest, record, True, True, False, objects)
        elif links:
            for link in links:
                if link not in staged and link not in known:
                    if get(link, None, objects) is None:
                        _check_links(get, objects, staged, digest, links, MissingLinks, known)
                    add(link)
        add(digest)


def _check_links(get, objects, staged, digest, links, missing_links,  # noqa: ANN001
                 known=frozenset()) -> None:  # noqa: B008
    """Every link of `digest` is staged, known present, or stored; else raise."""
    for link in links:
        if link not in staged and link not in known:
            if get(link, None, objects) is None:
                missing = [
                    ln.hex() for ln in links
                    if ln not in staged and ln not in known and get(ln, None, objects) is None
                ]
                raise missing_links(digest.hex(), missing)
            staged.add(link)


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


def open_store(path: str | os.PathLike) -> LmdbObjectStore:
    """Open an existing store at `path` (StoreNotFound if there is none)."""
    return LmdbObjectStore(path)


def init_store(path: str | os.PathLike) -> LmdbObjectStore:
    """Create (or open) a store at `path`."""
    return LmdbObjectStore(path, create=True)
