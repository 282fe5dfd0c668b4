"""Masking: a task's stdout and stderr with every occurrence of a secret it used replaced
by `***` before a byte is spooled, streamed or stored (docs/secrets.md).

A value is masked when it is at least MASK_MIN_BYTES long (shorter ones would mask common
text and prove little). The stream arrives in pieces of any size, so a mask holds back the
last (longest value - 1) bytes of what it was given until more arrives or the stream ends:
a value split across two reads is still found. Where two values overlap, the longer one
found first wins. Only the exact bytes are caught: an encoded, reversed or otherwise
transformed value is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from wfobj.engine.access.secrets import MASK_MIN_BYTES

MASK = b"***"


class StreamMask:
    """The masking state of one stream: feed it pieces, then flush it once at the end."""

    def __init__(self, pattern: re.Pattern[bytes], longest: int) -> None:
        self.pattern = pattern
        self.keep = longest - 1
        self.pending = b""

    def feed(self, data: bytes | memoryview) -> bytes:
        """What of `pending + data` can be written now, masked; the rest is held back."""
        buf = self.pending + bytes(data) if self.pending else bytes(data)
        limit = len(buf) - self.keep  # a value starting here or later may be incomplete
        out, pos = [], 0
        for match in self.pattern.finditer(buf):
            if match.start() >= limit:
                break
            out += (buf[pos:match.start()], MASK)
            pos = match.end()
        if pos < limit:
            out.append(buf[pos:limit])
            pos = limit
        self.pending = buf[pos:]
        return b"".join(out)

    def flush(self) -> bytes:
        """The held-back tail, masked: the stream has ended."""
        rest, self.pending = self.pending, b""
        return self.pattern.sub(MASK, rest)


class Masker:
    """Makes one StreamMask per stream for a set of secret values."""

    def __init__(self, values: Iterable[bytes]) -> None:
        found = sorted({v for v in values if len(v) >= MASK_MIN_BYTES}, key=len, reverse=True)
        self.longest = len(found[0]) if found else 0
        # longest first: at a position where two values start, the longer one is masked
        self.pattern = re.compile(b"|".join(re.escape(v) for v in found)) if found else None

    def __bool__(self) -> bool:
        return self.pattern is not None

    def stream(self) -> StreamMask | None:
        return StreamMask(self.pattern, self.longest) if self.pattern is not None else None

    def text(self, text: str) -> str:
        """`text` (a var's value, an error) with every value masked."""
        if self.pattern is None:
            return text
        raw = text.encode("utf-8", "surrogateescape")
        masked = self.pattern.sub(MASK, raw)
        return text if masked == raw else masked.decode("utf-8", "surrogateescape")

    def bytes(self, data: bytes) -> bytes:
        return data if self.pattern is None else self.pattern.sub(MASK, data)


NO_MASK = Masker(())
