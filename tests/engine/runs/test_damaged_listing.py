"""One run whose definition is damaged on disk never fails a listing: the service, `GET
/api/runs`, the UI's runs page and `wfobj run list` show it with its damage marked."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.support_api import make_api
from tests.support_damage import flip_byte_on_disk
from tests.support_engine import service, task, trigger
from tests.support_ui import make_ui
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.objstore import LmdbObjectStore


@pytest.fixture
def damaged(tmp_path):
    """(store path, healthy run id, damaged run id): two runs, the second's definition
    object with one byte flipped in data.mdb."""
    store = LmdbObjectStore(tmp_path / "store", create=True)
    svc = service(store)
    healthy = trigger(svc, {"tasks": {"a": task("echo healthy")}}, "healthy")
    broken = trigger(svc, {"tasks": {"b": task("echo broken-definition-" + "y" * 40)}},
                     "broken")
    body = store.record(svc.get_run(broken)["definition_hash"]).body
    store.close()
    flip_byte_on_disk(store.path, body)
    return tmp_path / "store", healthy, broken


def check_listing(runs: list[dict], healthy: str, broken: str) -> None:
    by_id = {run["run_id"]: run for run in runs}
    assert set(by_id) == {healthy, broken}
    assert "damaged" not in by_id[healthy]
    assert by_id[broken]["state"] == "pending" and by_id[broken]["workflow"] == "broken"
    assert "checksum mismatch" in by_id[broken]["damaged"]


def test_service_lists_a_run_with_a_damaged_definition(damaged):
    path, healthy, broken = damaged
    svc = service(LmdbObjectStore(path))
    check_listing(svc.list_runs()["runs"], healthy, broken)
    check_listing(svc.list_runs(state="pending")["runs"], healthy, broken)


def test_api_and_ui_list_a_run_with_a_damaged_definition(damaged):
    path, healthy, broken = damaged
    api = make_api(LmdbObjectStore(path))
    resp = api.client.simulate_get("/api/runs", headers=api.h("reader"))
    assert resp.status_code == 200, resp.text
    check_listing(resp.json["runs"], healthy, broken)
    ui = make_ui(LmdbObjectStore(path))
    page = ui.get("/ui/runs", ui.login())
    assert page.status_code == 200
    assert broken in page.text and "damaged" in page.text


def test_cli_lists_a_run_with_a_damaged_definition(damaged):
    path, healthy, broken = damaged
    result = CliRunner().invoke(cli, ["--store", str(path), "--json", "run", "list"],
                                obj=CliContext())
    assert result.exit_code == 0, result.output
    check_listing(json.loads(result.output)["runs"], healthy, broken)
    text = CliRunner().invoke(cli, ["--store", str(path), "run", "list"], obj=CliContext())
    assert text.exit_code == 0, text.output
    assert "damaged" in text.output
