"""End to end over real HTTP: `wfobj serve` (gunicorn + engine worker) on a temp LMDB store
with real Docker, every docs/api.md endpoint on the example workflow."""

from __future__ import annotations

import json
from pathlib import Path

import blake3
import pytest
import requests

from tests.support_e2e import finished_wordcount, served, start_server, wait_terminal

pytestmark = [pytest.mark.docker, pytest.mark.slow]
SLOW = {"name": "slow", "tasks": {"nap": {"image": "wfobj/toolbox:local",
                                          "command": ["sh", "-c", "sleep 60"]}}}


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-api"))


@pytest.fixture(scope="module")
def finished(server):
    """The example applied, the corpus uploaded, one run triggered by name and finished."""
    return finished_wordcount(server)


def get(server, path, role="reader", headers=None, **kw):
    return requests.get(server.url + path, headers=server.h(role, **(headers or {})),
                        timeout=30, **kw)


def test_health_and_openapi_are_open(server):
    assert requests.get(server.url + "/api/health").json()["status"] == "ok"
    doc = requests.get(server.url + "/api/openapi.json").json()
    assert "/api/runs/{run_id}/lineage" in doc["paths"]


def test_workflow_endpoints(server, finished):
    d = finished["definition"]
    listed = get(server, "/api/workflows").json()
    assert [(w["name"], w["definition_hash"]) for w in listed] == [
        ("wordcount", d["definition_hash"])]
    shown = get(server, "/api/workflows/wordcount").json()
    assert shown["definition"]["tasks"]["count"]["outputs"]["vars"] == ["count"]
    versions = get(server, "/api/workflows/wordcount/versions").json()
    assert versions[0]["registered_by"] == "runner-user"
    by_hash = get(server, f"/api/workflows/by-hash/{d['definition_hash']}").json()
    assert by_hash["definition"] == shown["definition"]
    same = requests.put(f"{server.url}/api/workflows/wordcount",
                        json=shown["definition"], headers=server.h())
    assert same.status_code == 200 and same.json() == d


def test_run_views(server, finished):
    run = finished["run"]
    rid = run["run_id"]
    assert run["triggered_by"] == "runner-user"
    assert run["parameters"] == {"corpus": finished["corpus"]["hash"], "min_len": 3}
    tasks = get(server, f"/api/runs/{rid}/tasks").json()
    assert [t["task"] for t in tasks] == ["split", "count"]
    count = get(server, f"/api/runs/{rid}/tasks/count").json()
    assert count["exit_code"] == 0 and count["image"] == "wfobj/toolbox:local"
    assert count["attempts"] == [count["evidence_hash"]]
    words = [w for w in finished["data"].decode().split() if len(w) >= 3]
    assert count["vars"] == {"count": str(len(words))}
    files = {f["path"]: f for f in get(server, f"/api/runs/{rid}/files").json()}
    assert set(files) == {"words.txt", "count.txt"}
    body = get(server, f"/api/objects/{files['count.txt']['hash']}")
    assert body.content.strip() == str(len(words)).encode()
    assert body.headers["ETag"] == f'"{files["count.txt"]["hash"]}"'
    lineage = get(server, f"/api/runs/{rid}/lineage").json()
    node_ids = {n["id"] for n in lineage["nodes"]}
    assert f"file:{files['count.txt']['hash']}" in node_ids
    assert all(e["from"] in node_ids and e["to"] in node_ids for e in lineage["edges"])
    audit = get(server, f"/api/runs/{rid}/audit").json()
    assert audit[0]["actor"] == "runner-user" and audit[-1]["to"] == "success"
    assert all(b["prev"] == a["hash"] for a, b in zip(audit, audit[1:], strict=False))
    manifest = get(server, f"/api/objects/{run['manifest_hash']}",
                   headers={"Accept": "application/cbor"})
    assert blake3.blake3(manifest.content).hexdigest() == run["manifest_hash"]


def test_objects_head_and_structured_json(server, finished):
    oid = finished["corpus"]["hash"]
    head = requests.head(f"{server.url}/api/objects/{oid}", headers=server.h("reader"))
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(finished["data"]))
    missing = requests.head(f"{server.url}/api/objects/{'0' * 64}", headers=server.h("reader"))
    assert missing.status_code == 404
    evidence = get(server, f"/api/runs/{finished['run']['run_id']}/tasks/split").json()
    as_json = get(server, f"/api/objects/{evidence['evidence_hash']}").json()
    assert as_json["type"] and json.dumps(as_json)


def test_trigger_by_hash_is_pinned_and_listing(server, finished):
    old = finished["definition"]["definition_hash"]
    changed = {**get(server, "/api/workflows/wordcount").json()["definition"],
               "description": "moved on"}
    assert requests.put(f"{server.url}/api/workflows/wordcount", json=changed,
                        headers=server.h()).status_code == 201
    trig = requests.post(f"{server.url}/api/workflows/by-hash/{old}/trigger",
                         json={"parameters": {"corpus": finished["corpus"]["hash"],
                                              "min_len": 5}}, headers=server.h("admin"))
    assert trig.status_code == 202 and trig.json()["definition_hash"] == old
    run = wait_terminal(server, trig.json()["run_id"])
    assert run["state"] == "success" and run["triggered_by"] == "admin-user"
    page = get(server, "/api/runs", params={"workflow": "wordcount", "limit": 1}).json()
    assert [r["run_id"] for r in page["runs"]] == [run["run_id"]]
    rest = get(server, "/api/runs", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert rest["runs"][0]["run_id"] == finished["run"]["run_id"]
    ok = get(server, "/api/runs", params={"state": "success"}).json()["runs"]
    assert {r["run_id"] for r in ok} >= {run["run_id"], finished["run"]["run_id"]}


def test_kill_running_run_then_409(server):
    assert requests.put(f"{server.url}/api/workflows/slow", json=SLOW,
                        headers=server.h()).status_code == 201
    rid = requests.post(f"{server.url}/api/workflows/slow/trigger", json={},
                        headers=server.h()).json()["run_id"]
    for _ in range(300):
        if get(server, f"/api/runs/{rid}").json()["tasks"]["nap"] == "running":
            break
        __import__("time").sleep(0.1)
    kill = requests.post(f"{server.url}/api/runs/{rid}/kill", headers=server.h())
    assert kill.status_code == 202 and kill.json()["run_id"] == rid
    run = wait_terminal(server, rid)
    assert run["state"] == "killed" and run["tasks"] == {"nap": "killed"}
    nap = get(server, f"/api/runs/{rid}/tasks/nap").json()
    assert nap["state"] == "killed" and nap["evidence_hash"]
    again = requests.post(f"{server.url}/api/runs/{rid}/kill", headers=server.h())
    assert again.status_code == 409


def test_first_start_writes_admin_token(docker_client, tmp_path: Path):
    srv = start_server(tmp_path, tokens=False, engine_workers=0, workers=1)
    try:
        token_file = srv.store_path / "admin-token"
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        assert str(token_file) in srv.log()
        token = token_file.read_text().strip()
        r = requests.get(srv.url + "/api/workflows", headers={
            "Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json() == []
    finally:
        assert srv.stop() == 0
