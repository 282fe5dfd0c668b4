"""Ids and the canonical DAG-CBOR codec: one byte form per value, everything else refused."""

from __future__ import annotations

import random

import blake3
import cbor2
import pytest

from wfobj.objstore import InvalidHash, InvalidObject, Link, codec
from wfobj.objstore.ids import (
    CODEC_DAG_CBOR,
    CODEC_RAW,
    check_hash,
    check_prefix,
    checked_digest,
    cid_bytes,
    hash_bytes,
    parse_cid,
)

OID = blake3.blake3(b"hello").hexdigest()


def test_hash_is_blake3_hex_as_b3sum_prints():
    assert hash_bytes(b"hello") == OID
    assert len(OID) == 64 and OID == OID.lower()


@pytest.mark.parametrize(
    "bad", ["", "abc", OID.upper(), OID[:-1] + "g", OID + "0", " " + OID[1:], None, 42]
)
def test_check_hash_rejects(bad):
    with pytest.raises(InvalidHash):
        check_hash(bad)
    with pytest.raises(InvalidHash):
        checked_digest(bad)


def test_checked_digest_is_the_raw_bytes():
    assert checked_digest(OID) == bytes.fromhex(OID)
    # fromhex accepts spaces; the checked form must not
    spaced = OID[:2] + " " + OID[2:-1]
    with pytest.raises(InvalidHash):
        checked_digest(spaced)


def test_check_prefix_rules():
    assert check_prefix("abcdef") == "abcdef"
    with pytest.raises(InvalidHash, match="at least 6"):
        check_prefix("abcde")
    with pytest.raises(InvalidHash, match="hex"):
        check_prefix("xyzxyz")
    with pytest.raises(InvalidHash, match="longer"):
        check_prefix("a" * 65)


def test_cid_round_trip():
    for codec_id in (CODEC_RAW, CODEC_DAG_CBOR):
        cid = cid_bytes(OID, codec_id)
        assert cid[:4] == bytes([0x01, codec_id, 0x1E, 0x20])
        assert parse_cid(cid) == (OID, codec_id)
    with pytest.raises(ValueError):
        parse_cid(b"\x01\x70\x1e\x20" + bytes(32))  # dag-pb is not a wfobj codec
    with pytest.raises(ValueError):
        parse_cid(b"\x01\x71\x12\x20" + bytes(32))  # sha2-256 multihash


def test_keys_in_canonical_length_first_order():
    data, _ = codec.encode({"bbb": 1, "a": 2, "cc": 3, "ab": 4})
    assert list(cbor2.loads(data)) == ["a", "ab", "cc", "bbb"]
    # insertion order never changes the bytes
    assert codec.encode({"a": 2, "ab": 4, "cc": 3, "bbb": 1})[0] == data


def _random_value(rng: random.Random, depth: int = 0):
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return rng.choice([0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
                           -1, -24, -25, -256, -257, -(2**64)])
    if choice == 1:
        return "".join(rng.choice("aé€𝄞z ") for _ in range(rng.randrange(0, 40)))
    if choice == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 30)))
    if choice == 3:
        return rng.choice([True, False, None])
    if choice == 4:
        return Link(hash_bytes(rng.randbytes(8)), rng.choice([CODEC_RAW, CODEC_DAG_CBOR]))
    if choice == 5:
        return rng.randrange(-(2**40), 2**40)
    if choice == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    keys = ["".join(rng.choice("abcé") for _ in range(rng.randrange(0, 6))) for _ in range(6)]
    return {k: _random_value(rng, depth + 1) for k in keys}


def _as_cbor2(value):
    if isinstance(value, Link):
        return cbor2.CBORTag(42, b"\x00" + cid_bytes(value.oid, value.codec))
    if isinstance(value, dict):
        return {k: _as_cbor2(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_cbor2(v) for v in value]
    return value


def test_encoder_matches_cbor2_canonical_and_round_trips():
    rng = random.Random(7)
    for _ in range(300):
        value = {"type": "t", "v": _random_value(rng)}
        data, links = codec.encode(value)
        assert data == cbor2.dumps(_as_cbor2(value), canonical=True)
        assert codec.decode(data) == value
        assert links == codec.links_in(codec.decode(data))  # canonical (encoded) order


def test_links_found_without_schema():
    a, b = Link.blob(OID), Link.obj(hash_bytes(b"x"))
    data, links = codec.encode({"type": "tree", "entries": [{"x": a}, {"y": [b]}]})
    assert links == [a, b]
    assert codec.links_in(codec.decode(data)) == [a, b]


@pytest.mark.parametrize(
    "value, message",
    [
        ({"type": "t", "x": 1.5}, "float"),
        ({"type": "t", "x": [0.0]}, "float"),
        ({"type": "t", 1: "int key"}, "not text"),
        ({"type": "t", b"k": "bytes key"}, "not text"),
        ({"type": "t", "x": {1, 2}}, "set"),
        ({"type": "t", "x": 2**64}, "64-bit"),
        ({"type": "t", "x": -(2**64) - 1}, "64-bit"),
        ({"type": "t", "x": "\ud800"}, "surrogate"),
    ],
)
def test_encode_refuses(value, message):
    with pytest.raises(InvalidObject, match=message):
        codec.encode(value)


def _text(s: str) -> bytes:
    return cbor2.dumps(s)


@pytest.mark.parametrize(
    "data, message",
    [
        (cbor2.dumps({"type": "t", "x": 1.5}), "float"),
        (cbor2.dumps(cbor2.CBORTag(1, 5)), "not allowed"),  # epoch datetime tag
        (cbor2.dumps({"type": cbor2.CBORTag(99, "x")}), "tag 99"),
        (b"\xbf" + _text("type") + _text("t") + b"\xff", "canonical"),  # indefinite map
        (b"\xa1" + _text("type") + b"\x7f" + _text("t") + b"\xff", "canonical"),  # indef text
        (cbor2.dumps({"type": "abc"})[:-1], "not valid CBOR"),  # truncated
        (cbor2.dumps({"type": "abc"}) + b"\x00", "canonical"),  # trailing bytes
        (b"\xa2" + _text("type") + _text("t") + _text("a") + b"\x01", "canonical"),  # key order
        (b"\xa1" + _text("type") + b"\x18\x01", "canonical"),  # non-minimal integer
        (cbor2.dumps({1: 2}), "not text"),
        (b"\xf7", "not allowed"),  # undefined
        (b"\xa1" + _text("x") + b"\xd8\x2a\x45\x00\x01\x71\x1e\x20", "bad link"),
    ],
)
def test_decode_refuses(data, message):
    with pytest.raises(InvalidObject, match=message):
        codec.decode(data)


def test_to_json_turns_links_into_hashes():
    value = {"type": "t", "l": Link.blob(OID), "b": b"\x01", "n": [1, None]}
    assert codec.to_json(value) == {"type": "t", "l": OID, "b": "01", "n": [1, None]}
