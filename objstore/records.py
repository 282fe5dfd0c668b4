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

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import blake3

from .codec import Link
from .errors import ChecksumMismatch, DamagedRecord, InvalidObject, ObjectNotFound
from .ids import ObjectId, oid_of

Bytes = bytes | memoryview  # a record or content: bytes, or a view of the stored record

KIND_BLOB = b"B"
KIND_STRUCT = b"S"
KIND_CHUNKED = b"C"
CHUNKLIST_TYPE = "chunklist"
_CHUNKED_LEN = 1 + 32 + 8
# from this size on BLAKE3 hashes on every core; below it, threads cost more than they save
PARALLEL_HASH_BYTES = 512 << 10


def content_hash(data: Bytes = b"", *, large: bool = False) -> blake3.blake3:
    """A BLAKE3 hasher fed `data`, hashing on every core if `data` (or, with `large`,
    what is fed to it later) is large."""
    large = large or len(data) >= PARALLEL_HASH_BYTES
    return blake3.blake3(data, max_threads=blake3.blake3.AUTO if large else 1)


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record, parsed: its kind and what follows the kind byte."""

    kind: bytes
    body: Bytes  # a view only while the record it was parsed from may be read

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

    def payload(self, digest: bytes) -> Bytes:
        """The verified bytes of a whole (B or S) record stored under `digest`."""
        got = content_hash(self.body).digest()
        if got != digest:
            raise ChecksumMismatch(digest.hex(), got.hex())
        return self.body


def parse_record(raw: Bytes, oid: str) -> Record:
    """Split a stored record (its body a view if `raw` is one); DamagedRecord for a kind
    byte or length that cannot be."""
    kind = bytes(raw[:1])
    if kind in (KIND_BLOB, KIND_STRUCT) or (kind == KIND_CHUNKED and len(raw) == _CHUNKED_LEN):
        return Record(kind, raw[1:])
    raise DamagedRecord(oid, f"kind byte {kind!r}, {len(raw)} bytes")


def whole_payload(raw: Bytes | None, digest: bytes, oid: str) -> Bytes:
    """The verified content of the whole (B or S) record `raw` stored under `digest`:
    what parse_record and Record.payload give, without the Record (many small blobs are
    read this way). ObjectNotFound for None, InvalidObject for a chunked blob."""
    if raw is None:
        raise ObjectNotFound(oid)
    kind = raw[0] if len(raw) else -1
    if kind != _BLOB_BYTE and kind != _STRUCT_BYTE:
        if kind == _CHUNKED_BYTE and len(raw) == _CHUNKED_LEN:
            raise InvalidObject("is kept as chunks, not whole", oid)
        raise DamagedRecord(oid, f"kind byte {bytes(raw[:1])!r}, {len(raw)} bytes")
    body = raw[1:]
    got = content_hash(body).digest()
    if got != digest:
        raise ChecksumMismatch(digest.hex(), got.hex())
    return body


_BLOB_BYTE, _STRUCT_BYTE, _CHUNKED_BYTE = KIND_BLOB[0], KIND_STRUCT[0], KIND_CHUNKED[0]


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
    whole = content_hash(large=True)
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


class ChunkedCheck:
    """A chunked file checked in one pass over its chunk records, read in the index's
    order: each chunk's kind and length, its own hash (unless `known` holds it: blobs
    already checked, to which each chunk checked here is added), and after the last,
    the whole content's hash and size (finish). Records may be views of the store.

    A group of records (add_all) is hashed twice at once: the chunks' own hashes in a
    thread beside the one adding them to the whole (BLAKE3 lets go of the GIL), so a
    chunked file is checked on two cores."""

    def __init__(self, file_oid: str, chunks: list[tuple[ObjectId, int]], size: int,
                 known: set[str] | None = None):
        self.file_oid, self.chunks, self.size, self.known = file_oid, chunks, size, known
        self.whole = blake3.blake3()
        self.total = self.next = 0

    @property
    def digests(self) -> list[bytes]:
        return [bytes.fromhex(oid) for oid, _ in self.chunks]

    def add(self, raw: Bytes | None) -> Bytes:
        """The content of the next chunk, given its record (None: missing), checked."""
        self.add_all([raw])
        return parse_record(raw, self.file_oid).body

    def add_all(self, raws: list[Bytes | None]) -> None:
        """The next chunks, given their records in order, checked."""
        records = [self._next_record(raw) for raw in raws]
        unchecked = [(oid, rec) for oid, rec in records
                     if self.known is None or oid not in self.known]
        aside = _Aside(lambda: [blake3.blake3(rec.body).digest() for _, rec in unchecked])
        if sum(len(rec.body) for _, rec in unchecked) >= PARALLEL_HASH_BYTES:
            aside.start()
        else:
            aside.run()
        for _, rec in records:
            self.whole.update(rec.body)
        for (oid, rec), got in zip(unchecked, aside.outcome(), strict=True):
            if got != bytes.fromhex(oid):
                raise ChecksumMismatch(oid, got.hex())
            if self.known is not None and rec.kind == KIND_BLOB:
                self.known.add(oid)

    def _next_record(self, raw: Bytes | None) -> tuple[ObjectId, Record]:
        chunk_oid, chunk_size = self.chunks[self.next]
        self.next += 1
        if raw is None:
            raise ObjectNotFound(chunk_oid)
        rec = parse_record(raw, chunk_oid)
        if rec.is_chunked:
            raise InvalidObject(f"chunk {chunk_oid} is itself chunked", self.file_oid)
        if len(rec.body) != chunk_size:
            raise InvalidObject(f"chunk {chunk_oid} holds {len(rec.body)} bytes, "
                                f"its index says {chunk_size}", self.file_oid)
        self.total += chunk_size
        return chunk_oid, rec

    def finish(self) -> None:
        if self.next != len(self.chunks):
            raise InvalidObject(f"{self.next} of {len(self.chunks)} chunks read", self.file_oid)
        if self.total != self.size:
            raise InvalidObject(f"chunks add up to {self.total} bytes, the record says "
                                f"{self.size}", self.file_oid)
        got = self.whole.hexdigest()
        if got != self.file_oid:
            raise ChecksumMismatch(self.file_oid, got)


class _Aside(threading.Thread):
    """Work run in a thread of its own (start) or in the caller's (run); outcome() waits
    for it and returns its result or raises its error."""

    def __init__(self, work: Callable[[], list[bytes]]):
        super().__init__(name="wfobj-hash", daemon=True)
        self.work = work
        self.result: list[bytes] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by outcome()
            self.error = exc

    def outcome(self) -> list[bytes]:
        if self.ident is not None:
            self.join()
        if self.error is not None:
            raise self.error
        return self.result
