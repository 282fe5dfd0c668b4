"""Run resources through the real app: listing with filters and cursors, views, kill."""

from __future__ import annotations

import pytest

from tests.support_api import WORDCOUNT, make_api, snapshot
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore

RUN_KEYS = {"run_id", "workflow", "definition_hash", "engine_version", "triggered_by",
            "created_at", "started_at", "ended_at", "parameters", "state", "manifest_hash",
            "tasks", "task_count", "task_states", "tasks_truncated", "cache", "resumes",
            "reproduces", "parent"}


@pytest.fixture
def api():
    api = make_api(MemoryObjectStore())
    api.client.simulate_put("/api/workflows/wc", json=WORDCOUNT, headers=api.h())
    other = {**WORDCOUNT, "name": "other"}
    api.client.simulate_put("/api/workflows/other", json=other, headers=api.h())
    return api


def _trigger(api, name="wc") -> str:
    corpus = api.store.put_blob(b"alpha beta gamma")
    r = api.client.simulate_post(f"/api/workflows/{name}/trigger",
                                 json={"parameters": {"corpus": corpus}}, headers=api.h())
    assert r.status_code == 202
    return r.json["run_id"]


def _finish(api, run_id: str) -> dict:
    """Run it to the end in this process with the scripted executor."""
    return WorkflowService(api.store, executor_factory=FakeExecutor).wait(run_id, timeout=30)


def test_completed_run_views(api):
    run_id = _trigger(api)
    assert _finish(api, run_id)["state"] == "success"
    h = api.h("reader")
    run = api.client.simulate_get(f"/api/runs/{run_id}", headers=h).json
    assert set(run) == RUN_KEYS and run["state"] == "success"
    assert run["tasks"] == {"split": "success", "count": "success"}
    assert len(run["manifest_hash"]) == 64 and run["created_at"].endswith("Z")
    tasks = api.client.simulate_get(f"/api/runs/{run_id}/tasks", headers=h).json
    assert [t["task"] for t in tasks] == ["split", "count"]
    one = api.client.simulate_get(f"/api/runs/{run_id}/tasks/count", headers=h).json
    assert one["attempts"] == [one["evidence_hash"]] and one["state"] == "success"
    files = api.client.simulate_get(f"/api/runs/{run_id}/files", headers=h).json
    assert {(f["task"], f["path"]) for f in files} == {("split", "words.txt"),
                                                       ("count", "count.txt")}
    lineage = api.client.simulate_get(f"/api/runs/{run_id}/lineage", headers=h).json
    kinds = {n["kind"] for n in lineage["nodes"]}
    assert kinds == {"param", "task", "file"}
    assert all(n["id"].startswith("file:") for n in lineage["nodes"] if n["kind"] == "file")
    audit = api.client.simulate_get(f"/api/runs/{run_id}/audit", headers=h).json
    assert [a["seq"] for a in audit] == list(range(1, len(audit) + 1))
    assert all(b["prev"] == a["hash"] for a, b in zip(audit, audit[1:], strict=False))
    evidence = api.client.simulate_get(f"/api/objects/{one['evidence_hash']}", headers=h)
    assert evidence.status_code == 200 and evidence.headers["etag"] == f'"{one["evidence_hash"]}"'


def test_list_filters_and_cursor_stay_correct_while_runs_arrive(api):
    ids = [_trigger(api, "wc" if i % 2 else "other") for i in range(7)]
    h = api.h("reader")
    page = api.client.simulate_get("/api/runs", params={"limit": 3}, headers=h).json
    assert [r["run_id"] for r in page["runs"]] == ids[::-1][:3]
    newer = _trigger(api)
    seen = [r["run_id"] for r in page["runs"]]
    while page["next_cursor"]:
        page = api.client.simulate_get("/api/runs", params={
            "limit": 3, "cursor": page["next_cursor"]}, headers=h).json
        seen += [r["run_id"] for r in page["runs"]]
    assert seen == ids[::-1] and newer not in seen
    only_wc = api.client.simulate_get("/api/runs", params={"workflow": "wc"}, headers=h).json
    assert [r["run_id"] for r in only_wc["runs"]] == [newer] + [
        i for n, i in enumerate(ids) if n % 2][::-1]
    api.client.simulate_post(f"/api/runs/{ids[0]}/kill", headers=api.h())
    killed = api.client.simulate_get("/api/runs", params={"state": "killed"}, headers=h).json
    assert [r["run_id"] for r in killed["runs"]] == [ids[0]]
    assert killed["next_cursor"] is None


