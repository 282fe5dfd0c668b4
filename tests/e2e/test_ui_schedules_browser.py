"""The runs list's "Started by" and the schedules page in a real browser: headless
Chromium (selenium) against `wfobj serve` on a store holding a run triggered by a user,
one started by a schedule's slot and one by a data-ref move (made with the engine's
keepers on the store first; the server runs no engine worker, so no Docker)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.support_browser import A11Y_AUDIT
from tests.support_e2e import start_server
from wfobj.engine.clock import Clock
from wfobj.engine.scheduling.data_triggers import TriggerKeeper
from wfobj.engine.scheduling.schedules import SlotKeeper
from wfobj.engine.service import WorkflowService
from wfobj.objstore import init_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT = 60
WF = {"params": {"f": {"type": "file"}},
      "tasks": {"a": {"image": "wfobj/toolbox:local", "command": ["true"]}}}


class Later(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(minutes=61)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-ui-schedules")
    store = init_store(tmp / "store")
    try:
        svc = WorkflowService(store)
        svc.apply_workflow("wf", WF, user="alice")
        f = svc.put_file(io.BytesIO(b"f"))["hash"]
        g = svc.put_file(io.BytesIO(b"g"))["hash"]
        by_user = svc.trigger(name="wf", parameters={"f": f}, user="alice")["run_id"]
        svc.add_schedule("hourly", cron="0 * * * *", workflow="wf", parameters={"f": f},
                         timezone="Europe/Paris", catchup="latest", user="admin")
        [by_slot] = SlotKeeper(store, Later()).tick()
        svc.add_trigger("data/in", workflow="wf", param="f", user="admin")
        svc.tag_data("data/in", g)
        [by_data] = TriggerKeeper(store, svc.clock).tick()
    finally:
        store.close()
    srv = start_server(tmp, engine_workers=0)
    srv.runs = {"user": by_user, "schedule": by_slot, "data": by_data}
    srv.data_hash = g
    yield srv
    assert srv.stop() == 0, srv.log()


@pytest.fixture
def driver(browser, server):
    d = browser.driver
    d.set_window_size(1280, 900)
    d.get(server.url + "/ui/login")
    d.delete_all_cookies()
    d.get(server.url + "/ui/login")
    field = d.find_element(By.ID, "token")
    field.send_keys(server.tokens["reader"])
    field.send_keys(Keys.ENTER)
    WebDriverWait(d, WAIT).until(lambda x: "/ui/login" not in x.current_url)
    return d


def cell(driver, run_id: str):
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{run_id}"] .started-by')


def test_runs_list_says_how_each_run_started_and_links_it(driver, server):
    driver.get(server.url + "/ui/runs")
    header = driver.find_elements(By.CSS_SELECTOR, "table.runs thead th")[-1]
    assert header.text == "Started by"
    shown = {kind: (cell(driver, run_id).get_attribute("data-started-by"),
                    cell(driver, run_id).text) for kind, run_id in server.runs.items()}
    assert shown == {"user": ("user", "alice"), "schedule": ("schedule", "schedule:hourly"),
                     "data": ("data", "data:data/in")}
    cell(driver, server.runs["data"]).click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith(server.data_hash))
    driver.back()
    cell(driver, server.runs["schedule"]).click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("#schedule-hourly"))
    row = driver.find_element(By.ID, "schedule-hourly")
    assert "Europe/Paris" in row.text and "0 * * * *" in row.text
    assert len(row.find_elements(By.CSS_SELECTOR, "ol.slots li")) == 5
    assert row.find_element(By.CSS_SELECTOR, f'a[href="/ui/runs/{server.runs["schedule"]}"]')
    trigger = driver.find_element(By.CSS_SELECTOR, 'tr[data-trigger="data/in"]')
    assert trigger.find_element(By.CSS_SELECTOR, f'a[href="/ui/runs/{server.runs["data"]}"]')


def test_schedule_pages_pass_the_accessibility_audit_and_fit_a_narrow_window(driver, server):
    for path in ("/ui/runs", "/ui/schedules", f"/ui/runs/{server.runs['schedule']}"):
        driver.get(server.url + path)
        assert driver.execute_script(A11Y_AUDIT) == [], path
    driver.set_window_size(400, 900)
    driver.get(server.url + "/ui/schedules")
    wide = driver.execute_script("return [document.body.scrollWidth,"
                                 " document.documentElement.scrollWidth, window.innerWidth]")
    assert max(wide[:2]) <= wide[2], wide
