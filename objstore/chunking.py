"""Large blobs: streamed in, split into content-defined chunks (FastCDC), streamed out.

A file's id is always blake3(content). Above CHUNK_THRESHOLD the content is kept as chunk
blobs plus a `chunklist` index object, so a file edited in the middle re-stores only the
chunks around the edit. Chunks are committed in bounded groups, so memory stays flat
whatever the file size; a crash leaves only unreferenced chunks, never a broken file.
"""

from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO

import blake3

from .batch import WriteBatch
from .ids import ObjectId, oid_of
from .records import blob_record, chunked_record, chunklist

if TYPE_CHECKING:  # store.py imports this module; a store is only passed in
    from .store import ObjectStore

MIN_CHUNK = 256 << 10
AVG_CHUNK = 1 << 20
MAX_CHUNK = 4 << 20
CHUNK_THRESHOLD = MAX_CHUNK
COMMIT_BYTES = 12 << 20  # chunk bytes per commit; one group commits while the next fills
READ_PIECE = 1 << 20  # bytes asked at a time of a stream that is not a file


def read_head(stream: BinaryIO, limit: int) -> bytes:
    parts, size = [], 0
    while size <= limit:
        data = stream.read(limit + 1 - size)
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)


# streams whose readinto is their own (a wrapper's may be io's NotImplementedError stub)
_READS_INTO = (io.BufferedReader, io.FileIO, io.BytesIO)


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

    def readinto(self, dest: memoryview) -> int:
        """Fill `dest` (the chunker's buffer), without an intermediate copy from a file."""
        if self.head:
            n = min(len(dest), len(self.head))
            dest[:n], self.head = self.head[:n], self.head[n:]
            return n
        if isinstance(self.stream, _READS_INTO):  # a file: read straight into the buffer
            return self.stream.readinto(dest)
        data = self.stream.read(min(len(dest), READ_PIECE))  # a socket's body: small reads
        dest[:len(data)] = data
        return len(data)


def put_stream(store: ObjectStore, stream: BinaryIO) -> tuple[ObjectId, int]:
    """Store a stream as one blob; returns (blake3 of the content, size)."""
    head = read_head(stream, CHUNK_THRESHOLD)
    if len(head) <= CHUNK_THRESHOLD:
        with store.batch() as b:
            return b.put_blob(head), len(head)
    return put_chunked(store, Prefixed(head, stream))


def put_chunked(store: ObjectStore, stream: BinaryIO) -> tuple[ObjectId, int]:
    """Cut the stream into chunks, each copied once (into its record) and hashed in the
    same pass as the whole content; groups of chunks commit in a background thread while
    the next group is cut and hashed. The file's record and index commit last, once every
    chunk is in the store."""
    from pyfastcdc import FastCDC  # compiled; only writing a large blob needs it

    cdc = FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)
    whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
    chunks: list[tuple[str, int]] = []
    batch = WriteBatch()
    pending = total = 0
    with _BackgroundCommits(store) as commits:
        for chunk in cdc.cut_stream(stream):
            record = blob_record(chunk.data)
            content = memoryview(record)[1:]
            whole.update(content)
            digest = blake3.blake3(content).digest()
            batch.add_record(digest, record)
            chunks.append((oid_of(digest), len(content)))
            pending += len(content)
            total += len(content)
            if pending >= COMMIT_BYTES:
                commits.submit(batch)
                batch, pending = WriteBatch(), 0
        commits.submit(batch)
    oid = whole.hexdigest()
    last = WriteBatch()
    index = last.put_object(chunklist(chunks, total))
    last.add_record(bytes.fromhex(oid), chunked_record(index, total), [bytes.fromhex(index)])
    store.commit(last)
    return ObjectId(oid), total


class _BackgroundCommits:
    """Commits batches in one background thread, one at a time: submit() waits for the
    previous batch (raising its error), so at most one batch is being written while the
    next fills. Leaving the block waits for the last one."""

    def __init__(self, store: ObjectStore):
        self.store = store
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="wfobj-chunks")
        self.running: Future | None = None

    def submit(self, batch: WriteBatch) -> None:
        self.wait()
        self.running = self.pool.submit(self.store.commit, batch)

    def wait(self) -> None:
        running, self.running = self.running, None
        if running is not None:
            running.result()

    def __enter__(self) -> _BackgroundCommits:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown()
