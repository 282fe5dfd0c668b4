"""Bearer tokens, roles and the open health endpoint, through the real app."""

from __future__ import annotations

import pytest

from tests.support_api import make_api, snapshot
from wfobj.api.auth import needed_role
from wfobj.engine.access.tokens import TokenStore
from wfobj.objstore import MemoryObjectStore


@pytest.fixture
def api():
    return make_api(MemoryObjectStore())


def test_health_is_open(api):
    r = api.client.simulate_get("/api/health")
    assert r.status_code == 200
    assert r.json["status"] == "ok" and isinstance(r.json["engine_version"], str)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwdw==", "Bearer  ",
                                    "Bearer wfo_not-a-real-token", "Bearer nonsense"])
def test_no_or_bad_token_is_401(api, header):
    headers = {} if header is None else {"Authorization": header}
    r = api.client.simulate_get("/api/workflows", headers=headers)
    assert r.status_code == 401
    assert set(r.json) == {"title", "description"} and r.json["description"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_reader_cannot_trigger_upload_or_register(api):
    before = snapshot(api.store)
    for method, path, body in [("POST", "/api/workflows/wc/trigger", "{}"),
                               ("POST", "/api/objects", "data"),
                               ("PUT", "/api/workflows/wc", "{}")]:
        r = api.client.simulate_request(
            method, path, body=body, headers=api.h("reader", **{
                "Content-Type": "application/json"}))
        assert r.status_code == 403, path
        assert "runner" in r.json["description"] and "reader" in r.json["description"]
    assert snapshot(api.store) == before


def test_sync_ref_updates_need_admin(api):
    body = '{"updates": []}'
    r = api.client.simulate_post("/api/sync/refs", body=body, headers=api.h(
        "runner", **{"Content-Type": "application/json"}))
    assert r.status_code == 403
    r = api.client.simulate_post("/api/sync/refs", body=body, headers=api.h(
        "admin", **{"Content-Type": "application/json"}))
    assert r.status_code == 200 and r.json == {"results": []}


def test_revoked_token_is_refused(api):
    tokens = TokenStore(api.store)
    token, info = tokens.create("carol", "reader")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.simulate_get("/api/workflows", headers=headers).status_code != 401
    tokens.revoke(info.id)
    assert api.client.simulate_get("/api/workflows", headers=headers).status_code == 401


def test_roles_default_to_admin_when_undeclared():
    class Undeclared:
        pass

    class Open:
        roles: dict = {}

    class Declared:
        roles = {"GET": "reader"}

    assert needed_role(Undeclared(), "GET") == "admin"
    assert needed_role(Open(), "POST") is None
    assert needed_role(Declared(), "HEAD") == "reader"
    assert needed_role(Declared(), "DELETE") == "admin"


def test_unknown_route_is_404_with_json_error(api):
    r = api.client.simulate_get("/api/nothing-here", headers=api.h("reader"))
    assert r.status_code == 404
    assert set(r.json) == {"title", "description"} and "/api/nothing-here" in r.json["description"]
