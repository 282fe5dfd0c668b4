"""Canonical CBOR (IPLD DAG-CBOR subset) for structured objects.

Text keys in length-first order, definite lengths, no floats, no tags but 42 (links as
CIDv1). Decoding re-encodes and compares, so every stored structured object has exactly
one byte form and therefore exactly one hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from .errors import InvalidObject
from .ids import CODEC_DAG_CBOR, CODEC_RAW, ObjectId, check_hash, cid_bytes, parse_cid

LINK_TAG = 42
_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Link:
    """A link to another object: its id and whether it is a blob (raw) or structured."""

    oid: ObjectId
    codec: int = CODEC_DAG_CBOR

    @classmethod
    def blob(cls, oid: str) -> Link:
        return cls(check_hash(oid), CODEC_RAW)

    @classmethod
    def obj(cls, oid: str) -> Link:
        return cls(check_hash(oid), CODEC_DAG_CBOR)

    @property
    def is_blob(self) -> bool:
        return self.codec == CODEC_RAW

    def __str__(self) -> str:
        return self.oid


def _prepare(value: Any, links: list[Link]) -> Any:
    """Validate a value tree for DAG-CBOR and turn Links into tag 42."""
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise InvalidObject(f"integer {value} is outside the 64-bit range")
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidObject(f"map key {key!r} is not text")
            out[key] = _prepare(item, links)
        return out
    if isinstance(value, list | tuple):
        return [_prepare(item, links) for item in value]
    if isinstance(value, Link):
        links.append(value)
        return cbor2.CBORTag(LINK_TAG, b"\x00" + cid_bytes(value.oid, value.codec))
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, float):
        raise InvalidObject(f"float {value!r} is not allowed; write decimals as strings")
    raise InvalidObject(
        f"a {type(value).__name__} is not allowed (only maps, lists, text, bytes, ints, "
        "bools, null and links)"
    )


def encode(value: Any) -> tuple[bytes, list[Link]]:
    """Canonical CBOR bytes of `value`, and the links it holds (in encounter order)."""
    links: list[Link] = []
    prepared = _prepare(value, links)
    return cbor2.dumps(prepared, canonical=True), links


def _tag_hook(tag: cbor2.CBORTag, *_: Any) -> Any:
    # cbor2 >= 6 calls tag_hook(tag, immutable); older versions (decoder, tag).
    if not isinstance(tag, cbor2.CBORTag):
        tag = _[0]
    if tag.tag != LINK_TAG:
        raise InvalidObject(f"CBOR tag {tag.tag} is not allowed (only 42, links)")
    raw = tag.value
    if not isinstance(raw, bytes) or not raw.startswith(b"\x00"):
        raise InvalidObject("link (tag 42) does not hold an identity-multibase CID")
    try:
        oid, codec = parse_cid(raw[1:])
    except ValueError as exc:
        raise InvalidObject(f"bad link: {exc}") from None
    return Link(oid, codec)


def decode(data: bytes) -> Any:
    """Decode canonical CBOR; refuse truncated, non-canonical or disallowed input."""
    try:
        value = cbor2.loads(data, tag_hook=_tag_hook)
    except InvalidObject:
        raise
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise InvalidObject(f"not valid CBOR ({exc})") from None
    try:
        again, _ = encode(value)
    except InvalidObject as exc:
        raise InvalidObject(exc.reason) from None
    if again != bytes(data):
        raise InvalidObject("CBOR is not in canonical DAG-CBOR form")
    return value


def links_in(value: Any) -> list[Link]:
    """Every Link inside a decoded value, in encounter order."""
    found: list[Link] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Link):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def to_json(value: Any) -> Any:
    """A JSON-ready copy: links become their hex hash, bytes become hex strings."""
    if isinstance(value, Link):
        return value.oid
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value
