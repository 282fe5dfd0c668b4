"""Store a task's stdout or stderr, arriving as a stream of byte chunks, as one blob.

The chunks are fed to ObjectStore.put_stream through a small file-like adapter, so even a
very large log is never held whole in memory; the first PREVIEW_BYTES become the readable
text preview recorded in the evidence.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator

from objstore import ObjectStore

from .executor import StoredText

PREVIEW_BYTES = 16 << 10


class ChunkReader:
    """A read(n) view over an iterator of byte chunks, remembering the first bytes."""

    def __init__(self, chunks: Iterable[bytes], keep: int = PREVIEW_BYTES):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._keep = keep
        self.head = bytearray()

    def read(self, n: int = -1) -> bytes:
        parts, size = [self._buf], len(self._buf)
        while n < 0 or size < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            if len(self.head) < self._keep:
                self.head += chunk[: self._keep - len(self.head)]
            parts.append(chunk)
            size += len(chunk)
        data = b"".join(parts)
        if n < 0 or size <= n:
            self._buf = b""
            return data
        self._buf = data[n:]
        return data[:n]


def preview_text(head: bytes, truncated: bool) -> str:
    """UTF-8 text of `head` (errors replaced); a character cut at the end is dropped."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(bytes(head), final=not truncated)


def store_chunks(store: ObjectStore, chunks: Iterable[bytes]) -> StoredText:
    """Store every chunk as one blob; returns its id, size and a bounded text preview."""
    reader = ChunkReader(chunks)
    oid, size = store.put_stream(reader)
    return StoredText(oid=oid, size=size, text=preview_text(reader.head, size > len(reader.head)))


def store_empty(store: ObjectStore) -> StoredText:
    """The empty stream, for attempts that never produced output."""
    return StoredText(oid=store.put_blob(b""), size=0, text="")
