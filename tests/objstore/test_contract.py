"""The object-store contract, run against every backend (fixture `store`: memory + LMDB)."""

from __future__ import annotations

import blake3
import pytest

from tests.support_damage import replace_record
from wfobj.objstore import (
    AmbiguousPrefix,
    ChecksumMismatch,
    ConflictError,
    DamagedRecord,
    InvalidHash,
    InvalidObject,
    InvalidRefName,
    Link,
    MemoryObjectStore,
    MissingLinks,
    ObjectNotFound,
    RefNotFound,
)
from wfobj.objstore.codec import encode
from wfobj.objstore.ids import CODEC_DAG_CBOR, CODEC_RAW


def tree(**entries) -> dict:
    """A test builder: a tree object linking blobs/objects by name."""
    return {"type": "tree", "entries": entries}


# ---- blobs ---------------------------------------------------------------------------
def test_blob_id_is_blake3_of_content(store):
    data = b"hello wfobj\n"
    oid = store.put_blob(data)
    assert oid == blake3.blake3(data).hexdigest()
    assert oid in store
    assert store.get_raw(oid) == data
    assert store.type_of(oid) == "blob"
    assert store.size_of(oid) == len(data)
    assert store.links_of(oid) == []
    assert b"".join(store.iter_blob(oid)) == data


def test_empty_blob(store):
    oid = store.put_blob(b"")
    assert oid == blake3.blake3(b"").hexdigest()
    assert store.get_raw(oid) == b""


def test_putting_twice_is_idempotent(store):
    assert store.put_blob(b"x") == store.put_blob(b"x")
    assert list(store).count(store.put_blob(b"x")) == 1


def test_unknown_and_malformed_hashes(store):
    missing = blake3.blake3(b"never stored").hexdigest()
    assert missing not in store
    assert "nonsense" not in store
    with pytest.raises(ObjectNotFound, match=f"not found: {missing}"):
        store.get_raw(missing)
    with pytest.raises(KeyError):  # ObjectNotFound is a KeyError
        store.type_of(missing)
    with pytest.raises(InvalidHash):
        store.get_raw("ABC")


# ---- structured objects ------------------------------------------------------------------
def test_structured_object_round_trip(store):
    blob = store.put_blob(b"content")
    value = {"type": "tree", "name": "x", "n": -3, "ok": True, "none": None, "raw": b"\x00",
             "entries": [Link.blob(blob)]}
    oid = store.put_object(value)
    assert oid == blake3.blake3(encode(value)[0]).hexdigest()
    assert store.get_object(oid) == value
    assert store.type_of(oid) == "tree"
    assert store.get_raw(oid) == encode(value)[0]
    assert store.links_of(oid) == [Link.blob(blob)]
    assert store.size_of(oid) == len(encode(value)[0])


def test_structured_object_needs_a_type(store):
    with pytest.raises(InvalidObject, match="type"):
        store.put_object({"name": "no type"})
    with pytest.raises(InvalidObject, match="float"):
        store.put_object({"type": "t", "x": 0.5})
    assert list(store) == []


def test_get_object_of_a_blob_is_refused(store):
    oid = store.put_blob(b"data")
    with pytest.raises(InvalidObject, match="blob"):
        store.get_object(oid)


def test_add_raw_verifies_untrusted_bytes(store):
    data = encode({"type": "tree", "entries": {}})[0]
    oid = store.add_raw(data, CODEC_DAG_CBOR, expected=blake3.blake3(data).hexdigest())
    assert store.get_object(oid) == {"type": "tree", "entries": {}}
    with pytest.raises(ChecksumMismatch):
        store.add_raw(b"abc", CODEC_RAW, expected=blake3.blake3(b"abd").hexdigest())
    with pytest.raises(InvalidObject, match="canonical"):
        store.add_raw(b"\xa1\x64type\x18\x01", CODEC_DAG_CBOR)
    with pytest.raises(InvalidObject, match="not valid CBOR"):
        store.add_raw(data[:-1], CODEC_DAG_CBOR)
    with pytest.raises(InvalidObject, match="type"):
        store.add_raw(encode({"no": "type"})[0], CODEC_DAG_CBOR)
    assert list(store) == [oid]


