"""Blob downloads from a damaged store (issue 11, hole 10): a blob read whole is verified
before the first byte (a JSON 500 naming the hash); a chunked one is verified chunk by
chunk, its first chunk before the answer starts."""

from __future__ import annotations

import random

import pytest

from tests.support_api import make_api
from tests.support_damage import flip_byte_on_disk
from wfobj.objstore import LmdbObjectStore

BIG = 12 << 20  # chunked (over the 4 MiB chunk threshold), about a dozen chunks


def big_content(seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(BIG)


def damaged_store(tmp_path, data: bytes, marker_at: int):
    """A store holding `data` as a blob, with a bit flipped at `marker_at`; (store, oid)."""
    path = tmp_path / "store"
    store = LmdbObjectStore(path, create=True)
    oid = store.put_blob(data)
    store.close()
    flip_byte_on_disk(path, data[marker_at:marker_at + 64])
    return LmdbObjectStore(path), oid


def _json_500_naming(r, oid: str) -> None:
    assert r.status_code == 500, (r.status_code, r.content[:200])
    assert r.headers["content-type"].startswith("application/json")
    assert set(r.json) == {"title", "description"} and oid in r.json["description"]


def test_corrupt_small_blob_is_a_json_500_before_any_byte(tmp_path):
    data = b"small-blob-marker-" * 100
    store, oid = damaged_store(tmp_path, data, 500)
    api = make_api(store)
    _json_500_naming(api.client.simulate_get(f"/api/objects/{oid}", headers=api.h("reader")),
                     oid)
    store.close()


@pytest.mark.slow
def test_corrupt_first_chunk_is_a_json_500_before_any_byte(tmp_path):
    store, oid = damaged_store(tmp_path, big_content(), 1000)
    api = make_api(store)
    r = api.client.simulate_get(f"/api/objects/{oid}", headers=api.h("reader"))
    assert r.status_code == 500 and set(r.json) == {"title", "description"}
    store.close()


@pytest.mark.slow
def test_healthy_blobs_download_with_their_length(tmp_path):
    store = LmdbObjectStore(tmp_path / "store", create=True)
    data = big_content(3)
    big, small = store.put_blob(data), store.put_blob(b"hello")
    api = make_api(store)
    for oid, content in ((big, data), (small, b"hello")):
        r = api.client.simulate_get(f"/api/objects/{oid}", headers=api.h("reader"))
        assert r.status_code == 200 and r.content == content
        assert int(r.headers["content-length"]) == len(content)
    store.close()
