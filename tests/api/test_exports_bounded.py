"""A JSON export (prov, openlineage, in-toto) is made whole in memory, 20-40 KB per task
attempt (a 20,000-instance run: 397 MiB for PROV, 779 MiB for OpenLineage), so a run with
more attempts than MAX_JSON_EXPORT_ATTEMPTS is refused with 422 naming the limit before
any attempt is read; a RO-Crate of a fan-out, sent as it is made, is not. Falcon's test client on a
fan-out run of the scripted executor, the limit lowered to keep the run small."""

from __future__ import annotations

import pytest
from falcon.testing import TestClient

from tests.support_engine import run_with, trigger
from wfobj.api import create_app
from wfobj.engine.access.tokens import TokenStore
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.provenance import exports
from wfobj.engine.provenance.exports import KeyFile
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore

LIMIT = 6
FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": {"image": "none", "command": ["run", "{{item}}"],
                          "for_each": {"param": "n"}, "outputs": {"files": ["o.txt"]}}}}


@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setattr(exports, "MAX_JSON_EXPORT_ATTEMPTS", LIMIT)
    store = MemoryObjectStore()
    tokens = TokenStore(store)
    reader = tokens.create("rita", "reader")[0]
    service = WorkflowService(store, keys=KeyFile(tmp_path))
    client = TestClient(create_app(store, service, tokens))

    def finished(instances: int) -> str:
        run_id = trigger(service, FAN, "fan", n=list(range(instances)))
        behaviors = {"each": TaskBehavior(outputs={"o.txt": b"x\n"})}
        assert run_with(store, run_id, behaviors)[0] == "success"
        return run_id

    return client, {"Authorization": f"Bearer {reader}"}, finished


@pytest.mark.parametrize("fmt", ["prov", "openlineage", "in-toto"])
def test_a_json_export_past_the_limit_is_refused_naming_it(api, fmt):
    client, h, finished = api
    run_id = finished(LIMIT + 1)  # one attempt per instance
    resp = client.simulate_get(f"/api/runs/{run_id}/export/{fmt}", headers=h)
    assert resp.status_code == 422, resp.text
    assert resp.json["title"] == "Export too large"
    assert f"{LIMIT + 1} task attempts" in resp.json["description"]
    assert f"({LIMIT}, MAX_JSON_EXPORT_ATTEMPTS)" in resp.json["description"]
    assert "ro-crate" in resp.json["description"]
    crate = client.simulate_get(f"/api/runs/{run_id}/export/ro-crate", headers=h)
    assert crate.status_code == 200, crate.text  # streamed, so not bounded this way
    again = client.simulate_get(f"/api/runs/{run_id}/export/{fmt}", headers=h)
    assert again.status_code == 422  # a refusal frees its export slot


@pytest.mark.parametrize("fmt", ["prov", "openlineage", "in-toto"])
def test_a_json_export_at_the_limit_is_made(api, fmt):
    client, h, finished = api
    run_id = finished(LIMIT)
    resp = client.simulate_get(f"/api/runs/{run_id}/export/{fmt}", headers=h)
    assert resp.status_code == 200, resp.text
