"""Large blobs: streamed in, split into content-defined chunks (FastCDC), streamed out.

A file's id is always blake3(content). Above CHUNK_THRESHOLD the content is kept as chunk
blobs plus a `chunklist` index object, so a file edited in the middle re-stores only the
chunks around the edit. Chunks are committed in bounded groups, so memory stays flat
whatever the file size; a crash leaves only unreferenced chunks, never a broken file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

import blake3

from .batch import WriteBatch
from .ids import ObjectId
from .records import chunked_record, chunklist

if TYPE_CHECKING:  # store.py imports this module; a store is only passed in
    from .store import ObjectStore

MIN_CHUNK = 256 << 10
AVG_CHUNK = 1 << 20
MAX_CHUNK = 4 << 20
CHUNK_THRESHOLD = MAX_CHUNK
COMMIT_BYTES = 16 << 20  # chunk bytes held before a commit: bounds memory while ingesting


def read_head(stream: BinaryIO, limit: int) -> bytes:
    parts, size = [], 0
    while size <= limit:
        data = stream.read(limit + 1 - size)
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)


class Prefixed:
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
    head = read_head(stream, CHUNK_THRESHOLD)
    if len(head) <= CHUNK_THRESHOLD:
        with store.batch() as b:
            return b.put_blob(head), len(head)
    return put_chunked(store, Prefixed(head, stream))


def put_chunked(store: ObjectStore, stream: BinaryIO) -> tuple[ObjectId, int]:
    from pyfastcdc import FastCDC  # compiled; only writing a large blob needs it

    cdc = FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)
    whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
    chunks: list[tuple[str, int]] = []
    batch = WriteBatch()
    pending = total = 0
    for chunk in cdc.cut_stream(stream):
        data = bytes(chunk.data)
        whole.update(data)
        chunks.append((batch.put_blob(data), len(data)))
        pending += len(data)
        total += len(data)
        if pending >= COMMIT_BYTES:
            store.commit(batch)
            batch, pending = WriteBatch(), 0
    oid = whole.hexdigest()
    index = batch.put_object(chunklist(chunks, total))
    batch.add_record(bytes.fromhex(oid), chunked_record(index, total), [bytes.fromhex(index)])
    store.commit(batch)
    return ObjectId(oid), total