def test_identical_bytes_as_blob_then_structured(store):
    data = encode({"type": "tree", "entries": {}})[0]
    oid = store.put_blob(data)
    assert store.type_of(oid) == "blob"
    assert store.add_raw(data, CODEC_DAG_CBOR) == oid
    assert store.type_of(oid) == "tree"


# ---- closure -------------------------------------------------------------------------
def test_object_with_missing_links_is_refused(store):
    absent = blake3.blake3(b"absent").hexdigest()
    present = store.put_blob(b"present")
    with pytest.raises(MissingLinks) as info:
        store.put_object(tree(a=Link.blob(present), b=Link.blob(absent)))
    assert info.value.missing == [absent]
    assert absent in str(info.value)
    assert list(store) == [present]


def test_untrusted_object_with_missing_links_is_refused(store):
    absent = blake3.blake3(b"absent").hexdigest()
    data = encode(tree(a=Link.blob(absent)))[0]
    with pytest.raises(MissingLinks):
        store.add_raw(data, CODEC_DAG_CBOR)
    assert list(store) == []


def test_children_in_the_same_batch_satisfy_closure(store):
    with store.batch() as b:
        leaf = b.put_blob(b"leaf")
        mid = b.put_object(tree(leaf=Link.blob(leaf)))
        top = b.put_object(tree(mid=Link.obj(mid)))
    assert {leaf, mid, top} <= set(store)


def test_ref_to_missing_object_is_refused(store):
    absent = blake3.blake3(b"absent").hexdigest()
    with pytest.raises(MissingLinks):
        store.set_ref_if_equals("workflows/x", None, absent)
    with pytest.raises(RefNotFound):
        store.get_ref("workflows/x")


# ---- batches -------------------------------------------------------------------------
def test_failing_cas_aborts_the_whole_batch(store):
    first = store.put_blob(b"first")
    assert store.add_ref_if_new("runs/r1", first)

    with pytest.raises(ConflictError):
        with store.batch() as b:
            blob = b.put_blob(b"in the failed batch")
            b.meta_put("index", "k", b"v")
            b.set_ref("runs/r2", None, blob)
            b.set_ref("runs/r1", None, blob)  # r1 exists: this CAS fails
    assert blob not in store
    assert store.meta_get("index", "k") is None
    with pytest.raises(RefNotFound):
        store.get_ref("runs/r2")
    assert store.get_ref("runs/r1") == first


def test_exception_inside_batch_writes_nothing(store):
    with pytest.raises(RuntimeError):
        with store.batch() as b:
            oid = b.put_blob(b"never")
            raise RuntimeError("caller failed")
    assert oid not in store


def test_failing_meta_cas_aborts_the_batch(store):
    store.meta_cas("leases", "run1", None, b"worker-a")
    with store.batch() as b:
        b.meta_put("x", "y", b"1")

    with pytest.raises(ConflictError):
        with store.batch() as b:
            b.put_blob(b"z")
            b.meta_cas("leases", "run1", None, b"worker-b")
    assert store.meta_get("leases", "run1") == b"worker-a"
    assert blake3.blake3(b"z").hexdigest() not in store


def test_many_objects_in_one_batch(store):
    leaf = store.put_blob(b"l")
    with store.batch() as b:
        oids = [b.put_object(tree(i=Link.blob(leaf), n=str(i))) for i in range(50)]
    assert len(set(oids)) == 50
    assert all(o in store for o in oids)


# ---- refs ----------------------------------------------------------------------------
def test_ref_compare_and_swap(store):
    a, b = store.put_blob(b"a"), store.put_blob(b"b")
    assert store.add_ref_if_new("workflows/wc", a)
    assert not store.add_ref_if_new("workflows/wc", b)
    assert store.get_ref("workflows/wc") == a
    assert not store.set_ref_if_equals("workflows/wc", b, a)  # wrong old value
    assert store.set_ref_if_equals("workflows/wc", a, b)
    assert store.get_ref("workflows/wc") == b
    assert store.set_ref_if_equals("workflows/wc", b, None)  # delete
    with pytest.raises(RefNotFound, match="workflows/wc"):
        store.get_ref("workflows/wc")


def test_refs_listing_in_name_order(store):
    a = store.put_blob(b"a")
    for name in ["runs/2", "workflows/b", "runs/1", "workflows/a"]:
        store.add_ref_if_new(name, a)
    assert [n for n, _ in store.refs()] == ["runs/1", "runs/2", "workflows/a", "workflows/b"]
    assert [n for n, _ in store.refs("workflows/")] == ["workflows/a", "workflows/b"]
    assert dict(store.refs())["runs/1"] == a


