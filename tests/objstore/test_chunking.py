"""Large blobs: streamed in, content-defined chunks, id stays blake3(content), verified out."""

from __future__ import annotations

import io
import random

import blake3
import pytest

from tests.support_damage import replace_record
from wfobj.objstore import ChecksumMismatch, MemoryObjectStore
from wfobj.objstore.chunking import CHUNK_THRESHOLD, MAX_CHUNK, MIN_CHUNK


class CountingReader(io.RawIOBase):
    """A stream that never hands out more than `limit` bytes per read, and counts them."""

    def __init__(self, data: bytes, limit: int = 1 << 20):
        self.data, self.pos, self.limit, self.largest = data, 0, limit, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.limit if n is None or n < 0 else min(n, self.limit)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        self.largest = max(self.largest, len(out))
        return out


def big_data(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def test_small_stream_is_one_blob(store):
    oid, size = store.put_stream(io.BytesIO(b"small"))
    assert (oid, size) == (blake3.blake3(b"small").hexdigest(), 5)
    assert store.chunk_list(oid) == []


def test_large_stream_is_chunked_and_reads_back(store):
    data = big_data(3 * CHUNK_THRESHOLD + 12345)
    reader = CountingReader(data)
    oid, size = store.put_stream(reader)
    assert oid == blake3.blake3(data).hexdigest()
    assert size == len(data)
    chunks = store.chunk_list(oid)
    assert len(chunks) > 3
    assert sum(s for _, s in chunks) == len(data)
    assert all(s <= MAX_CHUNK for _, s in chunks)
    assert all(s >= MIN_CHUNK for _, s in chunks[:-1])
    assert store.type_of(oid) == "blob"
    assert store.size_of(oid) == len(data)
    pieces = list(store.iter_blob(oid))
    assert len(pieces) == len(chunks)
    assert b"".join(pieces) == data
    assert store.get_raw(oid) == data


def test_put_blob_of_large_bytes_chunks_too(store):
    data = big_data(CHUNK_THRESHOLD + 1, seed=2)
    oid = store.put_blob(data)
    assert oid == blake3.blake3(data).hexdigest()
    assert store.chunk_list(oid)


def test_edit_in_the_middle_restores_few_chunks(store):
    data = bytearray(big_data(24 << 20, seed=3))
    first, _ = store.put_stream(io.BytesIO(bytes(data)))
    before = set(store)
    middle = len(data) // 2
    data[middle : middle + 100] = bytes(100)
    second, _ = store.put_stream(io.BytesIO(bytes(data)))
    assert second != first
    new = set(store) - before
    new_bytes = sum(store.size_of(o) for o in new if o != second)
    # the changed chunk (and maybe a neighbour), the index and the file record
    assert new_bytes < 2 * MAX_CHUNK + 64 * 1024
    assert len(new) <= 5
    assert store.get_raw(second) == bytes(data)
    assert store.get_raw(first) != bytes(data)


def test_corrupt_chunk_is_detected_while_streaming():
    store = MemoryObjectStore()
    data = big_data(2 * CHUNK_THRESHOLD, seed=4)
    oid, _ = store.put_stream(io.BytesIO(data))
    chunk_oid, size = store.chunk_list(oid)[1]
    damaged = bytearray(b"B" + store.record(chunk_oid).body)
    damaged[size // 2] ^= 0xFF
    replace_record(store, chunk_oid, bytes(damaged))
    with pytest.raises(ChecksumMismatch) as info:
        b"".join(store.iter_blob(oid))
    assert info.value.expected == chunk_oid


# stored by the chunker before it read files into its buffer and committed in the background
PINNED_FILE = "412240548e1fe3e34731e6d08d2308b56ca9d46e8d61980cc4c9b94963b015d6"
PINNED_INDEX = "e13237b08fe9c92db9af5cade8833ce6c91ce88201d0ae726ebee825961b3ead"
PINNED_IDS = "6056cc60627a2b21d8493470298d41c2deaff4672bf2f9cfaed6cba30a267e71"


@pytest.mark.parametrize("source", ["file", "bytes", "wrapper"])
def test_a_chunked_file_stores_the_same_objects_however_it_is_read(tmp_path, source):
    data = random.Random(21).randbytes(9 << 20)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    store = MemoryObjectStore()
    with open(path, "rb") as f:
        stream = {"file": f, "bytes": io.BytesIO(data), "wrapper": CountingReader(data)}[source]
        assert store.put_stream(stream) == (PINNED_FILE, len(data))
    assert store.record(PINNED_FILE).index == PINNED_INDEX
    assert blake3.blake3("".join(sorted(store)).encode()).hexdigest() == PINNED_IDS
    assert store.get_raw(PINNED_FILE) == data


def test_a_failed_chunk_commit_stops_the_put_and_leaves_no_file(monkeypatch):
    store = MemoryObjectStore()
    real_commit, commits = store.commit, []

    def failing_commit(batch):
        commits.append(batch)
        if len(commits) == 2:
            raise OSError(28, "No space left on device")
        real_commit(batch)

    monkeypatch.setattr(store, "commit", failing_commit)
    data = big_data(40 << 20, seed=5)
    with pytest.raises(OSError, match="No space left"):
        store.put_stream(io.BytesIO(data))
    assert blake3.blake3(data).hexdigest() not in store
    assert len(commits) <= 3  # stopped at the next group, not after reading the whole stream
    assert all(not store.is_structured(oid) for oid in store)  # chunks only: no index
