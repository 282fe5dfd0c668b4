"""The web UI of a fan-out run and of a sub-workflow run in a real browser: headless Chromium (selenium) against
`wfobj serve` on a store holding runs made with the fake executor (no Docker; the server
runs no engine worker). The fanned-out task is one node counting its instances, opening
onto its instances page by page down to one instance; a skip by a condition and a skip
after a failure look different as the browser paints them; a child run is reached from its
parent task's node and leads back; the pages pass the accessibility audit."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.support_browser import A11Y_AUDIT
from tests.support_e2e import start_server
from tests.support_engine import run_with, task, trigger
from tests.support_ui import cohort
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.service import WorkflowService
from wfobj.objstore import init_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT = 60
SAMPLES = 230  # two pages of instances
CHILD = {"tasks": {"count": task("count", outputs={"vars": ["total"]})}}
PARENT = {"tasks": {"prep": task(),
                    "sub": {"workflow": {"name": "child"}, "after": ["prep"],
                            "outputs": {"vars": ["count.total"]}}}}
FAILING = (3, 201)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A store with the cohort run ended (its instances 3 and 201 failed), served."""
    tmp = tmp_path_factory.mktemp("e2e-ui-fanout")
    store = init_store(tmp / "store")
    try:
        svc = WorkflowService(store)
        run_id = trigger(svc, cohort(SAMPLES), "cohort",
                         samples=[f"s{i}" for i in range(SAMPLES)])
        state, _ = run_with(store, run_id, {f"align[{i}]": TaskBehavior(exit_code=1)
                                            for i in FAILING})
        assert state == "failed"
        svc.apply_workflow("child", CHILD, user="alice")
        parent_id = trigger(svc, PARENT, "parent")
        assert run_with(store, parent_id)[0] == "success"
        child_id = svc.run_task(parent_id, "sub")["child"]["run_id"]
    finally:
        store.close()
    srv = start_server(tmp, engine_workers=0)
    srv.run_id, srv.parent_id, srv.child_id = run_id, parent_id, child_id
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


def node(driver, task: str):
    return driver.find_element(By.CSS_SELECTOR, f'svg.dag g.node[data-task="{task}"]')


def painted(driver, element) -> tuple[str, str, str]:
    """The fill, stroke and dash pattern the browser paints a node's box with."""
    return tuple(driver.execute_script(
        "const s = getComputedStyle(arguments[0].querySelector('a rect'));"
        "return [s.fill, s.stroke, s.strokeDasharray];", element))


def test_the_fanned_out_node_opens_onto_its_instances_and_one_instance(driver, server):
    run_id = server.run_id
    driver.get(f"{server.url}/ui/runs/{run_id}")
    nodes = driver.find_elements(By.CSS_SELECTOR, "svg.dag g.node")
    assert {n.get_attribute("data-task") for n in nodes} == {"align", "merge", "deep", "qc"}
    align = node(driver, "align")
    assert align.get_attribute("data-instances") == str(SAMPLES)
    assert align.find_element(By.CSS_SELECTOR, "text.name").text == f"align ×{SAMPLES}"
    assert align.find_element(By.CSS_SELECTOR, "text.state-text").text == \
        f"{SAMPLES - 2} ✓ 2 ✗"
    assert len(align.find_elements(By.CSS_SELECTOR, "rect")) == 2  # a stack of boxes
    align.find_element(By.CSS_SELECTOR, "a").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith(f"/{run_id}/tasks/align"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Task align, fanned out"
    rows = driver.find_elements(By.CSS_SELECTOR, "table.instances tbody tr")
    assert len(rows) == 200 and rows[0].get_attribute("data-task") == "align[0]"
    assert "Page 1 of 2" in driver.find_element(By.CSS_SELECTOR, "nav.pager").text
    driver.find_element(By.CSS_SELECTOR, '#fanout-state a[data-state="failed"]').click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("?state=failed"))
    assert [r.get_attribute("data-task") for r in driver.find_elements(
        By.CSS_SELECTOR, "table.instances tbody tr")] == [f"align[{i}]" for i in FAILING]
    driver.back()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("/tasks/align"))
    driver.find_element(By.CSS_SELECTOR, 'a[rel="next"]').click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("?page=2"))
    rows = driver.find_elements(By.CSS_SELECTOR, "table.instances tbody tr")
    assert len(rows) == SAMPLES - 200
    failed = [r.get_attribute("data-task") for r in rows if r.get_attribute("data-state") == "failed"]
    assert failed == ["align[201]"]
    driver.find_element(By.CSS_SELECTOR, 'tr[data-task="align[201]"] th a').click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("/tasks/align%5B201%5D"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Task align[201], attempt 1"
    assert "failed" in driver.find_element(By.CSS_SELECTOR, "#attempt-state").text
    driver.find_element(By.LINK_TEXT, "align").click()  # the trail leads back
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("/tasks/align"))