@pytest.mark.parametrize(
    "name",
    ["", "a//b", "/a", "a/", "a/../b", "..", "a/./b", "has space", "tab\tx", "bell\x07",
     "back\\slash", "x" * 1100],
)
def test_bad_ref_names_refused(store, name):
    a = store.put_blob(b"a")
    with pytest.raises(InvalidRefName):
        store.add_ref_if_new(name, a)
    assert list(store.refs()) == []


# ---- meta ----------------------------------------------------------------------------
def test_meta_scan_order_cursor_and_reverse(store):
    with store.batch() as b:
        for key in ["a1", "a2", "a3", "b1"]:
            b.meta_put("idx", key, key.encode())
        b.meta_put("other", "a9", b"x")
        b.meta_put("idy", "a0", b"not in idx")
    assert [k for k, _ in store.meta_scan("idx")] == ["a1", "a2", "a3", "b1"]
    assert [k for k, _ in store.meta_scan("idx", "a")] == ["a1", "a2", "a3"]
    assert [k for k, _ in store.meta_scan("idx", start_after="a1")] == ["a2", "a3", "b1"]
    assert [k for k, _ in store.meta_scan("idx", reverse=True)] == ["b1", "a3", "a2", "a1"]
    assert [k for k, _ in store.meta_scan("idx", "a", reverse=True)] == ["a3", "a2", "a1"]
    assert [k for k, _ in store.meta_scan("idx", reverse=True, start_after="a3")] == ["a2", "a1"]
    assert [k for k, _ in store.meta_scan("idx", limit=2)] == ["a1", "a2"]
    assert dict(store.meta_scan("idx"))["b1"] == b"b1"


def test_meta_scan_pages_through_many_keys(store):
    with store.batch() as b:
        for i in range(1500):
            b.meta_put("many", f"{i:05d}", b"v")
    keys = [k for k, _ in store.meta_scan("many")]
    assert keys == [f"{i:05d}" for i in range(1500)]
    assert [k for k, _ in store.meta_scan("many", reverse=True)] == keys[::-1]


def test_meta_cas_and_delete(store):
    assert store.meta_cas("q", "k", None, b"1")
    assert not store.meta_cas("q", "k", None, b"2")
    assert store.meta_cas("q", "k", b"1", b"2")
    assert store.meta_get("q", "k") == b"2"
    assert store.meta_cas("q", "k", b"2", None)
    assert store.meta_get("q", "k") is None


def test_meta_add_counts_within_and_across_batches(store):
    with store.batch() as b:
        b.meta_add("c", "runs", 2)
        b.meta_add("c", "runs", 3)
        b.meta_add("c", "zero", 0)
    assert store.meta_get("c", "runs") == b"5"
    assert store.meta_get("c", "zero") is None
    with store.batch() as b:
        b.meta_add("c", "runs", -5)
    assert store.meta_get("c", "runs") == b"0"


def test_meta_add_is_undone_with_its_batch(store):
    store.meta_cas("c", "guard", None, b"x")
    with pytest.raises(ConflictError):
        with store.batch() as b:
            b.meta_add("c", "n", 1)
            b.meta_cas("c", "guard", None, b"y")
    assert store.meta_get("c", "n") is None


# ---- prefixes ------------------------------------------------------------------------
def test_resolve_unique_prefix(store):
    oid = store.put_blob(b"resolve me")
    assert store.resolve(oid[:6]) == oid
    assert store.resolve(oid[:7]) == oid
    assert store.resolve(oid.upper()[:10]) == oid
    assert store.resolve(oid) == oid


def test_resolve_ambiguous_lists_candidates(store):
    # find two contents whose ids share 6 hex chars (birthday search, ~4k tries)
    seen: dict[str, bytes] = {}
    i = 0
    while True:
        data = str(i).encode()
        oid = blake3.blake3(data).hexdigest()
        if oid[:6] in seen:
            break
        seen[oid[:6]] = data
        i += 1
    a = store.put_blob(seen[oid[:6]])
    b = store.put_blob(data)
    with pytest.raises(AmbiguousPrefix) as info:
        store.resolve(oid[:6])
    assert sorted(info.value.candidates) == sorted([a, b])
    assert a in str(info.value) and b in str(info.value)
    longer = next(n for n in range(7, 65) if a[:n] != b[:n])
    assert store.resolve(b[:longer]) == b


