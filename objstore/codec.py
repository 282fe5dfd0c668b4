"""Canonical CBOR (IPLD DAG-CBOR subset) for structured objects.

Text keys in length-first order, definite lengths, no floats, no tags but 42 (links as
CIDv1). There is one encoder, written here in plain Python: it validates as it encodes,
so whatever it accepts has exactly one byte form and therefore one hash. Decoding uses
cbor2 and then re-encodes and compares, so untrusted bytes in any other form are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from .errors import InvalidObject
from .ids import CODEC_DAG_CBOR, CODEC_RAW, ObjectId, check_hash, cid_bytes, parse_cid

LINK_TAG = 42
MAX_DEPTH = 128  # nesting of maps and lists; deeper values are refused, never recursed into
_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1
_UINT, _NEGINT, _BYTES, _TEXT, _ARRAY, _MAP = 0, 1, 2, 3, 4, 5
_LINK_HEAD = b"\xd8\x2a\x58\x25\x00"  # tag 42, a 37-byte string, identity multibase prefix


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


def encode(value: Any) -> tuple[bytes, list[Link]]:
    """Canonical CBOR bytes of `value`, and the links it holds (in encounter order)."""
    out: list[bytes] = []
    links: list[Link] = []
    try:
        _encode(value, out, links, 0)
    except UnicodeEncodeError as exc:
        raise InvalidObject(f"text {_excerpt(exc.object)} is not valid Unicode "
                            "(lone surrogate)") from None
    return b"".join(out), links


# CBOR heads for lengths and small ints under 256, for each major type (a constant table)
_HEADS = [
    [bytes((major << 5 | n,)) if n < 24 else bytes((major << 5 | 24, n)) for n in range(256)]
    for major in range(8)
]


def _head(major: int, n: int) -> bytes:
    if n < 0x100:
        return _HEADS[major][n]
    if n < 0x10000:
        return bytes((major << 5 | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((major << 5 | 26,)) + n.to_bytes(4, "big")
    return bytes((major << 5 | 27,)) + n.to_bytes(8, "big")


_TEXT_HEADS, _MAP_HEADS, _ARRAY_HEADS = _HEADS[_TEXT], _HEADS[_MAP], _HEADS[_ARRAY]


def _encode(value: Any, out: list[bytes], links: list[Link], depth: int) -> None:
    """Append the canonical encoding of `value` to `out`, validating as it goes.
    (str.encode may raise UnicodeEncodeError; encode() words it.)"""
    kind = type(value)
    if kind is str:
        data = value.encode()
        n = len(data)
        out.append(_TEXT_HEADS[n] if n < 0x100 else _head(_TEXT, n))
        out.append(data)
    elif kind is dict:
        if depth >= MAX_DEPTH:
            raise InvalidObject(f"nested deeper than {MAX_DEPTH} levels")
        n = len(value)
        out.append(_MAP_HEADS[n] if n < 0x100 else _head(_MAP, n))
        for key in _key_order(value):
            data = key.encode()
            n = len(data)
            out.append(_TEXT_HEADS[n] if n < 0x100 else _head(_TEXT, n))
            out.append(data)
            _encode(value[key], out, links, depth + 1)
    elif kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise InvalidObject(f"integer {_excerpt(value)} is outside the 64-bit range")
        out.append(_head(_UINT, value) if value >= 0 else _head(_NEGINT, -1 - value))
    elif kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise InvalidObject(f"nested deeper than {MAX_DEPTH} levels")
        n = len(value)
        out.append(_ARRAY_HEADS[n] if n < 0x100 else _head(_ARRAY, n))
        for item in value:
            _encode(item, out, links, depth + 1)
    elif kind is Link:
        links.append(value)
        out.append(_LINK_HEAD + cid_bytes(value.oid, value.codec))
    elif value is None:
        out.append(b"\xf6")
    elif value is True:
        out.append(b"\xf5")
    elif value is False:
        out.append(b"\xf4")
    elif kind is bytes:
        out.append(_head(_BYTES, len(value)))
        out.append(value)
    else:
        _encode(_plain(value), out, links, depth)


def _key_order(value: dict) -> list[str]:
    """The map's keys in DAG-CBOR order: by UTF-8 length, then bytewise. For ASCII keys
    (nearly all) that is a plain sort then a stable sort by len, both without a key call."""
    keys = list(value)
    for key in keys:
        if type(key) is not str:
            raise InvalidObject(f"map key {_excerpt(key)} is not text")
        if not key.isascii():
            return sorted(keys, key=_utf8_sort_key)
    keys.sort()
    keys.sort(key=len)
    return keys


def _utf8_sort_key(key: str) -> tuple[int, bytes]:
    data = key.encode()  # UTF-8 keeps code point order, but not length order
    return len(data), data


def _plain(value: Any) -> Any:
    """Subclasses of the plain types (enums, say) as their base type; refuse the rest."""
    for base in (bool, str, int, dict, list, tuple, bytes):
        if isinstance(value, base):
            return base(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, float):
        raise InvalidObject(f"float {value!r} is not allowed; write decimals as strings")
    raise InvalidObject(
        f"a {type(value).__name__} is not allowed (only maps, lists, text, bytes, ints, "
        "bools, null and links)"
    )


def _excerpt(value: Any, limit: int = 60) -> str:
    """A short repr for error messages: never echo a large input back whole."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


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


def load(data: bytes | memoryview) -> Any:
    """Decode CBOR bytes already known to be canonical (their hash was just verified
    against the id they were stored under, and they were checked when first stored)."""
    return cbor2.loads(data, tag_hook=_tag_hook)


def decode(data: bytes | memoryview) -> Any:
    """Decode untrusted CBOR; refuse truncated, non-canonical or disallowed input."""
    try:
        value = load(data)
    except InvalidObject:
        raise
    except RecursionError:
        raise InvalidObject(f"nested deeper than {MAX_DEPTH} levels") from None
    except Exception as exc:  # cbor2 raises several types for malformed input
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, InvalidObject):  # raised by _tag_hook, wrapped by cbor2
            raise InvalidObject(cause.reason) from None
        raise InvalidObject(f"not valid CBOR ({_excerpt(str(exc), 200)})") from None
    if encode(value)[0] != bytes(data):
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
