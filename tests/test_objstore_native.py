"""objstore._cnative, the compiled hot loops, against the pure-Python reference.

The extension must give byte-identical encodings, the same links in the same order, the
same ids, and hand back (None) every value it does not handle so that Python words the
error. CI sets WFOBJ_REQUIRE_NATIVE=1: there a missing extension fails these tests.
"""

from __future__ import annotations

import enum
import os
import random

import blake3
import pytest

from objstore import InvalidObject, Link, LmdbObjectStore, native
from objstore import codec as codec_mod
from objstore.ids import CODEC_RAW, hash_bytes
from objstore.store import KIND_STRUCT

from .test_objstore_codec import _random_value

OID = blake3.blake3(b"hello").hexdigest()


def reference(value, kind=b"S"):
    data, links = codec_mod.encode_python(value)
    return kind + data, blake3.blake3(data).digest(), links


def test_required_in_ci():
    if os.environ.get("WFOBJ_REQUIRE_NATIVE") == "1":
        assert native.compiled is not None, "CI must build objstore._cnative"


def test_blake3_matches_the_binding(compiled):
    for size in (0, 1, 63, 64, 65, 1023, 1024, 1025, 4096, 100_000):
        data = random.Random(size).randbytes(size)
        assert compiled.blake3(data) == blake3.blake3(data).digest()


EDGE_INTS = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63,
             2**64 - 1, -1, -24, -25, -256, -257, -65536, -65537, -(2**32), -(2**63)]


@pytest.mark.parametrize(
    "value",
    [
        {"type": "t"},
        {"type": "t", "ints": EDGE_INTS},
        {"bbb": 1, "a": 2, "cc": 3, "ab": 4, "é": 5, "z": 6},  # length-first, bytewise
        {"type": "t", "ü": 1, "zz": 2, "€": 3, "𝄞": 4},  # UTF-8 lengths, not char counts
        {"type": "t", "s": "x" * 23, "s24": "y" * 24, "s256": "z" * 256, "big": "q" * 70_000},
        {"type": "t", "b": b"", "b2": b"\x00" * 300, "tuple": (1, "a"), "none": None},
        {"type": "t", "yes": True, "no": False, "nested": {"a": [{"b": [[], {}]}]}},
        {"type": "t", "long": list(range(300)), "longer": ["a"] * 70_000},
        {"type": "t", "keys": {f"k{i}": i for i in range(40)}},  # beyond the sort stack
        {"type": "t", "l1": Link.blob(OID), "l2": [Link.obj(hash_bytes(b"x")), Link.blob(OID)]},
        [1, "two", {"three": 3}],
        "plain text",
        -5,
    ],
)
def test_encoding_is_byte_identical(compiled, value):
    got = compiled.encode_record(value, b"S")
    assert got is not None
    assert got == reference(value)
    # codec.encode_record takes the compiled path and agrees too
    assert codec_mod.encode_record(value, b"S") == reference(value)


def test_random_values_are_byte_identical(compiled):
    rng = random.Random(11)
    for _ in range(2000):
        value = {"type": "t", "v": _random_value(rng)}
        got = compiled.encode_record(value, KIND_STRUCT)
        if got is None:  # only values outside the fast path, such as -2**64
            continue
        assert got == reference(value), value
    handled = sum(
        compiled.encode_record({"type": "t", "v": _random_value(rng)}, b"") is not None
        for _ in range(500)
    )
    assert handled > 450  # the fast path really is the common path


class Color(enum.IntEnum):
    RED = 1


class MyStr(str):
    pass


class MyDict(dict):
    pass


class MyInt(int):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {"type": "t", "x": 1.5},
        {"type": "t", 1: "int key"},
        {"type": "t", "x": "\ud800"},
        {"type": "t", "\ud800": "surrogate key"},
        {"type": "t", "x": 2**64},
        {"type": "t", "x": -(2**63) - 1},
        {"type": "t", "x": {1, 2}},
        {"type": "t", "x": Color.RED},
        {"type": "t", "x": MyStr("s")},
        {"type": "t", "x": MyDict(a=1)},
        {"type": "t", "x": bytearray(b"ab")},
        {"type": "t", "x": Link(OID.upper(), CODEC_RAW)},  # not a canonical id
        {"type": "t", "x": Link(OID, 0x70)},  # a codec wfobj does not use
        {"type": "t", "x": Link(MyStr(OID), CODEC_RAW)},  # parts that could run Python code
        {"type": "t", "x": Link(OID, MyInt(CODEC_RAW))},
    ],
)
def test_values_off_the_fast_path_are_handed_back(compiled, value):
    assert compiled.encode_record(value, b"S") is None


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"type": "t", "x": -(2**63) - 1}, None),
        ({"type": "t", "x": Color.RED}, {"type": "t", "x": 1}),
        ({"type": "t", "x": MyStr("s")}, {"type": "t", "x": "s"}),
        ({"type": "t", "x": MyDict(a=1)}, {"type": "t", "x": {"a": 1}}),
    ],
)
def test_handed_back_values_still_encode_through_python(value, expected):
    data, _ = codec_mod.encode(value)
    assert codec_mod.decode(data) == (value if expected is None else expected)


