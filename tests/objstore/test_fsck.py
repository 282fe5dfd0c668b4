"""fsck against every backend: clean stores pass; each kind of damage is named."""

from __future__ import annotations

import io
import random

import blake3
import pytest

from tests.support_damage import drop_record, flip_byte_on_disk, replace_record
from wfobj.objstore import Link, MemoryObjectStore
from wfobj.objstore.chunking import CHUNK_THRESHOLD
from wfobj.objstore.fsck import fsck_store, parse_sample


def populate(store) -> dict:
    leaf = store.put_blob(b"leaf")
    top = store.put_object({"type": "tree", "leaf": Link.blob(leaf)})
    big, _ = store.put_stream(io.BytesIO(random.Random(5).randbytes(CHUNK_THRESHOLD + 10)))
    holder = store.put_object({"type": "tree", "big": Link.blob(big)})
    store.add_ref_if_new("workflows/a", top)
    store.add_ref_if_new("workflows/b", holder)
    stray = store.put_blob(b"nobody points here")
    return {"leaf": leaf, "top": top, "big": big, "stray": stray}


def test_clean_store(store):
    ids = populate(store)
    report = fsck_store(store)
    assert report.ok, report.damage
    assert report.checked == report.total == len(list(store))
    assert report.refs == 2
    assert report.unreachable == [ids["stray"]]  # informational, not damage
    assert report.to_json()["ok"] is True


def test_sample_checks_a_share_but_links_in_full(store):
    populate(store)
    report = fsck_store(store, sample=0.5, rng=random.Random(1))
    assert 0 < report.checked < report.total
    assert report.ok


@pytest.mark.parametrize("text, fraction", [("10%", 0.1), ("100%", 1.0), ("2.5", 0.025)])
def test_parse_sample(text, fraction):
    assert parse_sample(text) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["0%", "101%", "abc", "-5%"])
def test_parse_sample_refuses(text):
    with pytest.raises(ValueError):
        parse_sample(text)


def test_corrupt_blob_and_object_are_named():
    store = MemoryObjectStore()
    ids = populate(store)
    replace_record(store, ids["leaf"], b"Bleap")
    body = store.record(ids["top"]).body
    replace_record(store, ids["top"], b"S" + body[:-1] + bytes([body[-1] ^ 1]))
    report = fsck_store(store)
    assert not report.ok
    assert set(report.bad_hashes()) == {ids["leaf"], ids["top"]}
    assert all(d.kind == "checksum" for d in report.damage)


def test_damaged_chunk_breaks_the_big_blob():
    store = MemoryObjectStore()
    ids = populate(store)
    chunk, size = store.chunk_list(ids["big"])[0]
    replace_record(store, chunk, b"B" + bytes(size))
    report = fsck_store(store)
    assert chunk in report.bad_hashes()
    assert ids["big"] in report.bad_hashes()


def test_non_canonical_structured_record_is_named():
    store = MemoryObjectStore()
    data = b"\xa1\x64type\x78\x01t"  # 'type': 't' with a non-minimal length
    oid = blake3.blake3(data).hexdigest()
    replace_record(store, oid, b"S" + data)
    report = fsck_store(store)
    assert oid in report.bad_hashes()
    assert any(d.kind == "invalid" and "canonical" in d.detail for d in report.damage)


def test_dangling_link_and_broken_ref():
    store = MemoryObjectStore()
    ids = populate(store)
    drop_record(store, ids["leaf"])
    report = fsck_store(store)
    assert [(d.oid, d.kind) for d in report.damage] == [(ids["top"], "dangling")]
    assert ids["leaf"] in report.damage[0].detail


def test_chunked_among_names_only_large_blobs_kept_as_chunks(store):
    ids = populate(store)
    chunks = {oid for oid, _ in store.chunk_list(ids["big"])}
    assert store.chunked_among(list(store)) == {ids["big"]}
    assert store.chunked_among(sorted(chunks)) == set()


def test_a_chunk_shared_by_two_files_is_damage_to_both(store, tmp_path):
    """Chunks are checked with their files, read where they are stored (LMDB: views of
    the map); a chunk two files share is named once, and both files with it."""
    data = random.Random(7).randbytes(3 * CHUNK_THRESHOLD)
    first, _ = store.put_stream(io.BytesIO(data))
    second, _ = store.put_stream(io.BytesIO(data + b"a longer tail"))
    shared = {c for c, _ in store.chunk_list(first)} & {c for c, _ in store.chunk_list(second)}
    assert shared
    assert fsck_store(store).ok
    victim = min(shared)
    size = dict(store.chunk_list(first))[victim]
    start = data.find(store.get_raw(victim)[:64])
    if isinstance(store, MemoryObjectStore):
        replace_record(store, victim, b"B" + bytes(size))
    else:
        store.close()
        flip_byte_on_disk(store.path, data[start + 1000:start + 1064])
    report = fsck_store(store)
    assert set(report.bad_hashes()) == {victim, first, second}
    assert sum(d.oid == victim for d in report.damage) == 1
    assert all(d.kind == "checksum" for d in report.damage)
