"""Schedules and data triggers with real processes: `wfobj serve` (gunicorn, engine
worker processes, each with its ticker) and `wfobj worker` processes on one LMDB store,
real Docker running the runs they start."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.support_e2e import ROOT, Server, start_server, wait_terminal, wfobj_argv
from wfobj.engine.clock import Clock
from wfobj.engine.service import WorkflowService
from wfobj.objstore import init_store

pytestmark = [pytest.mark.slow, pytest.mark.docker]
IMAGE = "wfobj/toolbox:local"
QUICK = {"params": {"n": {"type": "int", "default": 0}},
         "tasks": {"a": {"image": IMAGE, "command": ["true"]}}}
READS = {"params": {"reads": {"type": "file"}},
         "tasks": {"wc": {"image": IMAGE, "command": ["sh", "-c", "wc -c < /in/r"],
                          "inputs": {"r": {"param": "reads"}}}}}


class Earlier(Clock):
    """The wall clock, `minutes` ago: a schedule made with it has slots already missed."""

    def __init__(self, minutes: int) -> None:
        self.delta = timedelta(minutes=minutes)

    def now(self) -> datetime:
        return datetime.now(UTC) - self.delta


def runs(server: Server) -> list[dict]:
    page = requests.get(f"{server.url}/api/runs", params={"limit": 1000},
                        headers=server.h("reader"), timeout=10).json()
    return page["runs"]


def scheduled_runs(server: Server) -> list[dict]:
    return [r for r in runs(server) if r["triggered_by"] == "schedule:tenmin"]


def wait_for(predicate, timeout: float, what: str, server: Server):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}\n{server.log()}")


def test_workers_of_serve_and_of_worker_race_for_missed_slots_and_start_each_once(
        docker_client, tmp_path):
    """Ten slots of a `catchup: all` schedule passed before anything ticked; the two engine
    worker processes of `wfobj serve` and the two of `wfobj worker --workers 2` all tick
    at once."""
    store = init_store(tmp_path / "store")
    svc = WorkflowService(store, clock=Earlier(10))
    svc.apply_workflow("quick", QUICK, user="alice")
    svc.add_schedule("tenmin", cron="* * * * *", workflow="quick", catchup="all",
                     parameters={"n": 3}, user="admin")
    store.close()
    extra = subprocess.Popen(wfobj_argv("--store", str(tmp_path / "store"), "worker",
                                        "--workers", "2"), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    server = start_server(tmp_path, engine_workers=2)
    try:
        wait_for(lambda: len(scheduled_runs(server)) >= 10, 60, "ten scheduled runs", server)
        time.sleep(3)  # a second run of any slot would show up by now
        scheduled = scheduled_runs(server)
        slots = [r["trigger"]["slot"] for r in scheduled]
        assert len(scheduled) >= 10 and len(slots) == len(set(slots)), slots
        first = datetime.fromisoformat(min(slots))
        assert datetime.now(UTC) - first > timedelta(minutes=9)
        assert all(r["parameters"] == {"n": 3} for r in scheduled)
        for run in scheduled[:3]:
            assert wait_terminal(server, run["run_id"])["state"] == "success"
    finally:
        extra.terminate()
        extra.wait(30)
        assert server.stop() == 0, server.log()


def test_schedules_through_the_api_start_runs_on_their_slots(docker_client, tmp_path):
    server = start_server(tmp_path, engine_workers=1)
    try:
        put = requests.put(f"{server.url}/api/workflows/quick", json=QUICK,
                           headers=server.h(), timeout=10)
        assert put.status_code == 201, put.text
        url = f"{server.url}/api/schedules/minutely"
        body = {"cron": "* * * * *", "workflow": "quick", "timezone": "Asia/Kolkata"}
        assert requests.put(url, json=body, headers=server.h(), timeout=10).status_code == 403
        made = requests.put(url, json=body, headers=server.h("admin"), timeout=10)
        assert made.status_code == 201, made.text
        first = made.json()["next_slots"][0]
        bad = requests.put(url, json={**body, "cron": "61 * * * *"},
                           headers=server.h("admin"), timeout=10)
        assert bad.status_code == 400 and "cron" in bad.json()["description"]
        bad = requests.put(url, json={**body, "timezone": "Nowhere/Land"},
                           headers=server.h("admin"), timeout=10)
        assert bad.status_code == 400 and "timezone" in bad.json()["description"]
        listed = requests.get(f"{server.url}/api/schedules", headers=server.h("admin"),
                              timeout=10).json()
        assert [s["name"] for s in listed] == ["minutely"] and len(listed[0]["next_slots"]) == 5
        run = wait_for(lambda: next((r for r in runs(server)
                                     if r["triggered_by"] == "schedule:minutely"), None),
                       75, "the first slot's run", server)
        assert run["trigger"]["slot"] == first
        assert wait_terminal(server, run["run_id"])["state"] == "success"
        paused = requests.post(url + "/pause", headers=server.h("admin"), timeout=10).json()
        assert paused["paused"] and paused["next_slots"] == []
        shown = requests.get(url, headers=server.h("admin"), timeout=10).json()
        assert [h["change"] for h in shown["history"]] == ["paused", "created"]
        assert shown["last"]["run_id"] == run["run_id"]
        gone = requests.delete(url, headers=server.h("admin"), timeout=10)
        assert gone.status_code == 200 and gone.json()["removed"]
        assert requests.get(url, headers=server.h("admin"), timeout=10).status_code == 404
    finally:
        assert server.stop() == 0, server.log()


def upload(server: Server, text: str) -> str:
    resp = requests.post(f"{server.url}/api/objects", data=text.encode(), headers=server.h(),
                         timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()["hash"]


def tag(server: Server, oid: str) -> None:
    resp = requests.put(f"{server.url}/api/data/reads", json={"hash": oid}, headers=server.h(),
                        timeout=10)
    assert resp.status_code == 200, resp.text


def settled(server: Server, oid: str) -> None:
    """Wait until a ticker has seen the ref at `oid`."""
    def seen():
        subs = requests.get(f"{server.url}/api/triggers", headers=server.h("reader"),
                            timeout=10).json()
        return subs and subs[0]["seen"] == oid
    wait_for(seen, 30, f"the trigger to see {oid}", server)


def triggered(server: Server) -> list[str]:
    return sorted(r["trigger"]["hash"] for r in runs(server)
                  if r["triggered_by"] == "data:data/reads")


def test_data_triggers_run_once_per_content_across_moves_and_a_restart(docker_client, tmp_path):
    server = start_server(tmp_path, engine_workers=2)
    try:
        requests.put(f"{server.url}/api/workflows/reads", json=READS, headers=server.h(),
                     timeout=10).raise_for_status()
        sub = {"ref": "data/reads", "workflow": "reads", "param": "reads"}
        refused = requests.post(f"{server.url}/api/triggers", headers=server.h("admin"),
                                json={**sub, "ref": "workflows/reads"}, timeout=10)
        assert refused.status_code == 400 and "not a data ref" in refused.json()["description"]
        made = requests.post(f"{server.url}/api/triggers", json=sub, headers=server.h("admin"),
                             timeout=10)
        assert made.status_code == 201, made.text
        a, b, c = upload(server, "aaa"), upload(server, "bb"), upload(server, "c")
        for oid in (a, b, a, b):
            tag(server, oid)
            settled(server, oid)
        assert triggered(server) == sorted([a, b])
        assert server.stop() == 0, server.log()
        server = start_server(tmp_path, engine_workers=1)
        for oid in (a, c, b, c):
            tag(server, oid)
            settled(server, oid)
        assert triggered(server) == sorted([a, b, c])
        run = next(r for r in runs(server) if r.get("trigger", {}).get("hash") == c)
        assert run["parameters"] == {"reads": c}
        assert run["trigger"] == {"kind": "data", "ref": "data/reads", "hash": c,
                                  "param": "reads", "content": "file"}
        assert wait_terminal(server, run["run_id"])["state"] == "success"
    finally:
        assert server.stop() == 0, server.log()
