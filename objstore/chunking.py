"""Large blobs: streamed in, split into content-defined chunks (FastCDC), streamed out.

A file's id is always blake3(content). Above CHUNK_THRESHOLD the content is kept as chunk
blobs plus a `chunklist` index object, so a file edited in the middle re-stores only the
chunks around the edit. Chunks are committed in bounded groups, so memory stays flat
whatever the file size; a crash leaves only unreferenced chunks, never a broken file.
"""

from __future__ import annotations

from typing import BinaryIO

import blake3
from pyfastcdc import FastCDC

from .codec import Link
from .ids import ObjectId, digest_of, oid_of
from .store import CHUNKLIST_TYPE, KIND_BLOB, KIND_CHUNKED, ObjectStore

MIN_CHUNK = 256 << 10
AVG_CHUNK = 1 << 20
MAX_CHUNK = 4 << 20
CHUNK_THRESHOLD = MAX_CHUNK
READ_SIZE = 8 << 20
COMMIT_BYTES = 64 << 20


def _read_head(stream: BinaryIO, limit: int) -> bytes:
    parts, size = [], 0
    while size <= limit:
        data = stream.read(limit + 1 - size)
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)


class _Prefixed:
    """A stream that first replays `head`, then reads the rest of `stream`."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self.head = memoryview(head)
        self.stream = stream

    def read(self, n: int) -> bytes:
        if self.head:
            out, self.head = bytes(self.head[:n]), self.head[n:]
            return out
        return self.stream.read(n)


def put_stream(store: ObjectStore, stream: BinaryIO) -> tuple[ObjectId, int]:
    """Store a stream as one blob; returns (blake3 of the content, size)."""
    head = _read_head(stream, CHUNK_THRESHOLD)
    if len(head) <= CHUNK_THRESHOLD:
        with store.batch() as b:
            return b.put_blob(head), len(head)
    return _put_chunked(store, _Prefixed(head, stream))


def _put_chunked(store: ObjectStore, stream: BinaryIO) -> tuple[ObjectId, int]:
    cdc = FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)
    whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
    chunks: list[list] = []
    pending: list[tuple[bytes, bytes]] = []
    pending_bytes = total = 0
    committed: set[bytes] = set()
    for chunk in cdc.cut_stream(stream):
        data = chunk.data
        whole.update(data)
        digest = blake3.blake3(data).digest()
        chunks.append([Link.blob(digest.hex()), len(data)])
        pending.append((digest, KIND_BLOB + bytes(data)))
        pending_bytes += len(data)
        total += len(data)
        if pending_bytes >= COMMIT_BYTES:
            _commit_chunks(store, pending)
            committed.update(digest for digest, _ in pending)
            pending, pending_bytes = [], 0
    oid = whole.hexdigest()
    with store.batch() as b:
        b.known_present = committed
        for digest, record in pending:
            b.add_record(digest, record)
        index = b.put_object({"type": CHUNKLIST_TYPE, "size": total, "chunks": chunks})
        b.add_record(
            digest_of(oid),
            KIND_CHUNKED + digest_of(index) + total.to_bytes(8, "big"),
            [digest_of(index)],
        )
    return oid_of(digest_of(oid)), total


def _commit_chunks(store: ObjectStore, pending: list[tuple[bytes, bytes]]) -> None:
    with store.batch() as b:
        for digest, record in pending:
            b.add_record(digest, record)
