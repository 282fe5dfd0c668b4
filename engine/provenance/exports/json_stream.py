"""Writing a large JSON document as it is made: pieces gathered into chunks of about
CHUNK bytes (so a client gets them as they come, never one tiny write per record), and a
compact record of which hashes a stream has met.

Shared by the streamed exports (prov.py, openlineage.py, intoto.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

CHUNK = 64 << 10  # bytes gathered before a piece is handed to the client


def dumps(value) -> str:
    """One JSON value on one line."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def chunked(pieces: Iterable[str | bytes], size: int = CHUNK) -> Iterator[bytes]:
    """`pieces` as UTF-8 bytes, the first alone (the client sees the answer start at
    once), the rest gathered into chunks of at least `size` (the last may be shorter);
    nothing is held beyond one chunk."""
    held: list[bytes] = []
    count = 0
    first = True
    for piece in pieces:
        data = piece.encode() if isinstance(piece, str) else piece
        held.append(data)
        count += len(data)
        if count >= size or first:
            first = False
            yield b"".join(held)
            held, count = [], 0
    if held:
        yield b"".join(held)


def json_object(members: Iterable[tuple[str, str]], indent: str = "") -> Iterator[str]:
    """A JSON object written member by member: `members` gives (key, value already
    written as JSON) pairs; one member per line."""
    first = True
    yield "{"
    for key, value in members:
        yield ("\n" if first else ",\n") + f"{indent}  {json.dumps(key)}: {value}"
        first = False
    yield "}" if first else f"\n{indent}}}"


def json_array(values: Iterable[str], indent: str = "") -> Iterator[str]:
    """A JSON array written value by value (each already JSON), one per line."""
    first = True
    yield "["
    for value in values:
        yield ("\n" if first else ",\n") + f"{indent}  {value}"
        first = False
    yield "]" if first else f"\n{indent}]"


class Seen:
    """Which hashes (hex) a stream has met: the first 8 bytes of each are kept, about 60
    bytes per distinct hash, never the hash text or what it names. Two hashes sharing
    their first 64 bits count as one (for a million distinct hashes, a chance of about
    one in 30 million that any two do)."""

    def __init__(self) -> None:
        self.keys: set[int] = set()

    def first(self, oid: str) -> bool:
        """True the first time `oid` is met, False after."""
        key = int(oid[:16], 16)
        if key in self.keys:
            return False
        self.keys.add(key)
        return True

    def __len__(self) -> int:
        return len(self.keys)
