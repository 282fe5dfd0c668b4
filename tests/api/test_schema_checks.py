"""The API answers as its OpenAPI document says (issue 11, hole 11): bodies the schema
refuses are 400, and what the server sends fits the schema it publishes."""

from __future__ import annotations

import jsonschema_rs  # comes with schemathesis (the test extra)
import pytest

from tests.support_api import WORDCOUNT, make_api, snapshot
from wfobj.objstore import MemoryObjectStore

H = "a" * 64


@pytest.fixture
def api():
    return make_api(MemoryObjectStore())


def _schema(api, name: str) -> dict:
    return api.client.simulate_get("/api/openapi.json").json["components"]["schemas"][name]


@pytest.mark.parametrize("path, body", [
    ("/api/sync/missing", None),
    ("/api/sync/objects", b'{"haves": {}}'),
    ("/api/sync/objects", b'{"wants": ["' + H.encode() + b'"], "haves": {}}'),
    ("/api/sync/objects", b'{"wants": {}}'),
    ("/api/sync/objects", b'{"wants": [], "extra": 1}'),
    ("/api/sync/objects", b'[]'),
    ("/api/sync/packs/download", b'{"wants": "' + H.encode() + b'"}'),
    ("/api/sync/refs", b'{"updates": {}}'),
    ("/api/sync/refs", b'{"updates": [], "force": 1}'),
    ("/api/sync/refs", b'{"updates": [], "other": true}'),
    ("/api/sync/refs", b'{"updates": [{"name": "workflows/x", "new": "' + H.encode()
     + b'", "old": null, "extra": 1}]}'),
    ("/api/sync/refs", b'{"updates": [{"name": "workflows/x", "old": null}]}'),
    ("/api/sync/refs", None),
])
def test_sync_bodies_the_schema_refuses_are_400(api, path, body):
    before = snapshot(api.store)
    headers = api.h("admin", **({} if path == "/api/sync/missing" else {
        "Content-Type": "application/json"}))
    r = api.client.simulate_post(path, body=body, headers=headers)
    assert r.status_code == 400, (path, body, r.status_code, r.content[:200])
    assert set(r.json) == {"title", "description"}
    assert snapshot(api.store) == before


def test_sync_bodies_the_schema_accepts_still_work(api):
    h = api.h("admin", **{"Content-Type": "application/json"})
    oid = api.store.put_blob(b"x")
    assert api.client.simulate_post("/api/sync/objects", json={"wants": [oid]},
                                    headers=h).status_code == 200
    assert api.client.simulate_post("/api/sync/objects", json={"wants": [oid], "haves": []},
                                    headers=h).status_code == 200
    assert api.client.simulate_post("/api/sync/refs", json={"updates": []},
                                    headers=h).status_code == 200
    r = api.client.simulate_post("/api/sync/missing", body=bytes.fromhex(oid) * 2,
                                 headers=api.h("reader"))
    assert r.status_code == 200 and r.content == b""


def test_empty_declared_hash_header_is_400(api):
    before = snapshot(api.store)
    r = api.client.simulate_post("/api/objects", body=b"data",
                                 headers=api.h(**{"X-Wfobj-Hash": ""}))
    assert r.status_code == 400 and "hash" in r.json["description"]
    r = api.client.simulate_post("/api/objects?hash=", body=b"data", headers=api.h())
    assert r.status_code == 400
    assert snapshot(api.store) == before


@pytest.mark.parametrize("query", ["state=", "workflow=", "limit=", "cursor=",
                                   "workflow=..", "state=bogus"])
def test_empty_or_bad_run_list_filters_are_400(api, query):
    r = api.client.simulate_get(f"/api/runs?{query}", headers=api.h("reader"))
    assert r.status_code == 400, (query, r.json)


def test_evidence_of_a_task_never_attempted_fits_the_schema(api):
    api.client.simulate_put("/api/workflows/wc", json=WORDCOUNT, headers=api.h())
    corpus = api.store.put_blob(b"a b")
    run_id = api.client.simulate_post("/api/workflows/wc/trigger", json={"parameters": {
        "corpus": corpus}}, headers=api.h()).json["run_id"]
    evidence = _schema(api, "Evidence")
    tasks = api.client.simulate_get(f"/api/runs/{run_id}/tasks", headers=api.h()).json
    assert tasks[0]["evidence_hash"] is None
    for item in tasks:
        jsonschema_rs.validate(evidence, item)
    one = api.client.simulate_get(f"/api/runs/{run_id}/tasks/split", headers=api.h()).json
    jsonschema_rs.validate(evidence, one)


def test_run_id_path_parameters_are_uuids(api):
    doc = api.client.simulate_get("/api/openapi.json").json
    for template, ops in doc["paths"].items():
        for op in ops.values():
            for param in op["parameters"]:
                if param["name"] == "run_id":
                    assert param["schema"].get("format") == "uuid", template
                    assert "pattern" in param["schema"], template
