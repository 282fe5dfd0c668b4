"""Store a task's stdout and stderr as blobs, never holding a whole log in memory.

Docker sends both streams of a container attached to in one multiplexed response
(8-byte frame headers: stream type, 3 zero bytes, big-endian payload size). A
FrameSplitter (split_frames for a whole stream) writes each stream to its own spool file
as it arrives, each up to the executor's cap per stream (OutputTooLarge past it);
store_file then streams a spool into ObjectStore.put_stream. The first PREVIEW_BYTES
become the readable text preview recorded in the evidence.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Iterable
from typing import BinaryIO

from wfobj.engine.errors import FrameError, OutputTooLarge
from wfobj.objstore import ObjectStore

from .base import StoredText
from .masking import NO_MASK, Masker, StreamMask

PREVIEW_BYTES = 16 << 10


def preview_text(head: bytes, truncated: bool) -> str:
    """UTF-8 text of `head` (errors replaced); a character cut at the end is dropped."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(bytes(head), final=not truncated)


def store_file(store: ObjectStore, path: str) -> StoredText:
    """Store a spooled stream as one blob; returns its id, size and a text preview."""
    with open(path, "rb") as f:
        head = f.read(PREVIEW_BYTES)
        f.seek(0)
        oid, size = store.put_stream(f)
    return StoredText(oid=oid, size=size, text=preview_text(head, size > len(head)))


_HEADER = struct.Struct(">BxxxL")
STREAM_STDOUT, STREAM_STDERR = 1, 2


class CappedSink:
    """A spool file that takes at most `cap` bytes (None: no cap): the write that would
    pass it writes up to the cap, then raises OutputTooLarge naming the stream."""

    def __init__(self, file: BinaryIO, stream: str, cap: int | None,
                 mask: StreamMask | None = None) -> None:
        self.file, self.stream, self.cap, self.size = file, stream, cap, 0
        self.mask = mask

    def write(self, data: memoryview | bytes) -> None:
        """Write `data`, its secrets masked first (a masked tail may wait for `end`)."""
        self.put(self.mask.feed(data) if self.mask is not None else data)

    def end(self) -> None:
        """The stream ended: write what the mask held back."""
        if self.mask is not None:
            self.put(self.mask.flush())

    def put(self, data: memoryview | bytes) -> None:
        if self.cap is not None and self.size + len(data) > self.cap:
            self.file.write(data[:self.cap - self.size])
            self.size = self.cap
            raise OutputTooLarge(self.stream, self.cap)
        self.file.write(data)
        self.size += len(data)


def split_frames(chunks: Iterable[bytes], stdout: BinaryIO, stderr: BinaryIO,
                 cap: int | None = None, masker: Masker = NO_MASK) -> None:
    """Demultiplex Docker's framed log stream into two files, in one pass, each with the
    values of `masker` replaced by *** (engine/executors/masking.py); a stream past `cap`
    bytes raises OutputTooLarge once its file holds the first `cap`."""
    splitter = FrameSplitter(stdout, stderr, cap, masker)
    splitter.take(chunks)
    splitter.end()


class FrameSplitter:
    """split_frames in steps, for a stream read as it arrives: `take` its pieces (more
    than once if need be: a frame may straddle two calls' pieces only within one call),
    then `end` once. Each stream's mask keeps its held-back tail between pieces, so a
    value split across two reads is still masked."""

    def __init__(self, stdout: BinaryIO, stderr: BinaryIO, cap: int | None = None,
                 masker: Masker = NO_MASK) -> None:
        self.sinks = {STREAM_STDOUT: CappedSink(stdout, "stdout", cap, masker.stream()),
                      STREAM_STDERR: CappedSink(stderr, "stderr", cap, masker.stream())}

    def take(self, chunks: Iterable[bytes]) -> None:
        """Write every frame of `chunks`, which must end on a frame boundary."""
        buf = b""
        for chunk in chunks:
            buf = self._frames(buf + chunk if buf else chunk)
        if buf:
            raise FrameError(f"log stream ended inside a frame ({len(buf)} bytes left)")

    def end(self) -> None:
        """The stream ended: write what the masks held back."""
        for sink in self.sinks.values():
            sink.end()

    def _frames(self, data: bytes) -> bytes:
        """Write every complete frame in `data`; returns the incomplete rest."""
        view, pos, end = memoryview(data), 0, len(data)
        while end - pos >= _HEADER.size:
            kind, size = _HEADER.unpack_from(view, pos)
            if end - pos - _HEADER.size < size:
                break
            if kind not in self.sinks:
                raise FrameError(f"unknown log stream type {kind}")
            self.sinks[kind].write(view[pos + _HEADER.size : pos + _HEADER.size + size])
            pos += _HEADER.size + size
        return bytes(view[pos:])


def store_empty(store: ObjectStore) -> StoredText:
    """The empty stream, for attempts that never produced output."""
    return StoredText(oid=store.put_blob(b""), size=0, text="")
