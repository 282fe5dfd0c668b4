"""LMDB backend: the embedded default store, safe for several processes at once.

The environment is opened lazily in the process that uses it (and reopened after a fork),
so gunicorn workers and engine workers each get their own handle. A full map is grown
and the transaction retried; a map grown by another process is picked up on the next
transaction. A transaction is the unit of atomicity: a kill -9 leaves either all of a
batch or none of it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import lmdb

from .errors import StoreNotFound
from .store import ObjectStore, WriteBatch, apply_checks

T = TypeVar("T")
DEFAULT_MAP_SIZE = 64 << 30
_DBS = (b"objects", b"refs", b"meta")
_VERSION_KEY = b"store\x00format"
FORMAT_VERSION = b"1"


class LmdbObjectStore(ObjectStore):
    def __init__(self, path: str | os.PathLike, *, create: bool = False, map_size: int = 0):
        self.path = Path(path)
        self._map_size = map_size or int(os.environ.get("WFOBJ_MAP_SIZE", DEFAULT_MAP_SIZE))
        self._env_pid: int | None = None
        self._env_handle: lmdb.Environment | None = None
        self._dbs: dict[bytes, object] = {}
        self._grow_lock = threading.Lock()
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
            self._env()
            with self._env().begin(write=True) as txn:
                txn.put(_VERSION_KEY, FORMAT_VERSION, db=self._dbs[b"meta"], overwrite=False)
        elif not (self.path / "data.mdb").is_file():
            raise StoreNotFound(str(self.path))

    # ---- environment lifecycle ------------------------------------------------------
    def _env(self) -> lmdb.Environment:
        if self._env_handle is None or self._env_pid != os.getpid():
            env = lmdb.open(
                str(self.path),
                map_size=self._map_size,
                max_dbs=len(_DBS) + 1,
                max_readers=1024,
                subdir=True,
                create=True,
                readahead=False,
            )
            self._dbs = {name: env.open_db(name) for name in _DBS}
            self._env_handle, self._env_pid = env, os.getpid()
        return self._env_handle

    def close(self) -> None:
        if self._env_handle is not None and self._env_pid == os.getpid():
            self._env_handle.close()
        self._env_handle = None

    def _read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        env = self._env()
        try:
            txn = env.begin(buffers=False)
        except lmdb.MapResizedError:
            env.set_mapsize(0)  # adopt the size another process grew the map to
            txn = env.begin(buffers=False)
        try:
            return fn(txn)
        finally:
            txn.abort()

    def _write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        while True:
            env = self._env()
            try:
                with env.begin(write=True, buffers=True) as txn:
                    return fn(txn)
            except lmdb.MapResizedError:
                env.set_mapsize(0)
            except lmdb.MapFullError:
                self._grow(env)

    def _grow(self, env: lmdb.Environment) -> None:
        with self._grow_lock:
            env.set_mapsize(max(env.info()["map_size"] * 2, 1 << 20))

    # ---- primitives -------------------------------------------------------------------
    def _get_record(self, digest: bytes) -> bytes | None:
        return self._read(lambda txn: txn.get(digest, db=self._dbs[b"objects"]))

    def _has(self, digest: bytes) -> bool:
        return self._read(lambda txn: txn.get(digest, db=self._dbs[b"objects"]) is not None)

    def get_records(self, digests: list[bytes]) -> list[bytes | None]:
        """Many records in one read transaction (bulk readers: walk, sync, bench)."""

        def read(txn: lmdb.Transaction) -> list[bytes | None]:
            db = self._dbs[b"objects"]
            return [txn.get(d, db=db) for d in digests]

        return self._read(read)

    def _iter_digests(self, start: bytes = b"") -> Iterator[bytes]:
        env = self._env()
        with env.begin() as txn:
            cursor = txn.cursor(db=self._dbs[b"objects"])
            if not cursor.set_range(start):
                return
            yield from cursor.iternext(keys=True, values=False)

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

            for op in apply_checks(batch, kind_of, get_ref, get_meta):
                txn.put(op.digest, op.record, db=objects)
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
        env = self._env()
        with env.begin() as txn:
            cursor = txn.cursor(db=self._dbs[b"refs"])
            if not cursor.set_range(raw_prefix):
                return
            for key, value in cursor:
                if not key.startswith(raw_prefix):
                    return
                yield key.decode(), value

    def _meta_get(self, key: bytes) -> bytes | None:
        return self._read(lambda txn: txn.get(key, db=self._dbs[b"meta"]))

    def _meta_scan(
        self, prefix: bytes, start: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        env = self._env()
        with env.begin() as txn:
            cursor = txn.cursor(db=self._dbs[b"meta"])
            if reverse:
                yield from _scan_down(cursor, prefix, start)
            else:
                if not cursor.set_range(start if start is not None else prefix):
                    return
                for key, value in cursor:
                    if not key.startswith(prefix):
                        return
                    yield key, value

    # ---- maintenance ---------------------------------------------------------------
    def stats(self) -> dict:
        env = self._env()
        with env.begin() as txn:
            entries = txn.stat(self._dbs[b"objects"])["entries"]
        info = env.info()
        return {"objects": entries, "map_size": info["map_size"], "last_pgno": info["last_pgno"]}


def _scan_down(cursor: lmdb.Cursor, prefix: bytes, start: bytes | None) -> Iterator:
    """Walk keys with `prefix` downwards, from `start` (inclusive) or from the last one."""
    upper = start if start is not None else _prefix_end(prefix)
    if upper is None:
        positioned = cursor.last()
    elif cursor.set_range(upper):
        positioned = cursor.key() == start or cursor.prev()
    else:
        positioned = cursor.last()
    if not positioned:
        return
    for key, value in cursor.iterprev():
        if not key.startswith(prefix):
            return
        yield key, value


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