def test_resolve_errors(store):
    oid = store.put_blob(b"x")
    with pytest.raises(InvalidHash, match="at least 6"):
        store.resolve(oid[:5])
    other = "0" * 6 if not oid.startswith("000000") else "ffffff"
    with pytest.raises(ObjectNotFound, match=f"not found: {other}"):
        store.resolve(other)
    with pytest.raises(InvalidHash):
        store.resolve("zzzzzz")


def test_iteration_lists_every_object(store):
    oids = {store.put_blob(str(i).encode()) for i in range(700)}
    assert set(store) == oids
    assert list(store) == sorted(oids)


# ---- corruption ----------------------------------------------------------------------
def test_corruption_detected_in_memory_store():
    store = MemoryObjectStore()
    oid = store.put_blob(b"precious bytes")
    replace_record(store, oid, b"B" + b"precious bytez")
    with pytest.raises(ChecksumMismatch) as info:
        store.get_raw(oid)
    assert info.value.expected == oid
    assert oid in str(info.value)
    with pytest.raises(ChecksumMismatch):
        b"".join(store.iter_blob(oid))


def test_damaged_structured_object_is_never_decoded():
    store = MemoryObjectStore()
    oid = store.put_object({"type": "note", "command": "echo safe"})
    good = store.record(oid).body
    replace_record(store, oid, b"S" + good.replace(b"safe", b"evil"))
    for read in (store.get_object, store.get_raw, store.links_of, store.type_of,
                 store.stored_links):
        with pytest.raises(ChecksumMismatch, match=oid):
            read(oid)


def test_damaged_record_kind_is_refused():
    store = MemoryObjectStore()
    oid = store.put_blob(b"x")
    replace_record(store, oid, b"Z" + b"x")
    with pytest.raises(DamagedRecord, match=oid):
        store.get_raw(oid)


# ---- the one commit path -----------------------------------------------------------------
def test_blob_upgraded_to_structured_and_existing_skipped(store):
    value = {"type": "tree", "entries": {}}
    data = encode(value)[0]
    blob_oid = store.put_blob(data)
    with store.batch() as b:
        assert b.put_object(value) == blob_oid
        b.put_object({"type": "note", "n": 1})
    assert store.type_of(blob_oid) == "tree"
    assert store.get_raw(blob_oid) == data
    with store.batch() as b:  # already there: nothing new to write, nothing refused
        b.put_object(value)


def test_a_missing_link_anywhere_in_a_batch_writes_nothing(store):
    absent = blake3.blake3(b"absent").hexdigest()
    leaf = store.put_blob(b"leaf")
    with pytest.raises(MissingLinks) as info:
        with store.batch() as b:
            for i in range(5):
                b.put_object(tree(i=Link.blob(leaf), n=str(i)))
            b.put_object(tree(a=Link.blob(leaf), b=Link.blob(absent)))
            b.meta_put("ns", "k", b"v")
    assert info.value.missing == [absent]
    assert list(store) == [leaf]
    assert store.meta_get("ns", "k") is None


def test_varied_values_round_trip(store):
    leaf = store.put_blob(b"leaf")
    values = [
        {"type": "t", "s": "x" * n, "i": i, "neg": -i, "big": 2**40 + i, "ok": i % 2 == 0,
         "none": None, "list": ["a", "é", 3, ["n"]], "map": {"b": 1, "a": "z"},
         "bytes": b"\x00\x01", "link": Link.blob(leaf), "u": "ünïcode"}
        for n, i in ((0, 0), (23, 24), (24, 255), (200, 256), (5, 65535), (7, 65536))
    ]
    for value in values:
        assert store.get_object(store.put_object(value)) == value


def test_objects_of_an_aborted_batch_never_satisfy_a_later_link(store):
    absent = blake3.blake3(b"absent").hexdigest()
    with pytest.raises(MissingLinks):
        with store.batch() as b:
            leaf = b.put_blob(b"written, then rolled back")
            b.put_object(tree(gone=Link.blob(absent)))
    assert leaf not in store
    with pytest.raises(MissingLinks):
        store.put_object(tree(leaf=Link.blob(leaf)))
