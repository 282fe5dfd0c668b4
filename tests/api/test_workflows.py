"""Workflow resources through the real app and WorkflowService on a memory store."""

from __future__ import annotations

import json

import pytest

from tests.support_api import WORDCOUNT, WORDCOUNT_YAML, make_api, snapshot
from wfobj.objstore import MemoryObjectStore

JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def api():
    return make_api(MemoryObjectStore(), max_upload=1 << 20)


def _put(api, body, name="wc", headers=JSON, role="runner"):
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return api.client.simulate_put(f"/api/workflows/{name}", body=text,
                                   headers=api.h(role, **headers))


def test_register_json_then_yaml_is_unchanged(api):
    first = _put(api, WORDCOUNT)
    assert first.status_code == 201
    assert first.json["name"] == "wc" and first.json["version"] == 1
    same = _put(api, WORDCOUNT_YAML, headers=YAML)
    assert same.status_code == 200 and same.json == first.json
    changed = _put(api, {**WORDCOUNT, "description": "v2"})
    assert changed.status_code == 201 and changed.json["version"] == 2
    assert changed.json["definition_hash"] != first.json["definition_hash"]


def test_list_show_versions_by_hash(api):
    v1 = _put(api, WORDCOUNT).json
    v2 = _put(api, {**WORDCOUNT, "description": "v2"}).json
    h = api.h("reader")
    listed = api.client.simulate_get("/api/workflows", headers=h).json
    assert [(w["name"], w["definition_hash"], w["version"]) for w in listed] == [
        ("wc", v2["definition_hash"], 2)]
    assert listed[0]["updated_at"].endswith("Z")
    shown = api.client.simulate_get("/api/workflows/wc", headers=h).json
    assert shown["definition_hash"] == v2["definition_hash"]
    assert shown["definition"]["description"] == "v2"
    versions = api.client.simulate_get("/api/workflows/wc/versions", headers=h).json
    assert [v["version"] for v in versions] == [2, 1]
    assert {v["registered_by"] for v in versions} == {"runner-user"}
    old = api.client.simulate_get(f"/api/workflows/by-hash/{v1['definition_hash']}",
                                  headers=h).json
    assert old == {"definition_hash": v1["definition_hash"],
                   "definition": old["definition"]}
    assert old["definition"]["description"] == "count words"


def test_trigger_records_token_user_and_by_hash_is_pinned(api):
    v1 = _put(api, WORDCOUNT).json
    _put(api, {**WORDCOUNT, "description": "v2"})
    corpus = api.store.put_blob(b"one two three")
    body = json.dumps({"parameters": {"corpus": corpus, "triggered_by": "x"}})
    assert api.client.simulate_post("/api/workflows/wc/trigger", body=body,
                                    headers=api.h(**JSON)).status_code == 400
    body = {"parameters": {"corpus": corpus}}
    r = api.client.simulate_post("/api/workflows/wc/trigger", json=body, headers=api.h())
    assert r.status_code == 202 and r.json["state"] == "pending"
    run = api.client.simulate_get(f"/api/runs/{r.json['run_id']}", headers=api.h()).json
    assert run["triggered_by"] == "runner-user"
    assert run["parameters"] == {"corpus": corpus, "min_len": 3, "mode": "fast"}
    pinned = api.client.simulate_post(
        f"/api/workflows/by-hash/{v1['definition_hash']}/trigger", json=body,
        headers=api.h("admin"))
    assert pinned.status_code == 202
    assert pinned.json["definition_hash"] == v1["definition_hash"]
    run = api.client.simulate_get(f"/api/runs/{pinned.json['run_id']}", headers=api.h()).json
    assert run["triggered_by"] == "admin-user"


