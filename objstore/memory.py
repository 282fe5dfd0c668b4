"""In-memory backend: the fast test double for unit tests (one process only)."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

from .store import ObjectStore, WriteBatch, apply_checks


class MemoryObjectStore(ObjectStore):
    def __init__(self) -> None:
        self._objects: dict[bytes, bytes] = {}
        self._sorted: list[bytes] = []
        self._refs: dict[str, bytes] = {}
        self._meta: dict[bytes, bytes] = {}
        self._lock = threading.RLock()

    def _get_record(self, digest: bytes) -> bytes | None:
        return self._objects.get(digest)

    def _has(self, digest: bytes) -> bool:
        return digest in self._objects

    def _kind(self, digest: bytes) -> bytes | None:
        rec = self._objects.get(digest)
        return None if rec is None else rec[:1]

    def _iter_digests(self, start: bytes = b"") -> Iterator[bytes]:
        with self._lock:
            keys = list(self._sorted)
        yield from keys[bisect.bisect_left(keys, start) :]

    def _commit(self, batch: WriteBatch) -> None:
        with self._lock:
            ops = apply_checks(batch, self._kind, self._refs.get, self._meta.get)
            for op in ops:
                if op.digest not in self._objects:
                    bisect.insort(self._sorted, op.digest)
                self._objects[op.digest] = op.record
            for ref in batch.refs:
                if ref.new is None:
                    self._refs.pop(ref.name, None)
                else:
                    self._refs[ref.name] = ref.new
            for meta in batch.meta:
                if meta.value is None:
                    self._meta.pop(meta.key, None)
                else:
                    self._meta[meta.key] = meta.value

    def _get_ref(self, name: str) -> bytes | None:
        return self._refs.get(name)

    def _iter_refs(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        with self._lock:
            items = sorted(self._refs.items())
        return ((n, d) for n, d in items if n.startswith(prefix))

    def _meta_get(self, key: bytes) -> bytes | None:
        return self._meta.get(key)

    def _meta_scan(
        self, prefix: bytes, start: bytes | None, reverse: bool
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

    # test hooks: damage the store as a flipped disk byte or a lost page would
    def corrupt(self, digest: bytes, record: bytes) -> None:
        """Replace (or plant) a record without any check."""
        with self._lock:
            if digest not in self._objects:
                bisect.insort(self._sorted, digest)
            self._objects[digest] = record

    def drop(self, digest: bytes) -> None:
        """Lose a record, leaving whatever links to it dangling."""
        with self._lock:
            del self._objects[digest]
            self._sorted.remove(digest)
