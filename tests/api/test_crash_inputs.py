"""Inputs that used to crash a request with 500 (issue 11, hole 3): deep nesting, numbers
that are not finite, crafted chunked-file descriptors in a pack. Each is a 400 now."""

from __future__ import annotations

import json

import blake3
import pytest

from tests.support_api import WORDCOUNT, make_api, snapshot
from wfobj.engine.definitions.format import normalize
from wfobj.engine.errors import DefinitionError
from wfobj.objstore import Link, MemoryObjectStore, codec
from wfobj.objstore.car import block_bytes, chunked_descriptor, header_bytes
from wfobj.objstore.ids import CODEC_DAG_CBOR, cid_bytes

JSON = {"Content-Type": "application/json"}
DEEP = b"[" * 100_000


@pytest.fixture
def api():
    return make_api(MemoryObjectStore(), max_upload=1 << 20)


def _bad_request(r):
    assert r.status_code == 400, (r.status_code, r.content[:300])
    assert set(r.json) == {"title", "description"}


@pytest.mark.parametrize("method, path, role", [
    ("PUT", "/api/workflows/wc", "runner"),
    ("POST", "/api/workflows/wc/trigger", "runner"),
    ("POST", "/api/sync/objects", "reader"),
    ("POST", "/api/sync/packs/download", "reader"),
    ("POST", "/api/sync/refs", "admin"),
])
def test_deeply_nested_json_is_400(api, method, path, role):
    assert api.client.simulate_put("/api/workflows/wc", json=WORDCOUNT,
                                   headers=api.h()).status_code == 201
    before = snapshot(api.store)
    r = api.client.simulate_request(method, path, body=DEEP, headers=api.h(role, **JSON))
    _bad_request(r)
    assert "nested" in r.json["description"]
    assert snapshot(api.store) == before


def test_deeply_nested_yaml_is_400(api):
    r = api.client.simulate_put("/api/workflows/wc", body=DEEP,
                                headers=api.h(**{"Content-Type": "application/yaml"}))
    _bad_request(r)


def _with_task_field(field: str, text: str) -> bytes:
    body = json.loads(json.dumps(WORDCOUNT))
    if field == "cpus":
        body["tasks"]["split"]["resources"] = {"cpus": "@"}
    else:
        body["tasks"]["split"]["timeout"] = "@"
    return json.dumps(body).replace('"@"', text).encode()


@pytest.mark.parametrize("field", ["timeout", "cpus"])
@pytest.mark.parametrize("text", ["Infinity", "-Infinity", "NaN", "1e999", "1e300"])
def test_numbers_that_are_not_finite_or_sane_are_400(api, field, text):
    before = snapshot(api.store)
    r = api.client.simulate_put("/api/workflows/wc", body=_with_task_field(field, text),
                                headers=api.h(**JSON))
    _bad_request(r)
    assert snapshot(api.store) == before


@pytest.mark.parametrize("field", ["timeout", "cpus"])
@pytest.mark.parametrize("text", [".inf", ".nan", "1.0e+999", "1.0e+300"])
def test_yaml_numbers_that_are_not_finite_or_sane_are_400(api, field, text):
    yaml_text = ("tasks:\n  t:\n    image: i\n    command: [x]\n"
                 + (f"    resources: {{cpus: {text}}}\n" if field == "cpus"
                    else f"    timeout: {text}\n"))
    r = api.client.simulate_put("/api/workflows/wc", body=yaml_text,
                                headers=api.h(**{"Content-Type": "application/yaml"}))
    _bad_request(r)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e300, -1.0, 0])
def test_normalize_refuses_timeouts_and_cpus_out_of_range(value):
    for task in ({"timeout": value}, {"resources": {"cpus": value}}):
        raw = {"tasks": {"t": {"image": "i", "command": ["x"], **task}}}
        with pytest.raises(DefinitionError):
            normalize(raw, "wc")


def test_sane_timeouts_and_cpus_still_register():
    raw = {"tasks": {"t": {"image": "i", "command": ["x"], "timeout": 86400 * 30,
                           "resources": {"cpus": 0.5}}}}
    task = normalize(raw, "wc").tasks["t"]
    assert task.timeout == 86400 * 30 and task.resources.cpus == "0.5"


def crafted_pack(chunks: list) -> bytes:
    """A pack announcing a chunked file whose chunk index has the given entries."""
    index, _ = codec.encode({"type": "chunklist", "size": 5, "chunks": chunks})
    index_oid = blake3.blake3(index).hexdigest()
    descriptor = chunked_descriptor("b" * 64, index_oid, 5)
    return (header_bytes() + block_bytes(cid_bytes(index_oid, CODEC_DAG_CBOR), index)
            + block_bytes(cid_bytes(blake3.blake3(descriptor).hexdigest(), CODEC_DAG_CBOR),
                          descriptor))


@pytest.mark.parametrize("chunks", [[5], [[5, 1]], [["x", 1]], [[None]], [[1, 2, 3]]])
def test_crafted_chunked_file_descriptor_on_upload_is_400(api, chunks):
    r = api.client.simulate_post("/api/sync/packs", body=crafted_pack(chunks),
                                 headers=api.h(**{"Content-Type": "application/vnd.ipld.car"}))
    _bad_request(r)
    assert "b" * 64 not in api.store


def test_descriptor_with_a_blob_index_link_is_400(api):
    chunk = api.store.put_blob(b"hello")
    r = api.client.simulate_post(
        "/api/sync/packs", body=crafted_pack([[Link.blob(chunk), "five"]]),
        headers=api.h(**{"Content-Type": "application/vnd.ipld.car"}))
    _bad_request(r)
