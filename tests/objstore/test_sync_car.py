"""CAR v1 packs: framing, header, verification of blocks and chunked-file descriptors."""

from __future__ import annotations

import io
import os

import pytest

from wfobj.objstore import InvalidObject, Link, MemoryObjectStore
from wfobj.objstore.car import (
    CarReader,
    IterStream,
    block_bytes,
    chunked_descriptor,
    encode_varint,
    header_bytes,
    iter_pack,
    read_varint,
    receive_pack,
)
from wfobj.objstore.errors import InvalidPack, MissingLinks, PackBlockMismatch
from wfobj.objstore.ids import CODEC_DAG_CBOR, CODEC_RAW, cid_bytes, hash_bytes


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**35 + 7])
def test_varint_roundtrip(value):
    assert read_varint(io.BytesIO(encode_varint(value))) == value


def test_header_is_car_v1_with_cid_roots():
    oid = hash_bytes(b"x")
    stream = io.BytesIO(header_bytes([Link.blob(oid)]))
    reader = CarReader(stream)
    assert reader.roots == [Link.blob(oid)]
    assert list(reader) == []


def test_pack_roundtrip_blocks(store):
    blob = store.put_blob(b"hello")
    obj = store.put_object({"type": "thing", "content": Link.blob(blob)})
    blocks = list(CarReader(IterStream(iter_pack(store, [blob, obj]))))
    assert [(b.oid, b.codec) for b in blocks] == [(blob, CODEC_RAW), (obj, CODEC_DAG_CBOR)]
    assert blocks[0].data == b"hello"
    target = MemoryObjectStore()
    stats = receive_pack(target, IterStream(iter_pack(store, [blob, obj])))
    assert (stats.blocks, stats.stored) == (2, 2)
    assert target.get_object(obj) == store.get_object(obj)


def test_truncated_and_garbage_packs_are_refused():
    store = MemoryObjectStore()
    blob = store.put_blob(b"payload")
    pack = b"".join(iter_pack(store, [blob]))
    target = MemoryObjectStore()
    with pytest.raises(InvalidPack, match="truncated"):
        receive_pack(target, io.BytesIO(pack[:-3]))
    with pytest.raises(InvalidPack, match="no CAR header"):
        receive_pack(target, io.BytesIO(b""))
    with pytest.raises(InvalidPack, match="header"):
        receive_pack(target, io.BytesIO(encode_varint(3) + b"abc"))
    bad_cid = header_bytes() + block_bytes(b"\x01\x55\x12\x20" + bytes(32), b"x")
    with pytest.raises(InvalidPack, match="CID"):
        receive_pack(target, io.BytesIO(bad_cid))
    assert list(target) == []


def test_block_without_its_links_is_refused():
    store = MemoryObjectStore()
    child = store.put_blob(b"child")
    parent = store.put_object({"type": "p", "c": Link.blob(child)})
    target = MemoryObjectStore()
    with pytest.raises(MissingLinks):
        receive_pack(target, IterStream(iter_pack(store, [parent])))
    assert parent not in target


def test_non_canonical_structured_block_is_refused():
    data = bytes.fromhex("a264747970656178616101")  # {"type": "x", "a": 1}, keys out of order
    pack = header_bytes() + block_bytes(cid_bytes(hash_bytes(data), CODEC_DAG_CBOR), data)
    with pytest.raises(InvalidObject):
        receive_pack(MemoryObjectStore(), io.BytesIO(pack))


def test_lying_chunked_descriptor_is_refused():
    source = MemoryObjectStore()
    content = os.urandom(9 << 20)
    real, _ = source.put_stream(io.BytesIO(content))
    index = source.record(real).index
    chunks = [oid for oid, _ in source.chunk_list(real)]
    fake = hash_bytes(b"not the content")
    descriptor = chunked_descriptor(fake, index, len(content))
    pack = b"".join(iter_pack(source, [*chunks, index])) + block_bytes(
        cid_bytes(hash_bytes(descriptor), CODEC_DAG_CBOR), descriptor
    )
    target = MemoryObjectStore()
    with pytest.raises(PackBlockMismatch) as err:  # the sender's fault, not damage here
        receive_pack(target, io.BytesIO(pack))
    assert err.value.expected == fake
    assert fake not in target

    wrong_size = chunked_descriptor(real, index, len(content) + 1)
    pack = header_bytes() + block_bytes(
        cid_bytes(hash_bytes(wrong_size), CODEC_DAG_CBOR), wrong_size
    )
    with pytest.raises(InvalidObject, match="add up"):
        receive_pack(target, io.BytesIO(pack))
    assert real not in target
    receive_pack(target, IterStream(iter_pack(source, [real])))
    assert b"".join(target.iter_blob(real)) == content