@pytest.mark.parametrize("value", [{"type": "t", "x": 1.5}, {"type": "t", 1: "k"}])
def test_refusals_are_worded_by_python(value):
    with pytest.raises(InvalidObject):
        codec_mod.encode_record(value, b"S")


def test_deep_nesting_falls_back_rather_than_overflowing(compiled):
    value: object = "leaf"
    for _ in range(300):
        value = [value]
    assert compiled.encode_record(value, b"") is None  # beyond MAX_DEPTH
    assert codec_mod.encode(value)[0] == codec_mod.encode_python(value)[0]


def test_large_maps_sort_like_python(compiled):
    rng = random.Random(3)
    keys = {"".join(rng.choice("abé€z") for _ in range(rng.randrange(1, 9))) for _ in range(6000)}
    value = {"type": "t", **{k: len(k) for k in keys}}
    assert len(value) > 32  # past the small-map insertion sort: qsort
    assert compiled.encode_record(value, b"S") == reference(value)


def test_kind_prefix_is_not_hashed(compiled):
    value = {"type": "t", "a": 1}
    for kind in (b"", b"S", b"XY"):
        record, digest, _ = compiled.encode_record(value, kind)
        assert record == kind + codec_mod.encode_python(value)[0]
        assert digest == blake3.blake3(record[len(kind):]).digest()


def test_read_verified(compiled):
    payloads = [b"", b"a", b"x" * 100, b"y" * 5000]
    oids = [blake3.blake3(p).hexdigest() for p in payloads]
    stored = {bytes.fromhex(o): b"S" + p for o, p in zip(oids, payloads, strict=True)}
    calls = []

    def get(key, default, db):  # the shape of lmdb.Transaction.get (key: any buffer)
        calls.append(db)
        return stored.get(bytes(key), default)

    assert compiled.read_verified(get, oids, "objects", 1 << 14) == payloads
    assert set(calls) == {"objects"}
    stored[bytes.fromhex(oids[2])] = b"S" + b"x" * 99 + b"z"  # damaged
    absent = blake3.blake3(b"absent").hexdigest()
    assert compiled.read_verified(get, oids + [absent], "db", 1 << 14) == [
        b"", b"a", None, b"y" * 5000, None]
    assert compiled.read_verified(get, oids, "db", 1000) == [b"", b"a", None, None]
    assert compiled.read_verified(get, [], "db", 1000) == []
    stored[bytes.fromhex(oids[0])] = b""  # not even a kind byte
    assert compiled.read_verified(get, oids[:1], "db", 100) == [None]
    for bad in (oids[1].upper(), oids[1][:-1], oids[1] + "0", "g" * 64, oids[1][:-2] + "  ",
                None, 5, "é" * 64):
        assert compiled.read_verified(get, [oids[1], bad], "db", 100) is None
    stored[bytes.fromhex(oids[1])] = "text"
    with pytest.raises(TypeError, match="not bytes"):
        compiled.read_verified(get, oids[1:2], "db", 100)

    def broken(key, default, db):
        raise KeyError("lookup failed")

    with pytest.raises(KeyError, match="lookup failed"):
        compiled.read_verified(broken, oids, "db", 100)

    ids = list(oids)

    def shrinks(key, default, db):  # get() is Python code: it cannot pull ids from under us
        ids.clear()
        return None

    assert compiled.read_verified(shrinks, ids, "db", 100) == [None] * len(oids)

    def resizes(key, default, db):  # the key buffer is reused: get() must leave it be
        key.extend(b"x")

    with pytest.raises(RuntimeError, match="changed the key"):
        compiled.read_verified(resizes, oids, "db", 100)


def test_store_ids_agree_with_and_without_the_extension(tmp_path, monkeypatch, compiled):
    rng = random.Random(5)
    values = [{"type": "t", "v": _random_value(rng)} for _ in range(300)]
    values = [v for v in values if not codec_mod.links_in(v)]  # links would need targets
    fast = LmdbObjectStore(tmp_path / "fast", create=True)
    fast_ids = fast.put_objects(values)
    monkeypatch.setattr(native, "compiled", None)
    slow = LmdbObjectStore(tmp_path / "slow", create=True)
    slow_ids = slow.put_objects(values)
    assert fast_ids == slow_ids
    assert slow.get_raws(slow_ids) == [fast.get_raw(o) for o in fast_ids]
    fast.close()
    slow.close()
