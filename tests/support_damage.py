"""Damage a store the way a flipped disk byte or a lost page would, for tests only.

LMDB stores are damaged in their real data.mdb file; the memory store (a test double)
by rewriting its dicts from outside, so no production class carries a damage hook.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from wfobj.objstore import MemoryObjectStore


def flip_byte_on_disk(path: Path, marker: bytes) -> None:
    """Flip one bit in the middle of `marker` wherever it occurs in `path`/data.mdb
    (copy-on-write leaves stale copies of a page behind: every copy is damaged)."""
    data_file = Path(path) / "data.mdb"
    raw = bytearray(data_file.read_bytes())
    at = raw.find(marker)
    assert at >= 0, "marker not found in data.mdb"
    while at >= 0:
        raw[at + len(marker) // 2] ^= 0x01
        at = raw.find(marker, at + 1)
    data_file.write_bytes(bytes(raw))


def replace_record(store: MemoryObjectStore, oid: str, record: bytes) -> None:
    """Replace (or plant) the record stored under `oid`, without any check."""
    digest = bytes.fromhex(oid)
    if digest not in store._objects:
        bisect.insort(store._sorted, digest)
    store._objects[digest] = record


def drop_record(store: MemoryObjectStore, oid: str) -> None:
    """Lose a record, leaving whatever links to it dangling."""
    digest = bytes.fromhex(oid)
    del store._objects[digest]
    store._sorted.remove(digest)
