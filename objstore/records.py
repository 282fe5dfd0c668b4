"""The record layout: how a backend keeps each object under the 32 raw bytes of its hash.

  b"B" + content                  a blob kept whole
  b"S" + canonical CBOR           a structured object
  b"C" + index digest + size (8)  a large blob kept as content-defined chunks; the index
                                  is a structured `chunklist` object linking the chunk blobs

This module is the only place that knows those bytes, and the only place that verifies
a record against its hash (a whole record by re-hashing it, a chunked one by re-hashing
every chunk and then the whole content).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import blake3

from .codec import Link
from .errors import ChecksumMismatch, DamagedRecord, InvalidObject
from .ids import ObjectId, oid_of

KIND_BLOB = b"B"
KIND_STRUCT = b"S"
KIND_CHUNKED = b"C"
CHUNKLIST_TYPE = "chunklist"
_CHUNKED_LEN = 1 + 32 + 8


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record, parsed: its kind and what follows the kind byte."""

    kind: bytes
    body: bytes

    @property
    def is_blob(self) -> bool:
        return self.kind != KIND_STRUCT

    @property
    def is_structured(self) -> bool:
        return self.kind == KIND_STRUCT

    @property
    def is_chunked(self) -> bool:
        return self.kind == KIND_CHUNKED

    @property
    def index(self) -> ObjectId:
        """The chunklist of a chunked record."""
        return oid_of(self.body[:32])

    @property
    def size(self) -> int:
        """Bytes of content: of the whole file for a chunked record."""
        return int.from_bytes(self.body[32:40], "big") if self.is_chunked else len(self.body)

    def payload(self, digest: bytes) -> bytes:
        """The verified bytes of a whole (B or S) record stored under `digest`."""
        got = blake3.blake3(self.body).digest()
        if got != digest:
            raise ChecksumMismatch(digest.hex(), got.hex())
        return self.body


def parse_record(raw: bytes, oid: str) -> Record:
    """Split a stored record; InvalidObject for a kind byte or length that cannot be."""
    kind = raw[:1]
    if kind in (KIND_BLOB, KIND_STRUCT) or (kind == KIND_CHUNKED and len(raw) == _CHUNKED_LEN):
        return Record(kind, raw[1:])
    raise DamagedRecord(oid, f"kind byte {kind!r}, {len(raw)} bytes")


def blob_record(data: bytes) -> bytes:
    return KIND_BLOB + data


def struct_record(cbor: bytes) -> bytes:
    return KIND_STRUCT + cbor


def chunked_record(index: str, size: int) -> bytes:
    return KIND_CHUNKED + bytes.fromhex(index) + size.to_bytes(8, "big")


def chunklist(chunks: list[tuple[str, int]], size: int) -> dict:
    """The index object of a chunked blob: its chunks as (link, size) pairs, in order."""
    return {"type": CHUNKLIST_TYPE, "size": size,
            "chunks": [[Link.blob(oid), n] for oid, n in chunks]}


def chunk_entries(index: dict, index_oid: str) -> list[tuple[ObjectId, int]]:
    """The (chunk id, size) pairs of a decoded chunklist, its shape checked."""
    chunks = index.get("chunks")
    if index.get("type") != CHUNKLIST_TYPE or not isinstance(chunks, list):
        raise InvalidObject("not a chunklist", index_oid)
    out = []
    for entry in chunks:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], Link)
                and entry[0].is_blob and type(entry[1]) is int and entry[1] >= 0):
            raise InvalidObject("chunklist entry is not [blob link, size]", index_oid)
        out.append((entry[0].oid, entry[1]))
    return out


def verified_chunks(
    file_oid: str,
    chunks: list[tuple[ObjectId, int]],
    size: int,
    read: Callable[[ObjectId], bytes],
) -> Iterator[bytes]:
    """A chunked file's content piece by piece; `read` returns a chunk's verified bytes.
    Each piece's length is checked as it comes; after the last, the whole content is
    re-hashed against `file_oid` (ChecksumMismatch) and its size checked (InvalidObject)."""
    whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
    total = 0
    for chunk_oid, chunk_size in chunks:
        data = read(chunk_oid)
        if len(data) != chunk_size:
            raise InvalidObject(f"chunk {chunk_oid} holds {len(data)} bytes, "
                                f"its index says {chunk_size}", file_oid)
        whole.update(data)
        total += chunk_size
        yield data
    if total != size:
        raise InvalidObject(f"chunks add up to {total} bytes, the record says {size}", file_oid)
    got = whole.hexdigest()
    if got != file_oid:
        raise ChecksumMismatch(file_oid, got)
