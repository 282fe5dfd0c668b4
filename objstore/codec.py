"""Canonical CBOR (IPLD DAG-CBOR subset) for structured objects.

Text keys in length-first order, definite lengths, no floats, no tags but 42 (links as
CIDv1). Decoding re-encodes and compares, so every stored structured object has exactly
one byte form and therefore exactly one hash.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import blake3
import cbor2

from . import native
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


# Encoding is a hand-written canonical encoder: it validates and encodes in one pass and
# caches the sorted key order of each map shape, several times faster than validating a
# copy and handing it to cbor2's canonical mode (which sorts every map it meets).
_MAJOR_UINT, _MAJOR_NEGINT, _MAJOR_BYTES, _MAJOR_TEXT = 0, 1, 2, 3
_MAJOR_ARRAY, _MAJOR_MAP = 4, 5
_SMALL_HEADS = [[bytes([major << 5 | n]) for n in range(24)] for major in range(8)]
_LINK_HEAD = b"\xd8\x2a\x58\x25\x00"  # tag 42, byte string of 37 bytes, identity multibase
_CID_PREFIX = {codec: cid_bytes("0" * 64, codec)[:4] for codec in (CODEC_RAW, CODEC_DAG_CBOR)}
_KEY_ORDER: dict[tuple, tuple[tuple[str, bytes], ...]] = {}
_KEY_ORDER_MAX = 4096


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return _SMALL_HEADS[major][n]
    if n < 0x100:
        return bytes((major << 5 | 24, n))
    if n < 0x10000:
        return bytes((major << 5 | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((major << 5 | 26,)) + n.to_bytes(4, "big")
    return bytes((major << 5 | 27,)) + n.to_bytes(8, "big")


def _key_order(value: dict) -> tuple[tuple[str, bytes], ...]:
    """The map's keys in canonical order (length first, then bytewise), with their encoding."""
    shape = tuple(value)
    order = _KEY_ORDER.get(shape)
    if order is None:
        for key in shape:
            if type(key) is not str:
                raise InvalidObject(f"map key {key!r} is not text")
        raw = sorted((_utf8(key), key) for key in shape)
        raw.sort(key=lambda item: len(item[0]))
        order = tuple((key, _head(_MAJOR_TEXT, len(b)) + b) for b, key in raw)
        if len(_KEY_ORDER) >= _KEY_ORDER_MAX:
            _KEY_ORDER.clear()
        _KEY_ORDER[shape] = order
    return order




# encoded links (tag 42 + CID) by codec, then id: links to one object recur
_LINK_CACHE: dict[int, dict[str, bytes]] = {CODEC_RAW: {}, CODEC_DAG_CBOR: {}}
_LINK_CACHE_MAX = 65536
# encoded short text (head + UTF-8) for values that recur, such as `type` fields
_TEXT_CACHE: dict[str, bytes] = {}
_TEXT_CACHE_MAX = 4096
_U16 = struct.Struct(">BH").pack


def _link_bytes(link: Link) -> bytes:
    """The encoded form of a link (tag 42 + CID), cached."""
    cache = _LINK_CACHE[link.codec]
    data = cache.get(link.oid)
    if data is None:
        data = _LINK_HEAD + _CID_PREFIX[link.codec] + bytes.fromhex(link.oid)
        if len(cache) >= _LINK_CACHE_MAX:
            cache.clear()
        cache[link.oid] = data
    return data


def _short_text(text: str) -> bytes:
    """Head + bytes of a str shorter than 24 chars; the first few thousand are cached
    (never evicted: recurring values such as `type` fields are met early)."""
    data = _utf8(text)
    data = _head(_MAJOR_TEXT, len(data)) + data
    if len(_TEXT_CACHE) < _TEXT_CACHE_MAX:
        _TEXT_CACHE[text] = data
    return data


# heads of every major type for n < 256 (one or two bytes), looked up instead of built
_HEADS = [[_head(major, n) for n in range(256)] for major in range(8)]
_TEXT_HEADS = _HEADS[_MAJOR_TEXT]
_UINT_HEADS = _HEADS[_MAJOR_UINT]
_ARRAY_HEADS = _HEADS[_MAJOR_ARRAY]
_MAP_HEADS = _HEADS[_MAJOR_MAP]


