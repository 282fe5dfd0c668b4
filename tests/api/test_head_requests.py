"""HEAD where docs/api.md promises it: `/metrics` and the run exports answer HEAD with
GET's status and headers (type, length, file name) and no body, through the real app."""

from __future__ import annotations

import io

import pytest
from falcon.testing import TestClient

from tests.support_engine import run_with, wordcount
from wfobj.api import create_app
from wfobj.engine.access.tokens import TokenStore
from wfobj.engine.provenance.exports import KeyFile
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore

SAME = ("content-type", "content-length", "content-disposition")


@pytest.fixture
def api(tmp_path):
    store = MemoryObjectStore()
    tokens = TokenStore(store)
    reader = tokens.create("rita", "reader")[0]
    service = WorkflowService(store, keys=KeyFile(tmp_path))
    service.apply_workflow("wordcount", wordcount(), user="alice")
    corpus = service.put_file(io.BytesIO(b"one two three\n"))["hash"]
    run_id = service.trigger(name="wordcount", parameters={"corpus": corpus},
                             user="alice", cache=False)["run_id"]
    assert run_with(store, run_id)[0] == "success"
    return TestClient(create_app(store, service, tokens)), {
        "Authorization": f"Bearer {reader}"}, run_id


def same_as_get(client, path: str, headers: dict) -> None:
    got = client.simulate_get(path, headers=headers)
    head = client.simulate_head(path, headers=headers)
    assert got.status_code == 200, got.text
    assert head.status_code == 200, (path, head.status_code, head.text)
    assert head.content == b""
    for name in SAME:
        assert head.headers.get(name) == got.headers.get(name), (path, name)


def test_metrics_answers_head_like_get(api):
    client, h, _ = api
    same_as_get(client, "/metrics", h)
    assert client.simulate_head("/metrics").status_code == 401


@pytest.mark.parametrize("fmt", ["prov", "openlineage", "in-toto", "ro-crate"])
def test_exports_answer_head_like_get(api, fmt):
    client, h, run_id = api
    same_as_get(client, f"/api/runs/{run_id}/export/{fmt}", h)


def test_head_on_an_export_keeps_gets_errors(api):
    client, h, run_id = api
    assert client.simulate_head(f"/api/runs/{run_id}/export/nope", headers=h).status_code == 404
    assert client.simulate_head(f"/api/runs/{run_id}/export/prov").status_code == 401