def test_skips_by_a_condition_and_after_a_failure_are_painted_apart(driver, server):
    driver.get(f"{server.url}/ui/runs/{server.run_id}")
    deep, merge = node(driver, "deep"), node(driver, "merge")
    assert (deep.get_attribute("data-skip"), merge.get_attribute("data-skip")) == (
        "condition", "failure")
    assert deep.find_element(By.CSS_SELECTOR, "text.state-text").text == "– skipped: condition"
    assert merge.find_element(By.CSS_SELECTOR, "text.state-text").text == "– skipped: failure"
    by_condition, by_failure = painted(driver, deep), painted(driver, merge)
    assert all(a != b for a, b in zip(by_condition, by_failure, strict=True)), (
        by_condition, by_failure)


def test_a_child_run_is_reached_from_its_parent_task_and_leads_back(driver, server):
    parent = server.parent_id
    driver.get(f"{server.url}/ui/runs/{parent}")
    sub = node(driver, "sub")
    child = sub.get_attribute("data-child")
    assert sub.get_attribute("data-workflow") == "child" and child
    assert "runs workflow child" in sub.find_element(By.CSS_SELECTOR, "a").get_attribute(
        "aria-label")
    driver.find_element(By.CSS_SELECTOR, 'tr[data-task="sub"] a.child').click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith(f"/ui/runs/{child}"))
    assert "child run of task sub" in driver.find_element(By.CSS_SELECTOR, "#run-state").text
    driver.find_element(By.CSS_SELECTOR, "#run-state a[data-parent-task]").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith(f"/{parent}/tasks/sub"))
    driver.find_element(By.CSS_SELECTOR, f'#main dd a[href="/ui/runs/{child}"]').click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith(f"/ui/runs/{child}"))


def test_fan_out_pages_pass_the_accessibility_audit(driver, server):
    run_id = server.run_id
    for path in (f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/tasks/align",
                 f"/ui/runs/{run_id}/tasks/align?page=2", f"/ui/runs/{run_id}/tasks/deep",
                 f"/ui/runs/{run_id}/tasks/align?state=failed",
                 f"/ui/runs/{run_id}/tasks/align%5B3%5D", f"/ui/runs/{server.parent_id}",
                 f"/ui/runs/{server.parent_id}/tasks/sub", f"/ui/runs/{server.child_id}"):
        driver.get(server.url + path)
        assert driver.execute_script(A11Y_AUDIT) == [], path


def test_a_narrow_window_has_no_sideways_scrolling_on_fan_out_pages(driver, server):
    driver.set_window_size(400, 900)
    for path in (f"/ui/runs/{server.run_id}", f"/ui/runs/{server.run_id}/tasks/align"):
        driver.get(server.url + path)
        wide = driver.execute_script(
            "return [document.body.scrollWidth, document.documentElement.scrollWidth,"
            " window.innerWidth]")
        assert max(wide[:2]) <= wide[2], (path, wide)