def _encode_into(value: Any, out: list, links: list[Link]) -> None:
    """Append the canonical encoding of `value` to `out`, validating as it goes."""
    append = out.append
    kind = type(value)
    text_cache = _TEXT_CACHE
    if kind is dict:
        order = _KEY_ORDER.get(tuple(value))
        if order is None:
            order = _key_order(value)
        n = len(order)
        append(_MAP_HEADS[n] if n < 256 else _head(_MAJOR_MAP, n))
        for key, encoded_key in order:
            append(encoded_key)
            item = value[key]
            kind = type(item)
            # inline the common scalars: most map values are short text, ints, bools, links
            if kind is str:
                data = text_cache.get(item)
                if data is not None:
                    append(data)
                elif len(item) < 24 and item.isascii():
                    data = _TEXT_HEADS[len(item)] + item.encode()
                    append(data)
                    if len(text_cache) < _TEXT_CACHE_MAX:
                        text_cache[item] = data
                else:
                    data = _utf8(item)
                    append(_head(_MAJOR_TEXT, len(data)))
                    append(data)
            elif kind is int:
                if 0 <= item < 256:
                    append(_UINT_HEADS[item])
                elif 0 < item < 0x10000:
                    append(_U16(0x19, item))
                else:
                    _encode_int(item, out)
            elif item is True:
                append(b"\xf5")
            elif item is False:
                append(b"\xf4")
            elif kind is Link:
                links.append(item)
                data = _LINK_CACHE[item.codec].get(item.oid)
                append(data if data is not None else _link_bytes(item))
            elif kind is list:
                n = len(item)
                append(_ARRAY_HEADS[n] if n < 256 else _head(_MAJOR_ARRAY, n))
                for elem in item:
                    if type(elem) is str:
                        data = text_cache.get(elem)
                        if data is not None:
                            append(data)
                        elif len(elem) < 24:
                            append(_short_text(elem))
                        else:
                            _encode_into(elem, out, links)
                    else:
                        _encode_into(elem, out, links)
            else:
                _encode_into(item, out, links)
    elif kind is str:
        data = _utf8(value)
        append(_head(_MAJOR_TEXT, len(data)))
        append(data)
    elif kind is int:
        _encode_int(value, out)
    elif kind is list or kind is tuple:
        append(_head(_MAJOR_ARRAY, len(value)))
        for item in value:
            _encode_into(item, out, links)
    elif kind is Link:
        links.append(value)
        append(_link_bytes(value))
    elif value is True:
        append(b"\xf5")
    elif value is False:
        append(b"\xf4")
    elif value is None:
        append(b"\xf6")
    else:
        _encode_other(value, out, links)


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise InvalidObject(f"text {text!r} is not valid Unicode (lone surrogate)") from None


def _encode_int(value: int, out: list) -> None:
    if value >= 0:
        if value > _INT_MAX:
            raise InvalidObject(f"integer {value} is outside the 64-bit range")
        out.append(_head(_MAJOR_UINT, value))
    else:
        if value < _INT_MIN:
            raise InvalidObject(f"integer {value} is outside the 64-bit range")
        out.append(_head(_MAJOR_NEGINT, -1 - value))


def _encode_other(value: Any, out: list, links: list[Link]) -> None:
    """Subclasses of the plain types, byte strings, and everything that is refused."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        out.append(_head(_MAJOR_BYTES, len(data)))
        out.append(data)
    elif isinstance(value, float):
        raise InvalidObject(f"float {value!r} is not allowed; write decimals as strings")
    elif isinstance(value, bool):
        _encode_into(bool(value), out, links)
    elif isinstance(value, str):
        _encode_into(str(value), out, links)
    elif isinstance(value, int):
        _encode_int(int(value), out)
    elif isinstance(value, dict):
        _encode_into(dict(value), out, links)
    elif isinstance(value, list | tuple):
        _encode_into(list(value), out, links)
    else:
        raise InvalidObject(
            f"a {type(value).__name__} is not allowed (only maps, lists, text, bytes, ints, "
            "bools, null and links)"
        )


def encode(value: Any) -> tuple[bytes, list[Link]]:
    """Canonical CBOR bytes of `value`, and the links it holds (in encounter order)."""
    compiled = native.compiled
    if compiled is not None:
        got = compiled.encode_record(value, b"")
        if got is not None:
            return got[0], got[2]
    return encode_python(value)


def encode_record(value: Any, kind: bytes) -> tuple[bytes, bytes, list[Link]]:
    """`kind` + the canonical CBOR of `value`, the BLAKE3 digest of that CBOR (the
    object's id, raw), and its links: what a store writes, in one compiled call when
    objstore._cnative is built."""
    compiled = native.compiled
    if compiled is not None:
        got = compiled.encode_record(value, kind)
        if got is not None:
            return got
    data, links = encode_python(value)
    return kind + data, blake3.blake3(data).digest(), links


def encode_python(value: Any) -> tuple[bytes, list[Link]]:
    """The reference encoder (and the one that words every refusal)."""
    links: list[Link] = []
    out: list[bytes] = []
    _encode_into(value, out, links)
    return b"".join(out), links


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
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, InvalidObject):  # raised by _tag_hook, wrapped by cbor2
            raise InvalidObject(cause.reason) from None
        raise InvalidObject(f"not valid CBOR ({exc})") from None
    try:
        again, _ = encode(value)
    except InvalidObject as exc:
        raise InvalidObject(exc.reason) from None
    if again != bytes(data):
        raise InvalidObject("CBOR is not in canonical DAG-CBOR form")
    return value


if native.compiled is not None:
    native.compiled.setup(Link, dict(_CID_PREFIX))


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
