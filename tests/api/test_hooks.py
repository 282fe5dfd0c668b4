"""/api/hooks (admin only) with Falcon's test client on a real LMDB store and its real
secret store; and the `wfobj hook` commands on a local store."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.support_api import make_api
from tests.support_engine import chain, run_with, trigger
from wfobj.cli.main import cli
from wfobj.engine.access.secrets import SecretStore
from wfobj.engine.layout import OUTBOX_NS
from wfobj.objstore import init_store, open_store

URL = "https://ci.example.org/wfobj"


@pytest.fixture
def api(lmdb_store):
    SecretStore(lmdb_store.path).set("hooksig", b"shared-secret", "admin-user")
    return make_api(lmdb_store)


def add(api, body: dict, role: str = "admin"):
    return api.client.simulate_post("/api/hooks", json=body, headers=api.h(role))


def test_only_admins_touch_hooks(api):
    for role in ("reader", "runner"):
        assert add(api, {"url": URL, "events": ["run.failed"]}, role).status_code == 403
        assert api.client.simulate_get("/api/hooks", headers=api.h(role)).status_code == 403
        assert api.client.simulate_get("/api/hooks/deliveries",
                                       headers=api.h(role)).status_code == 403
        assert api.client.simulate_delete("/api/hooks/x", headers=api.h(role)).status_code == 403
    assert api.client.simulate_get("/api/hooks").status_code == 401


def test_add_list_remove(api):
    made = add(api, {"url": URL, "events": ["run.failed", "run.created"],
                     "secret_name": "hooksig"})
    assert made.status_code == 201, made.text
    hook = made.json
    assert hook["events"] == ["run.created", "run.failed"] and hook["created_by"] == "admin-user"
    assert api.client.simulate_get("/api/hooks", headers=api.h("admin")).json == [hook]
    gone = api.client.simulate_delete(f"/api/hooks/{hook['id']}", headers=api.h("admin"))
    assert gone.status_code == 200 and gone.json == hook
    again = api.client.simulate_delete(f"/api/hooks/{hook['id']}", headers=api.h("admin"))
    assert again.status_code == 404 and hook["id"] in again.json["description"]
    log = api.client.simulate_get("/api/hooks/changes", headers=api.h("admin")).json
    assert [(c["hook"], c["user"], c["old"], c["new"]) for c in log] == [
        (hook["id"], "admin-user", None, hook), (hook["id"], "admin-user", hook, None)]
    assert api.client.simulate_get("/api/hooks/changes",
                                   headers=api.h("runner")).status_code == 403


@pytest.mark.parametrize("body, named", [
    ({"url": "ftp://ci.example.org/x", "events": ["run.failed"]}, "ftp://ci.example.org/x"),
    ({"url": "ci.example.org/x", "events": ["run.failed"]}, "ci.example.org/x"),
    ({"url": URL, "events": ["run.failed", "run.finished"]}, "run.finished"),
    ({"url": URL, "events": []}, "events"),
    ({"url": URL, "events": ["run.failed"], "secret_name": "nope"}, "nope"),
    ({"url": URL, "events": ["run.failed"], "colour": "red"}, "colour"),
    ({"url": URL, "events": "run.failed", "secret_name": 3}, "secret_name"),
    ({"events": ["run.failed"]}, "url"),
])
def test_bad_hooks_are_400_naming_the_problem(api, body, named):
    resp = add(api, body)
    assert resp.status_code == 400, resp.text
    assert named in resp.json["description"]
    assert api.client.simulate_get("/api/hooks", headers=api.h("admin")).json == []


def test_deliveries_by_run_and_hook(api):
    hook = add(api, {"url": URL, "events": "run.created,run.succeeded"}).json
    run_id = trigger(api.service, chain("a"))
    run_with(api.store, run_id)
    other = trigger(api.service, chain("a"), name="other")
    rows = api.client.simulate_get("/api/hooks/deliveries", params={"run": run_id},
                                   headers=api.h("admin")).json
    assert [(r["type"], r["state"], r["tries"]) for r in rows] == [
        ("org.wfobj.run.succeeded", "pending", 0), ("org.wfobj.run.created", "pending", 0)]
    every = api.client.simulate_get("/api/hooks/deliveries", params={"hook": hook["id"]},
                                    headers=api.h("admin")).json
    assert [r["run_id"] for r in every] == [other, run_id, run_id]
    assert api.client.simulate_get("/api/hooks/deliveries", params={"limit": 1},
                                   headers=api.h("admin")).json[0]["run_id"] == other
    for params in ({"run": "nope"}, {"limit": 0}):
        assert api.client.simulate_get("/api/hooks/deliveries", params=params,
                                       headers=api.h("admin")).status_code == 400
    assert api.client.simulate_get("/api/hooks/deliveries", params={"hook": "missing"},
                                   headers=api.h("admin")).status_code == 404


def test_hook_commands_on_a_local_store(tmp_path):
    path = tmp_path / "store"
    init_store(path).close()
    SecretStore(path).set("hooksig", b"k", "me")
    runner = CliRunner()

    def wfobj(*args: str):
        return runner.invoke(cli, ["--store", str(path), *args], catch_exceptions=False)

    bad = wfobj("hook", "add", "gopher://x", "--events", "run.failed")
    assert bad.exit_code == 1 and "gopher://x" in bad.output
    bad = wfobj("hook", "add", URL, "--events", "run.failed", "--secret-name", "missing")
    assert bad.exit_code == 1 and "missing" in bad.output
    made = wfobj("--json", "hook", "add", URL, "--events", "run.failed,task.failed",
                 "--secret-name", "hooksig")
    assert made.exit_code == 0, made.output
    hook = json.loads(made.output)
    listed = wfobj("hook", "list")
    assert hook["id"] in listed.output and "hooksig" in listed.output
    assert wfobj("hook", "deliveries").exit_code == 0
    assert wfobj("hook", "deliveries", "--hook", "nope").exit_code == 1
    removed = wfobj("hook", "rm", hook["id"])
    assert removed.exit_code == 0 and hook["id"] in removed.output
    log = wfobj("hook", "changes")
    assert log.exit_code == 0 and "added" in log.output and "removed" in log.output
    store = open_store(path)
    try:
        assert list(store.meta_scan(OUTBOX_NS)) == []
    finally:
        store.close()
