"""GET /api/runs/{id}/export/{format} and GET /api/keys through Falcon's test client, on
runs driven by the scripted executor (the Docker-backed checks are in test_exports_*)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from falcon.testing import TestClient
from prov.model import ProvDocument

from tests.support_engine import run_with, wordcount
from tests.support_exports import check_openlineage, envelope_verifies, flip_payload_byte
from wfobj.api import create_app
from wfobj.engine.access.tokens import TokenStore
from wfobj.engine.provenance.exports import KeyFile
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore


@pytest.fixture
def api(tmp_path):
    store = MemoryObjectStore()
    tokens = TokenStore(store)
    reader = tokens.create("rita", "reader")[0]
    service = WorkflowService(store, keys=KeyFile(tmp_path))
    service.apply_workflow("wordcount", wordcount(), user="alice")
    corpus = service.put_file(io.BytesIO(b"one two three four\nfive six\n"))["hash"]
    client = TestClient(create_app(store, service, tokens))

    def trigger() -> str:
        return service.trigger(name="wordcount", parameters={"corpus": corpus},
                               user="alice", cache=False)["run_id"]

    return client, {"Authorization": f"Bearer {reader}"}, store, trigger


def test_each_format_has_its_media_type_and_a_file_name(api):
    client, h, store, trigger = api
    run_id = trigger()
    assert run_with(store, run_id)[0] == "success"
    expected = {"ro-crate": "application/zip", "prov": "application/json",
                "openlineage": "application/json",
                "in-toto": "application/vnd.dsse.envelope.v1+json"}
    for fmt, media in expected.items():
        resp = client.simulate_get(f"/api/runs/{run_id}/export/{fmt}", headers=h)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == media
        assert run_id in resp.headers["content-disposition"]
    crate = client.simulate_get(f"/api/runs/{run_id}/export/ro-crate", headers=h).content
    assert "ro-crate-metadata.json" in zipfile.ZipFile(io.BytesIO(crate)).namelist()
    bare = client.simulate_get(f"/api/runs/{run_id}/export/ro-crate",
                               params={"files": "none"}, headers=h).content
    assert not [n for n in zipfile.ZipFile(io.BytesIO(bare)).namelist()
                if n.startswith("files/")]


def test_keys_endpoint_is_open_and_verifies_the_envelope(api):
    client, h, store, trigger = api
    run_id = trigger()
    run_with(store, run_id)
    keys = client.simulate_get("/api/keys").json
    assert [set(k) for k in keys] == [{"keyid", "algorithm", "public_key_pem"}]
    assert keys[0]["algorithm"] == "ed25519"
    envelope = client.simulate_get(f"/api/runs/{run_id}/export/in-toto", headers=h).json
    assert envelope_verifies(envelope, keys[0])
    assert not envelope_verifies(flip_payload_byte(envelope), keys[0])


def test_a_run_not_ended_exports_what_exists_but_is_not_signed(api):
    client, h, _, trigger = api
    run_id = trigger()  # pending: no worker took it
    prov = client.simulate_get(f"/api/runs/{run_id}/export/prov", headers=h)
    doc = ProvDocument.deserialize(content=prov.text, format="json")
    assert f"run:{run_id}" in doc.get_provn()
    events = client.simulate_get(f"/api/runs/{run_id}/export/openlineage", headers=h).json
    check_openlineage(events)
    assert [e["eventType"] for e in events] == ["START"]
    signed = client.simulate_get(f"/api/runs/{run_id}/export/in-toto", headers=h)
    assert signed.status_code == 409
    assert "signed only once the run has ended" in signed.json["description"]


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/export/spdx", 404, "unknown export format 'spdx'"),
    ("/export/ro-crate?files=some", 400, "invalid files 'some'"),
])
def test_bad_format_or_option_is_a_json_error(api, path, status, words):
    client, h, _, trigger = api
    run_id = trigger()
    resp = client.simulate_get(f"/api/runs/{run_id}{path}", headers=h)
    assert resp.status_code == status
    assert set(resp.json) == {"title", "description"} and words in resp.json["description"]


def test_unknown_run_and_missing_token(api):
    client, h, _, _ = api
    missing = client.simulate_get(
        "/api/runs/01234567-89ab-7def-8123-456789abcdef/export/prov", headers=h)
    assert missing.status_code == 404 and "unknown run" in missing.json["description"]
    bad_id = client.simulate_get("/api/runs/nope/export/prov", headers=h)
    assert bad_id.status_code == 400
    anonymous = client.simulate_get(
        "/api/runs/01234567-89ab-7def-8123-456789abcdef/export/prov")
    assert anonymous.status_code == 401


def test_a_service_without_a_key_refuses_to_sign(tmp_path):
    store = MemoryObjectStore()
    tokens = TokenStore(store)
    reader = tokens.create("rita", "reader")[0]
    service = WorkflowService(store)
    service.apply_workflow("wordcount", wordcount(), user="alice")
    corpus = service.put_file(io.BytesIO(b"a b c\n"))["hash"]
    run_id = service.trigger(name="wordcount", parameters={"corpus": corpus}, user="alice",
                             cache=False)["run_id"]
    run_with(store, run_id)
    client = TestClient(create_app(store, service, tokens))
    assert client.simulate_get("/api/keys").json == []
    resp = client.simulate_get(f"/api/runs/{run_id}/export/in-toto",
                               headers={"Authorization": f"Bearer {reader}"})
    assert resp.status_code == 409 and json.loads(resp.text)["title"] == "Conflict"


def test_a_killed_run_ends_with_abort_and_a_failed_action(api):
    client, h, _, trigger = api
    run_id = trigger()
    runner = TokenStore(api[2]).create("rob", "runner")[0]
    killed = client.simulate_post(f"/api/runs/{run_id}/kill",
                                  headers={"Authorization": f"Bearer {runner}"})
    assert killed.status_code == 202 and killed.json["state"] == "killed"
    events = client.simulate_get(f"/api/runs/{run_id}/export/openlineage", headers=h).json
    check_openlineage(events)
    assert [e["eventType"] for e in events] == ["START", "ABORT"]
    crate = client.simulate_get(f"/api/runs/{run_id}/export/ro-crate", headers=h).content
    graph = json.loads(zipfile.ZipFile(io.BytesIO(crate)).read("ro-crate-metadata.json"))
    (run_action,) = [e for e in graph["@graph"] if e["@id"] == f"#run-{run_id}"]
    assert run_action["actionStatus"] == "http://schema.org/FailedActionStatus"


def test_exports_hold_a_slot_until_sent_or_dropped(api):
    """At most MAX_EXPORTS at once per process (503 + Retry-After past it); a HEAD or an
    export read to its end gives its slot back."""
    from wfobj.engine.provenance.exports import MAX_EXPORTS

    client, h, _store, trigger = api
    run_id = trigger()
    for _ in range(MAX_EXPORTS + 2):
        assert client.simulate_head(f"/api/runs/{run_id}/export/prov", headers=h).status_code == 200
        assert client.simulate_get(f"/api/runs/{run_id}/export/ro-crate",
                                   headers=h).status_code == 200
    held = [client.app({"REQUEST_METHOD": "GET", "PATH_INFO": f"/api/runs/{run_id}/export/ro-crate",
                        "HTTP_AUTHORIZATION": h["Authorization"], "wsgi.input": None,
                        "SERVER_NAME": "t", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
                        "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.errors": None},
                       lambda status, headers: None) for _ in range(MAX_EXPORTS)]
    over = client.simulate_get(f"/api/runs/{run_id}/export/openlineage", headers=h)
    assert over.status_code == 503 and over.headers["retry-after"]
    assert over.json["title"] == "Exports busy"
    for body in held:
        body.close()
    assert client.simulate_get(f"/api/runs/{run_id}/export/prov", headers=h).status_code == 200
