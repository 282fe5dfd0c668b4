"""/api/secrets: admins put and delete values, runners list names and fingerprints,
nobody reads a value back, and a body that cannot be read is refused without being
quoted. A real LMDB store with its secret store beside it."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support_api import make_api

VALUE = "pa55-word-of-the-day"


@pytest.fixture
def api(lmdb_store):
    return make_api(lmdb_store)


def put(api, name: str, body, role: str = "admin", **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return api.client.simulate_put(f"/api/secrets/{name}", body=data, headers=api.h(
        role, **{"Content-Type": "application/json", **headers}))


def test_put_list_delete_never_show_the_value(api):
    resp = put(api, "db-pass", {"value": VALUE})
    assert resp.status_code == 200, resp.text
    info = resp.json
    assert info["name"] == "db-pass" and info["set_by"] == "admin-user"
    assert len(info["fingerprint"]) == 64 and VALUE not in resp.text
    listed = api.client.simulate_get("/api/secrets", headers=api.h("runner"))
    assert listed.status_code == 200 and listed.json == [info]
    binary = put(api, "key", {"value_base64": base64.b64encode(b"\x00\xffkey").decode()})
    assert binary.status_code == 200
    assert api.service.secrets.value("key") == b"\x00\xffkey"
    assert api.service.secrets.value("db-pass") == VALUE.encode()
    gone = api.client.simulate_delete("/api/secrets/db-pass", headers=api.h("admin"))
    assert gone.status_code == 200 and gone.json == info
    again = api.client.simulate_delete("/api/secrets/db-pass", headers=api.h("admin"))
    assert again.status_code == 404
    assert "no secret 'db-pass'" in again.json["description"]


def test_roles(api):
    assert put(api, "x", {"value": VALUE}, role="runner").status_code == 403
    assert api.client.simulate_delete("/api/secrets/x", headers=api.h("runner")).status_code == 403
    assert api.client.simulate_get("/api/secrets", headers=api.h("reader")).status_code == 403
    assert api.client.simulate_get("/api/secrets").status_code == 401
    assert api.client.simulate_get("/api/secrets/x", headers=api.h("admin")).status_code == 405


@pytest.mark.parametrize("body", [
    '{"value": "pa55-word-of-the-day"',  # cut JSON
    '{"value": "pa55-word-of-the-day", "x": 1}',
    '["pa55-word-of-the-day"]',
    '{"value": ["pa55-word-of-the-day"]}',
    '{"value_base64": "pa55-word-of-the-day!"}',
    '{"value": ""}',
    b'\xff{"value": "pa55-word-of-the-day"}',
])
def test_a_bad_body_is_refused_without_quoting_it(api, body):
    resp = put(api, "db-pass", body)
    assert resp.status_code == 400, resp.text
    assert "pa55" not in resp.text and "word-of" not in resp.text
    assert api.service.list_secrets() == []


def test_other_refusals(api):
    resp = put(api, "db-pass", f"value={VALUE}", **{"Content-Type": "text/plain"})
    assert resp.status_code == 415 and "pa55" not in resp.text
    bad_name = put(api, "1bad", {"value": VALUE})
    assert bad_name.status_code == 400 and "is not a secret name" in bad_name.json["description"]
    big = put(api, "big", {"value": "x" * (64 * 1024 + 1)})
    assert big.status_code == 400 and "over the limit of 65536 bytes" in big.json["description"]


def test_registration_and_trigger_refusals_over_http(api):
    put(api, "db-pass", {"value": VALUE})
    definition = {"params": {"p": {"type": "string"}},
                  "tasks": {"t": {"image": "wfobj/toolbox:local", "command": ["true"],
                                  "secrets": {"PASS": {"secret": "nope"}}}}}
    resp = api.client.simulate_put("/api/workflows/wf", json=definition, headers=api.h())
    assert resp.status_code == 400
    assert resp.json["description"].startswith("tasks.t.secrets.PASS: names an unknown secret")
    definition["tasks"]["t"]["secrets"] = {"PASS": {"secret": "db-pass"}}
    assert api.client.simulate_put("/api/workflows/wf", json=definition,
                                   headers=api.h()).status_code == 201
    trig = api.client.simulate_post("/api/workflows/wf/trigger", headers=api.h(),
                                    json={"parameters": {"p": VALUE}})
    assert trig.status_code == 400 and "value of secret 'db-pass'" in trig.json["description"]
    assert VALUE not in trig.text
