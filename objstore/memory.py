"""In-memory backend: the fast test double for unit tests (one process only)."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from .store import ObjectStore, Transaction

T = TypeVar("T")


class _MemoryTransaction:
    """Writes staged over the committed dicts; applied only if the whole function succeeds."""

    def __init__(self, store: MemoryObjectStore):
        self.store = store
        self.objects: dict[bytes, bytes] = {}
        self.refs: dict[str, bytes | None] = {}
        self.meta: dict[bytes, bytes | None] = {}
        self.times: dict[bytes, int] = {}
        self.deleted: set[bytes] = set()

    def has(self, digest: bytes) -> bool:
        return digest in self.objects or digest in self.store._objects

    def kind_of(self, digest: bytes) -> bytes | None:
        record = self.objects.get(digest) or self.store._objects.get(digest)
        return None if record is None else record[:1]

    def put_record(self, digest: bytes, record: bytes) -> None:
        self.objects[digest] = record
        self.deleted.discard(digest)
        self.touch(digest)

    def touch(self, digest: bytes) -> None:
        self.times[digest] = int(self.store.clock() * 1000)

    def stored_at(self, digest: bytes) -> int | None:
        return self.times.get(digest, self.store._times.get(digest))

    def delete_record(self, digest: bytes) -> None:
        self.objects.pop(digest, None)
        self.times.pop(digest, None)
        self.deleted.add(digest)

    def get_ref(self, name: str) -> bytes | None:
        return self.refs[name] if name in self.refs else self.store._refs.get(name)

    def set_ref(self, name: str, digest: bytes | None) -> None:
        self.refs[name] = digest

    def get_meta(self, key: bytes) -> bytes | None:
        return self.meta[key] if key in self.meta else self.store._meta.get(key)

    def set_meta(self, key: bytes, value: bytes | None) -> None:
        self.meta[key] = value


class MemoryObjectStore(ObjectStore):
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # stamps stored-at times (gc's ages)
        self._objects: dict[bytes, bytes] = {}
        self._sorted: list[bytes] = []
        self._refs: dict[str, bytes] = {}
        self._meta: dict[bytes, bytes] = {}
        self._times: dict[bytes, int] = {}
        self._lock = threading.RLock()

    def _get_record(self, digest: bytes) -> bytes | None:
        return self._objects.get(digest)

    def _iter_digests(self, start: bytes = b"") -> Iterator[bytes]:
        with self._lock:
            keys = list(self._sorted)
        yield from keys[bisect.bisect_left(keys, start) :]

    def _transact(self, fn: Callable[[Transaction], T]) -> T:
        with self._lock:
            txn = _MemoryTransaction(self)
            result = fn(txn)
            for digest in txn.deleted:
                if self._objects.pop(digest, None) is not None:
                    self._sorted.remove(digest)
                self._times.pop(digest, None)
            for digest, record in txn.objects.items():
                if digest not in self._objects:
                    bisect.insort(self._sorted, digest)
                self._objects[digest] = record
            self._times.update(txn.times)
            _apply(self._refs, txn.refs)
            _apply(self._meta, txn.meta)
            return result

    def _iter_stored_at(self) -> Iterator[tuple[bytes, int]]:
        with self._lock:
            items = sorted(self._times.items())
        return iter(items)

    def stats(self) -> dict:
        with self._lock:
            return {"objects": len(self._objects),
                    "bytes": sum(len(r) for r in self._objects.values())}

    def _get_ref(self, name: str) -> bytes | None:
        return self._refs.get(name)

    def _iter_refs(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        with self._lock:
            items = sorted(self._refs.items())
        return ((n, d) for n, d in items if n.startswith(prefix))

    def _meta_get(self, key: bytes) -> bytes | None:
        return self._meta.get(key)

    def _meta_scan(
        self, prefix: bytes, start: bytes | None, reverse: bool, wanted: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        with self._lock:
            items = sorted((k, v) for k, v in self._meta.items() if k.startswith(prefix))
        if reverse:
            items.reverse()
            if start is not None:
                items = [kv for kv in items if kv[0] <= start]
        elif start is not None:
            items = [kv for kv in items if kv[0] >= start]
        return iter(items)


def _apply(table: dict, changes: dict) -> None:
    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
