"""Objects over HTTP: streamed download with ETag, HEAD, JSON/CBOR rendering, upload."""

from __future__ import annotations

import json
import os

import blake3
import pytest

from tests.support_api import make_api, snapshot
from wfobj.objstore import MemoryObjectStore
from wfobj.objstore.chunking import CHUNK_THRESHOLD
from wfobj.objstore.codec import Link


@pytest.fixture
def api():
    return make_api(MemoryObjectStore(), max_upload=8 << 20)


def _upload(api, data, **headers):
    return api.client.simulate_post("/api/objects", body=data, headers=api.h(
        "runner", **{"Content-Type": "application/octet-stream", **headers}))


def test_upload_then_download_blob(api):
    data = b"the quick brown fox\n" * 100
    r = _upload(api, data)
    oid = blake3.blake3(data).hexdigest()
    assert r.status_code == 201 and r.json == {"hash": oid, "size": len(data)}
    assert r.headers["location"] == f"/api/objects/{oid}"
    got = api.client.simulate_get(f"/api/objects/{oid}", headers=api.h("reader"))
    assert got.status_code == 200 and got.content == data
    assert got.headers["etag"] == f'"{oid}"'
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["content-type"] == "application/octet-stream"
    again = api.client.simulate_get(f"/api/objects/{oid}", headers=api.h(
        "reader", **{"If-None-Match": f'"{oid}"'}))
    assert again.status_code == 304 and again.content == b""


def test_large_chunked_blob_round_trip(api):
    data = os.urandom(CHUNK_THRESHOLD + 12345)
    oid = _upload(api, data).json["hash"]
    assert api.store.chunk_list(oid), "stored in chunks"
    got = api.client.simulate_get(f"/api/objects/{oid}", headers=api.h("reader"))
    assert got.content == data and got.headers["content-length"] == str(len(data))


def test_head_says_whether_it_exists(api):
    oid = _upload(api, b"abc").json["hash"]
    r = api.client.simulate_head(f"/api/objects/{oid}", headers=api.h("reader"))
    assert r.status_code == 200 and r.headers["content-length"] == "3"
    assert r.headers["x-wfobj-type"] == "blob" and r.content == b""
    missing = "0" * 64
    assert api.client.simulate_head(f"/api/objects/{missing}",
                                    headers=api.h("reader")).status_code == 404


def test_structured_object_as_json_or_exact_cbor(api):
    blob = api.store.put_blob(b"x")
    oid = api.store.put_object({"type": "note", "text": "hi", "file": Link.blob(blob),
                                "n": 3})
    as_json = api.client.simulate_get(f"/api/objects/{oid}", headers=api.h("reader"))
    assert as_json.status_code == 200
    assert json.loads(as_json.content) == {"type": "note", "text": "hi", "file": blob, "n": 3}
    as_cbor = api.client.simulate_get(f"/api/objects/{oid}", headers=api.h(
        "reader", Accept="application/cbor"))
    assert as_cbor.headers["content-type"] == "application/cbor"
    assert as_cbor.content == api.store.get_raw(oid)
    assert blake3.blake3(as_cbor.content).hexdigest() == oid


def test_declared_hash_mismatch_stores_nothing(api):
    before = snapshot(api.store)
    wrong = blake3.blake3(b"something else").hexdigest()
    r = _upload(api, b"payload", **{"X-Wfobj-Hash": wrong})
    assert r.status_code == 400 and wrong in r.json["description"]
    q = api.client.simulate_post("/api/objects", body=b"payload", params={"hash": wrong},
                                 headers=api.h("runner"))
    assert q.status_code == 400
    assert snapshot(api.store) == before
    right = blake3.blake3(b"payload").hexdigest()
    assert _upload(api, b"payload", **{"X-Wfobj-Hash": right}).status_code == 201


def test_declared_hash_must_be_a_hash(api):
    before = snapshot(api.store)
    r = _upload(api, b"payload", **{"X-Wfobj-Hash": "../../etc/passwd"})
    assert r.status_code == 400 and "invalid hash" in r.json["description"]
    assert snapshot(api.store) == before
    right = blake3.blake3(b"payload").hexdigest()
    for query in ("\u00a4\u00f6", blake3.blake3(b"other").hexdigest()):  # with a good header
        both = api.client.simulate_post("/api/objects", body=b"payload", params={"hash": query},
                                        headers=api.h("runner", **{"X-Wfobj-Hash": right}))
        assert both.status_code == 400, both.text
    assert snapshot(api.store) == before


def test_upload_over_limit_is_413_and_stores_nothing(api):
    before = snapshot(api.store)
    r = _upload(api, b"\0" * ((8 << 20) + 1))
    assert r.status_code == 413 and set(r.json) == {"title", "description"}
    assert snapshot(api.store) == before


@pytest.mark.parametrize("bad", ["zz", "ABCDEF" + "0" * 58, "0" * 63, "0" * 65, "..",
                                 "%2e%2e", "..%2F..%2Fetc%2Fpasswd"])
def test_invalid_hash_syntax(api, bad):
    r = api.client.simulate_get(f"/api/objects/{bad}", headers=api.h("reader"))
    assert r.status_code in (400, 404)
    assert set(r.json) == {"title", "description"}


def test_invalid_hash_is_400_unknown_is_404(api):
    assert api.client.simulate_get("/api/objects/xyz",
                                   headers=api.h("reader")).status_code == 400
    r = api.client.simulate_get("/api/objects/" + "a" * 64, headers=api.h("reader"))
    assert r.status_code == 404 and "a" * 64 in r.json["description"]