@pytest.mark.parametrize("params, word", [
    ({"corpus": "C", "nope": 1}, "nope"),
    ({}, "corpus"),
    ({"corpus": "C", "min_len": "three"}, "min_len"),
    ({"corpus": "C", "mode": "medium"}, "mode"),
    ({"corpus": "0" * 64}, "corpus"),
    ({"corpus": "not-a-hash"}, "corpus"),
])
def test_bad_parameters_are_400_and_create_no_run(api, params, word):
    _put(api, WORDCOUNT)
    corpus = api.store.put_blob(b"one two")
    params = {k: corpus if v == "C" else v for k, v in params.items()}
    before = snapshot(api.store)
    r = api.client.simulate_post("/api/workflows/wc/trigger", json={"parameters": params},
                                 headers=api.h())
    assert r.status_code == 400 and word in r.json["description"]
    assert snapshot(api.store) == before


@pytest.mark.parametrize("body, headers, status", [
    ("{not json", JSON, 400),
    ("name: [unclosed", YAML, 400),
    (json.dumps(WORDCOUNT), {"Content-Type": "text/plain"}, 415),
    (json.dumps(WORDCOUNT), {}, 415),
    ("", JSON, 400),
    ("[1, 2]", JSON, 400),
    (json.dumps({**WORDCOUNT, "tasks": {}}), JSON, 400),
    (json.dumps({**WORDCOUNT, "name": "other"}), JSON, 400),
    (json.dumps({**WORDCOUNT, "extra": 1}), JSON, 400),
    ("x" * ((4 << 20) + 1), JSON, 413),
])
def test_bad_definitions_write_nothing(api, body, headers, status):
    before = snapshot(api.store)
    r = _put(api, body, headers=headers)
    assert r.status_code == status, r.json
    assert set(r.json) == {"title", "description"} and r.json["description"]
    assert snapshot(api.store) == before


def test_definition_error_names_the_place(api):
    bad = json.loads(json.dumps(WORDCOUNT))
    bad["tasks"]["count"]["inputs"]["words"]["task"] = "missing"
    r = _put(api, bad)
    assert r.status_code == 400 and "count" in r.json["description"]
    assert "missing" in r.json["description"]


@pytest.mark.parametrize("body, headers, status", [
    ("{oops", JSON, 400),
    ('{"parameters": {}}', {"Content-Type": "text/plain"}, 415),
    ('{"params": {}}', JSON, 400),
    ('{"parameters": [1]}', JSON, 400),
    ('"hello"', JSON, 400),
    ("x" * ((1 << 20) + 1), JSON, 413),
])
def test_bad_trigger_bodies_write_nothing(api, body, headers, status):
    _put(api, WORDCOUNT)
    before = snapshot(api.store)
    r = api.client.simulate_post("/api/workflows/wc/trigger", body=body,
                                 headers=api.h(**headers))
    assert r.status_code == status
    assert snapshot(api.store) == before


def test_unknown_workflow_and_definition_are_404(api):
    h = api.h()
    for path in ("/api/workflows/ghost", "/api/workflows/ghost/versions",
                 "/api/workflows/by-hash/" + "b" * 64):
        r = api.client.simulate_get(path, headers=h)
        assert r.status_code == 404, path
    before = snapshot(api.store)
    r = api.client.simulate_post("/api/workflows/ghost/trigger", json={}, headers=h)
    assert r.status_code == 404 and "ghost" in r.json["description"]
    assert snapshot(api.store) == before


@pytest.mark.parametrize("name", ["..", ".hidden", "a..b", "-x", "x" * 129, "a%20b",
                                  "%2e%2e"])
def test_bad_names_are_400_never_lookups(api, name):
    before = snapshot(api.store)
    r = _put(api, WORDCOUNT, name=name)
    assert r.status_code in (400, 404)
    assert api.client.simulate_get(f"/api/workflows/{name}",
                                   headers=api.h()).status_code in (400, 404)
    assert snapshot(api.store) == before


def test_invalid_hash_in_by_hash_routes_is_400(api):
    for bad in ("abc", "Z" * 64, "0" * 63):
        assert api.client.simulate_get(f"/api/workflows/by-hash/{bad}",
                                       headers=api.h()).status_code == 400
        assert api.client.simulate_post(f"/api/workflows/by-hash/{bad}/trigger", json={},
                                        headers=api.h()).status_code == 400
