"""No export is refused for its size any more (docs/limits.md "Exports"): PROV,
OpenLineage and in-toto of a fan-out run are answered 200, sent as they are made (no
Content-Length), and read back by the formats' own readers; an in-toto export of a run
still going is refused before anything is sent, and that refusal frees its export slot.
Falcon's test client on fan-out runs of the fake executor."""

from __future__ import annotations

import base64
import json

import pytest
from falcon.testing import TestClient
from prov.model import ProvActivity, ProvDocument

from tests.support_engine import run_with, trigger
from tests.support_exports import check_openlineage, envelope_verifies
from wfobj.api import create_app
from wfobj.engine.access.tokens import TokenStore
from wfobj.engine.provenance.exports import MAX_EXPORTS, KeyFile
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore

INSTANCES = 40
FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": {"image": "none", "command": ["run", "{{item}}"],
                          "for_each": {"param": "n"}, "outputs": {"files": ["o.txt"]}}}}


@pytest.fixture
def api(tmp_path):
    store = MemoryObjectStore()
    tokens = TokenStore(store)
    reader = tokens.create("rita", "reader")[0]
    service = WorkflowService(store, keys=KeyFile(tmp_path))
    client = TestClient(create_app(store, service, tokens))
    run_id = trigger(service, FAN, "fan", n=list(range(INSTANCES)))
    return client, {"Authorization": f"Bearer {reader}"}, service, store, run_id


def get(client, h, run_id: str, fmt: str):
    return client.simulate_get(f"/api/runs/{run_id}/export/{fmt}", headers=h)


def test_json_exports_of_a_fan_out_are_sent_as_they_are_made(api):
    client, h, service, store, run_id = api
    assert run_with(store, run_id)[0] == "success"
    answers = {fmt: get(client, h, run_id, fmt) for fmt in ("prov", "openlineage", "in-toto")}
    for fmt, resp in answers.items():
        assert resp.status_code == 200, resp.text
        assert "Content-Length" not in resp.headers, fmt  # streamed, so unsized
        assert f'{run_id}.' in resp.headers["Content-Disposition"]
    doc = ProvDocument.deserialize(content=answers["prov"].text, format="json")
    assert len(list(doc.get_records(ProvActivity))) == INSTANCES + 1  # the run, each instance
    events = answers["openlineage"].json
    check_openlineage(events)
    assert len(events) == 2 * INSTANCES + 2
    envelope = answers["in-toto"].json
    assert envelope_verifies(envelope, service.public_keys()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert len(statement["subject"]) == INSTANCES


def test_in_toto_of_a_run_still_going_is_refused_before_sending_and_frees_its_slot(api):
    client, h, _service, _store, run_id = api
    for _ in range(MAX_EXPORTS + 1):  # a slot kept by a refusal would end in 503
        resp = get(client, h, run_id, "in-toto")
        assert resp.status_code == 409, resp.text
    assert get(client, h, run_id, "prov").status_code == 200
