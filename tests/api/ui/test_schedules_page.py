"""The UI's schedules page and the runs list's "Started by" column, through Falcon's test
client on an LMDB store, runs started by a user, a schedule slot and a data-ref move."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.support_engine import task
from tests.support_ui import make_ui
from wfobj.engine.clock import Clock
from wfobj.engine.scheduling.data_triggers import TriggerKeeper
from wfobj.engine.scheduling.schedules import SlotKeeper


class Later(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(minutes=61)


@pytest.fixture
def ui(lmdb_store):
    ui = make_ui(lmdb_store)
    ui.service.apply_workflow("wf", {"params": {"f": {"type": "file"}}, "tasks": {"a": task()}},
                              user="alice")
    return ui


def started_by(page: str) -> dict[str, tuple[str, str]]:
    """run id -> (kind, text) of its "Started by" cell."""
    rows = re.findall(r'<tr data-run="([^"]+)">(.*?)</tr>', page, re.S)
    out = {}
    for run_id, cells in rows:
        kind, text = re.search(r'data-started-by="(\w+)"[^>]*>([^<]+)<', cells).groups()
        out[run_id] = (kind, text)
    return out


def test_runs_list_says_who_or_what_started_each_run(ui):
    svc = ui.service
    f = svc.put_file(io.BytesIO(b"x"))["hash"]
    g = svc.put_file(io.BytesIO(b"y"))["hash"]
    by_user = svc.trigger(name="wf", parameters={"f": f}, user="alice")["run_id"]
    svc.add_schedule("hourly", cron="0 * * * *", workflow="wf", parameters={"f": f},
                     catchup="latest", user="admin")
    [by_slot] = SlotKeeper(ui.store, Later()).tick()
    svc.add_trigger("data/in", workflow="wf", param="f", user="admin")
    svc.tag_data("data/in", g)
    [by_data] = TriggerKeeper(ui.store, svc.clock).tick()
    session = ui.login()
    page = ui.get("/ui/runs", session).text
    assert "Started by</th>" in page
    assert started_by(page) == {by_user: ("user", "alice"), by_slot: ("schedule", "schedule:hourly"),
                                by_data: ("data", "data:data/in")}
    assert 'href="/ui/schedules#schedule-hourly"' in page
    assert f'href="/ui/files/{g}"' in page
    run_page = ui.get(f"/ui/runs/{by_slot}", session).text
    slot = svc.get_run(by_slot)["trigger"]["slot"]
    assert f'<time datetime="{slot}">' in run_page and "schedule:hourly" in run_page


def test_schedules_page_lists_schedules_next_slots_and_triggers(ui):
    svc = ui.service
    f = svc.put_file(io.BytesIO(b"x"))["hash"]
    session = ui.login()
    empty = ui.get("/ui/schedules", session).text
    assert "No schedules" in empty and "No data triggers" in empty
    svc.add_schedule("paris", cron="30 6 * * 1-5", workflow="wf", parameters={"f": f},
                     timezone="Europe/Paris", user="admin")
    svc.add_schedule("idle", cron="@daily", workflow="wf", parameters={"f": f}, user="admin")
    svc.pause_schedule("idle", user="admin")
    svc.add_trigger("data/in", workflow="wf", param="f", user="admin")
    page = ui.get("/ui/schedules", session)
    assert page.status_code == 200
    html = page.text
    assert re.findall(r'data-schedule="([^"]+)"', html) == ["idle", "paris"]
    slots = re.findall(r'<li data-slot="([^"]+)">', html)
    assert slots == svc.get_schedule("paris")["next_slots"] and len(slots) == 5
    assert all(s[11:16] in ("05:30", "04:30") for s in slots)  # 06:30 in Paris, CET or CEST
    assert "none while paused" in html
    assert 'data-trigger="data/in"' in html and "no move yet" in html
    assert 'aria-current="page">Schedules' in html


def test_schedules_page_needs_a_session(ui):
    resp = ui.get("/ui/schedules", None)
    assert resp.status_code in (303, 401)
