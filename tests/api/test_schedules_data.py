"""The schedule, data-ref and data-trigger routes through Falcon's test client: roles,
bodies, and bad input answered 4xx with the JSON error shape, nothing written."""

from __future__ import annotations

import pytest

from tests.support_api import make_api, snapshot
from tests.support_engine import task

WF = {"params": {"f": {"type": "file"}, "n": {"type": "int", "default": 1}},
      "tasks": {"a": task()}}


@pytest.fixture
def api(lmdb_store):
    api = make_api(lmdb_store)
    api.service.apply_workflow("wf", WF, user="alice")
    return api


def blob(api, data: bytes) -> str:
    resp = api.client.simulate_post("/api/objects", body=data, headers=api.h())
    return resp.json["hash"]


def test_schedules_are_admin_only_and_round_trip(api):
    f = blob(api, b"x")
    body = {"cron": "15 4 * * *", "workflow": "wf", "parameters": {"f": f},
            "timezone": "America/New_York", "catchup": "all", "pin": True}
    for role in ("reader", "runner"):
        assert api.client.simulate_put("/api/schedules/s", json=body,
                                       headers=api.h(role)).status_code == 403
        assert api.client.simulate_get("/api/schedules", headers=api.h(role)).status_code == 403
    made = api.client.simulate_put("/api/schedules/s", json=body, headers=api.h("admin"))
    assert made.status_code == 201, made.text
    assert made.json["pinned"] == api.service.get_workflow("wf")["definition_hash"]
    assert made.json["next_slots"][0].endswith(("T08:15:00.000000Z", "T09:15:00.000000Z"))
    changed = api.client.simulate_put("/api/schedules/s", json={**body, "catchup": "none"},
                                      headers=api.h("admin"))
    assert changed.status_code == 200 and changed.json["version"] == 2
    shown = api.client.simulate_get("/api/schedules/s", headers=api.h("admin")).json
    assert shown["history"][0]["old"]["catchup"] == "all"
    assert shown["history"][0]["changed_by"] == "admin-user"
    paused = api.client.simulate_post("/api/schedules/s/pause", headers=api.h("admin"))
    assert paused.json["paused"] is True
    resumed = api.client.simulate_post("/api/schedules/s/resume", headers=api.h("admin"))
    assert resumed.json["paused"] is False
    assert api.client.simulate_delete("/api/schedules/s",
                                      headers=api.h("admin")).json["removed"]
    assert api.client.simulate_get("/api/schedules/s", headers=api.h("admin")).status_code == 404


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"cron": "0 25 * * *", "workflow": "wf"}, 400, "invalid cron"),
    ({"cron": "0 * * * *", "workflow": "wf", "timezone": "Europe/Atlantis"}, 400,
     "invalid timezone"),
    ({"cron": "0 * * * *", "workflow": "wf", "catchup": "most"}, 400, "invalid catchup"),
    ({"cron": "0 * * * *", "workflow": "nope"}, 404, "unknown workflow"),
    ({"cron": "0 * * * *", "workflow": "wf", "parameters": {"n": "x"}}, 400, "parameter"),
    ({"cron": "0 * * * *"}, 400, "missing keys: workflow"),
    ({"cron": "0 * * * *", "workflow": "wf", "every": 5}, 400, "unknown keys: every"),
    ({"cron": 5, "workflow": "wf"}, 400, '"cron" must be'),
    ({"cron": "0 * * * *", "workflow": "wf", "pin": 1}, 400, '"pin" must be'),
])
def test_bad_schedules_are_refused_naming_the_problem(api, body, status, says):
    before = snapshot(api.store)
    resp = api.client.simulate_put("/api/schedules/s", json={"parameters": {"f": "a" * 64},
                                                             **body}, headers=api.h("admin"))
    assert resp.status_code == status, resp.text
    assert says in resp.json["description"] and set(resp.json) == {"title", "description"}
    assert snapshot(api.store) == before


def test_data_refs_move_by_cas_for_runners(api):
    a, b = blob(api, b"a"), blob(api, b"b")
    url = "/api/data/reads"
    assert api.client.simulate_put(url, json={"hash": a},
                                   headers=api.h("reader")).status_code == 403
    moved = api.client.simulate_put(url, json={"hash": a[:10], "new_only": True},
                                    headers=api.h())
    assert moved.status_code == 200 and moved.json == {"ref": "data/reads", "hash": a,
                                                       "kind": "file", "previous": None}
    stale = api.client.simulate_put(url, json={"hash": b, "old": b}, headers=api.h())
    assert stale.status_code == 409
    assert api.client.simulate_put(url, json={"hash": b, "old": a},
                                   headers=api.h()).json["previous"] == a
    assert api.client.simulate_get(url, headers=api.h("reader")).json["hash"] == b
    assert api.client.simulate_get("/api/data", headers=api.h("reader")).json == [
        {"ref": "data/reads", "hash": b, "kind": "file"}]
    definition = api.service.get_workflow("wf")["definition_hash"]
    wrong = api.client.simulate_put(url, json={"hash": definition}, headers=api.h())
    assert wrong.status_code == 400 and "blob" in wrong.json["description"]
    assert api.client.simulate_get("/api/data/none", headers=api.h()).status_code == 404
    assert api.client.simulate_get("/api/data/..x", headers=api.h()).status_code == 400


def test_triggers_need_admin_and_a_data_ref(api):
    sub = {"ref": "data/reads", "workflow": "wf", "param": "f"}
    assert api.client.simulate_post("/api/triggers", json=sub,
                                    headers=api.h()).status_code == 403
    outside = api.client.simulate_post("/api/triggers", json={**sub, "ref": "runs/x"},
                                       headers=api.h("admin"))
    assert outside.status_code == 400 and "not a data ref" in outside.json["description"]
    wrong_type = api.client.simulate_post("/api/triggers", json={**sub, "param": "n"},
                                          headers=api.h("admin"))
    assert wrong_type.status_code == 400 and "of type int" in wrong_type.json["description"]
    bad = api.client.simulate_post("/api/triggers", json={**sub, "parameters": {"n": "x"}},
                                   headers=api.h("admin"))
    assert bad.status_code == 400 and "parameter 'n'" in bad.json["description"]
    made = api.client.simulate_post("/api/triggers", json={**sub, "parameters": {"n": 5}},
                                    headers=api.h("admin"))
    assert made.status_code == 201 and made.json["created"] is True
    assert made.json["parameters"] == {"n": 5}
    again = api.client.simulate_post("/api/triggers", json=sub, headers=api.h("admin"))
    assert again.status_code == 200 and again.json["created"] is False
    assert len(api.client.simulate_get("/api/triggers", headers=api.h("reader")).json) == 1
    gone = api.client.simulate_delete("/api/triggers", params=sub, headers=api.h("admin"))
    assert gone.status_code == 200 and gone.json["removed"]
    assert api.client.simulate_delete("/api/triggers", params=sub,
                                      headers=api.h("admin")).status_code == 404
    assert api.client.simulate_delete("/api/triggers", params={"ref": "data/reads"},
                                      headers=api.h("admin")).status_code == 400