@pytest.mark.parametrize("query", [{"state": "dead"}, {"limit": "0"}, {"limit": "x"},
                                   {"limit": "1001"}, {"cursor": "garbage!"},
                                   {"workflow": "../etc"}])
def test_bad_list_queries_are_400(api, query):
    r = api.client.simulate_get("/api/runs", params=query, headers=api.h("reader"))
    assert r.status_code == 400 and r.json["description"]


def test_kill_pending_then_409(api):
    run_id = _trigger(api)
    r = api.client.simulate_post(f"/api/runs/{run_id}/kill", headers=api.h())
    assert r.status_code == 202 and r.json == {"run_id": run_id, "state": "killed"}
    before = snapshot(api.store)
    again = api.client.simulate_post(f"/api/runs/{run_id}/kill", headers=api.h())
    assert again.status_code == 409 and "killed" in again.json["description"]
    assert snapshot(api.store) == before
    audit = api.client.simulate_get(f"/api/runs/{run_id}/audit", headers=api.h()).json
    assert audit[-1]["actor"] == "runner-user" and audit[-1]["to"] == "killed"


def test_kill_finished_run_is_409(api):
    run_id = _trigger(api)
    _finish(api, run_id)
    before = snapshot(api.store)
    r = api.client.simulate_post(f"/api/runs/{run_id}/kill", headers=api.h())
    assert r.status_code == 409 and "success" in r.json["description"]
    assert snapshot(api.store) == before


def test_reader_cannot_kill(api):
    run_id = _trigger(api)
    r = api.client.simulate_post(f"/api/runs/{run_id}/kill", headers=api.h("reader"))
    assert r.status_code == 403


def test_run_files_recursive_lists_the_files_inside_output_directories(api):
    run_id = _trigger(api)
    parts = {"a.txt": b"a", "sub/b.txt": b"bb"}
    fake = FakeExecutor(behaviors={"split": TaskBehavior(
        outputs={"words.txt": b"w\n", "parts": parts})})
    assert WorkflowService(api.store, executor_factory=lambda: fake).wait(
        run_id, timeout=30)["state"] == "success"
    h = api.h("reader")
    top = api.client.simulate_get(f"/api/runs/{run_id}/files", headers=h).json
    assert [(f["task"], f["path"], f["kind"]) for f in top] == [
        ("split", "words.txt", "file"), ("split", "parts", "dir"), ("count", "count.txt", "file")]
    tree = top[1]["hash"]
    every = api.client.simulate_get(f"/api/runs/{run_id}/files", params={"recursive": "true"},
                                    headers=h).json
    inside = [(f["path"], f["size"], f["tree"]) for f in every if "tree" in f]
    assert inside == [("parts/a.txt", 1, tree), ("parts/sub/b.txt", 2, tree)]
    assert [f for f in every if "tree" not in f] == top
    bad = api.client.simulate_get(f"/api/runs/{run_id}/files", params={"recursive": "maybe"},
                                  headers=h)
    assert bad.status_code == 400


def test_unknown_run_and_task_are_404(api):
    ghost = "01900000-0000-7000-8000-000000000000"
    for suffix in ("", "/tasks", "/tasks/split", "/files", "/lineage", "/audit"):
        r = api.client.simulate_get(f"/api/runs/{ghost}{suffix}", headers=api.h())
        assert r.status_code == 404, suffix
    before = snapshot(api.store)
    assert api.client.simulate_post(f"/api/runs/{ghost}/kill",
                                    headers=api.h()).status_code == 404
    assert snapshot(api.store) == before
    run_id = _trigger(api)
    r = api.client.simulate_get(f"/api/runs/{run_id}/tasks/nosuch", headers=api.h())
    assert r.status_code == 404 and "nosuch" in r.json["description"]


@pytest.mark.parametrize("bad", ["not-a-uuid", "..", "..%2F..%2Fetc%2Fpasswd", "%00",
                                 "01900000-0000-7000-8000-00000000000G"])
def test_bad_run_ids_never_reach_the_store(api, bad):
    for suffix in ("", "/tasks", "/audit"):
        r = api.client.simulate_get(f"/api/runs/{bad}{suffix}", headers=api.h())
        assert r.status_code in (400, 404)
    before = snapshot(api.store)
    assert api.client.simulate_post(f"/api/runs/{bad}/kill",
                                    headers=api.h()).status_code in (400, 404)
    assert snapshot(api.store) == before


def test_bad_task_names_are_400(api):
    run_id = _trigger(api)
    for bad in ("..", ".x", "a..b"):
        r = api.client.simulate_get(f"/api/runs/{run_id}/tasks/{bad}", headers=api.h())
        assert r.status_code == 400
