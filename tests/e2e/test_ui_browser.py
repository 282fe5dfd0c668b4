"""The web UI in a real browser: headless Chromium (selenium) against `wfobj serve` with real
Docker runs. Login through the form, the pages of a finished run, the cookie's flags, logout,
live refresh of a running run, keyboard use, accessibility checks and a narrow window."""

from __future__ import annotations

import time

import blake3
import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.support_browser import A11Y_AUDIT
from tests.support_e2e import ROOT, start_server, wait_terminal
from wfobj.engine.states import RUN_TERMINAL

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow]
EXAMPLE = ROOT / "examples" / "wordcount.yaml"
CORPUS = ROOT / "examples" / "corpus.txt"
IMAGE = "wfobj/toolbox:local"
GREET = {"name": "greet", "tasks": {
    "hello": {"image": IMAGE,
              "command": ["sh", "-c", "echo hello from the browser test; echo a warning >&2"]},
    "nap": {"image": IMAGE, "command": ["sh", "-c", "sleep 8"], "after": ["hello"]}}}
WAIT = 120  # seconds a WebDriverWait may poll the DOM before the test fails


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("e2e-ui"))
    yield srv
    assert srv.stop() == 0, srv.log()


def api(server, method, path, role="runner", **kw):
    resp = requests.request(method, server.url + path, headers=server.h(role, **kw.pop(
        "headers", {})), timeout=30, **kw)
    assert resp.status_code < 300, resp.text
    return resp.json()


def trigger(server, workflow, parameters=None) -> str:
    return api(server, "POST", f"/api/workflows/{workflow}/trigger",
               json={"parameters": parameters or {}})["run_id"]


def trigger_running_nap(server) -> str:
    """A greet run whose `nap` is running now (the worker has claimed the run and started
    the attempt, 8 s of sleep ahead). Triggered with the cache off: after one greet run has
    succeeded, every task of the next is a cache hit and the run ends within a fraction of
    a second, before a page opened "while it runs" has even loaded."""
    run_id = api(server, "POST", "/api/workflows/greet/trigger",
                 json={"parameters": {}, "cache": False})["run_id"]
    deadline = time.monotonic() + WAIT
    while (run := api(server, "GET", f"/api/runs/{run_id}", "reader"))["tasks"].get(
            "nap") != "running":
        assert run["state"] not in RUN_TERMINAL, run  # it ended before nap ran
        assert time.monotonic() < deadline, run
        time.sleep(0.1)
    return run_id


@pytest.fixture(scope="module")
def wordcount(server):
    """examples/wordcount.yaml run to success on examples/corpus.txt."""
    api(server, "PUT", "/api/workflows/wordcount", data=EXAMPLE.read_bytes(),
        headers={"Content-Type": "application/yaml"})
    data = CORPUS.read_bytes()
    corpus = api(server, "POST", "/api/objects", data=data,
                 headers={"X-Wfobj-Hash": blake3.blake3(data).hexdigest()})["hash"]
    run = wait_terminal(server, trigger(server, "wordcount", {"corpus": corpus}))
    assert run["state"] == "success", (run, server.log())
    files = api(server, "GET", f"/api/runs/{run['run_id']}/files", "reader")
    return {"run_id": run["run_id"], "corpus": corpus, "files": files}


@pytest.fixture(scope="module")
def greet(server):
    api(server, "PUT", "/api/workflows/greet", json=GREET)


@pytest.fixture
def driver(browser, server):
    """The session's browser on this server, signed out, at a desktop size."""
    d = browser.driver
    d.set_window_size(1280, 900)
    d.get(server.url + "/ui/login")
    d.delete_all_cookies()
    return d


def login(driver, server, role="reader", next_path=""):
    driver.get(server.url + "/ui/login" + next_path)
    field = driver.find_element(By.ID, "token")
    field.send_keys(server.tokens[role])
    field.send_keys(Keys.ENTER)
    WebDriverWait(driver, WAIT).until(lambda d: "/ui/login" not in d.current_url)


def text_of(driver, css) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def test_without_a_cookie_only_the_login_page(driver, server, wordcount):
    for path in ("/ui/runs", f"/ui/runs/{wordcount['run_id']}", "/ui/",
                 f"/ui/files/{wordcount['corpus']}"):
        driver.get(server.url + path)
        assert "/ui/login?next=" in driver.current_url, path
        assert text_of(driver, "h1") == "Sign in"
        assert not driver.find_elements(By.CSS_SELECTOR, "table, svg, nav[aria-label=Main]")


def test_login_through_the_form_lists_the_run(driver, server, wordcount):
    login(driver, server, "reader", "?next=%2Fui%2Fruns")
    assert driver.current_url == server.url + "/ui/runs"
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{wordcount["run_id"]}"]')
    assert "wordcount" in row.text and "success" in row.text
    assert "Signed in as reader-user (reader)" in text_of(driver, "header")


def test_a_wrong_token_stays_on_the_login_page(driver, server):
    driver.get(server.url + "/ui/login")
    driver.find_element(By.ID, "token").send_keys("wfo_not-a-token")
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    assert "unknown or revoked" in text_of(driver, "[role=alert]")
    assert driver.get_cookie("wfobj_session") is None


def test_the_session_cookie_is_httponly_and_samesite_strict(driver, server):
    login(driver, server)
    cookie = driver.get_cookie("wfobj_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["value"].startswith("wfs_") and server.tokens["reader"] not in cookie["value"]
    assert driver.execute_script("return document.cookie") == ""  # scripts cannot read it


def test_run_page_draws_a_node_per_task_with_its_state(driver, server, wordcount):
    login(driver, server)
    run_id = wordcount["run_id"]
    driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{run_id}"] a').click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith(f"/ui/runs/{run_id}"))
    nodes = driver.find_elements(By.CSS_SELECTOR, "svg.dag g.node")
    assert {n.get_attribute("data-task"): n.get_attribute("data-state") for n in nodes} == \
        {"split": "success", "count": "success"}
    for node in nodes:
        assert "success" in node.find_element(By.CSS_SELECTOR, "text.state-text").text
    edge = driver.find_element(By.CSS_SELECTOR, "svg.dag path.edge")
    assert (edge.get_attribute("data-from"), edge.get_attribute("data-to")) == ("split", "count")
    assert "success" in text_of(driver, "#run-state")
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "false"


def test_run_page_links_the_exports_and_the_api_takes_the_cookie_for_them(driver, server,
                                                                          wordcount):
    login(driver, server)
    run_id = wordcount["run_id"]
    driver.get(f"{server.url}/ui/runs/{run_id}")
    links = driver.find_elements(By.CSS_SELECTOR, "a[data-export]")
    assert [a.get_attribute("href") for a in links] == [
        f"{server.url}/api/runs/{run_id}/export/{fmt}"
        for fmt in ("ro-crate", "prov", "openlineage", "in-toto")]
    # the browser sends the UI cookie to /api/ (path /) but an ordinary endpoint refuses it
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/runs', {credentials: 'same-origin'}).then(r => done(r.status));")
    assert status == 401


def test_attempt_page_shows_stdout_and_stderr(driver, server, greet):
    run_id = trigger(server, "greet")
    assert wait_terminal(server, run_id)["state"] == "success", server.log()
    login(driver, server)
    driver.get(f"{server.url}/ui/runs/{run_id}")
    driver.find_element(By.CSS_SELECTOR, 'svg.dag g.node[data-task="hello"] a').click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("/tasks/hello"))
    assert text_of(driver, "h1") == "Task hello, attempt 1"
    assert text_of(driver, "pre#stdout") == "hello from the browser test"
    assert text_of(driver, "pre#stderr") == "a warning"
    evidence = api(server, "GET", f"/api/runs/{run_id}/tasks/hello", "reader")
    assert evidence["evidence_hash"] in text_of(driver, "#evidence-h + dl")


def test_audit_page_says_the_chain_verifies(driver, server, wordcount):
    login(driver, server)
    driver.get(f"{server.url}/ui/runs/{wordcount['run_id']}")
    driver.find_element(By.LINK_TEXT, "Audit trail").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("/audit"))
    verdict = driver.find_element(By.ID, "chain-verdict")
    assert verdict.get_attribute("data-verified") == "true"
    assert "The hash chain verifies" in verdict.text
    audit = api(server, "GET", f"/api/runs/{wordcount['run_id']}/audit", "reader")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.audit tbody tr")
    assert len(rows) == len(audit) > 0


def test_file_page_shows_where_the_file_came_from(driver, server, wordcount):
    login(driver, server)
    run_id = wordcount["run_id"]
    count = next(f for f in wordcount["files"] if f["path"] == "count.txt")
    driver.get(f"{server.url}/ui/runs/{run_id}")
    driver.find_element(By.CSS_SELECTOR, f'table.files a[href^="/ui/files/{count["hash"]}"]') \
        .click()
    WebDriverWait(driver, WAIT).until(lambda d: f"/ui/files/{count['hash']}" in d.current_url)
    assert count["hash"] in text_of(driver, "dl.fields")
    made = text_of(driver, "#produced-by")
    assert run_id in made and "count" in made and "count.txt" in made
    driver.get(f"{server.url}/ui/files/{wordcount['corpus']}")
    assert run_id in text_of(driver, "#parameter-of") and "corpus" in text_of(
        driver, "#parameter-of")


def test_logout_ends_the_session(driver, server):
    login(driver, server)
    secret = driver.get_cookie("wfobj_session")["value"]
    driver.find_element(By.CSS_SELECTOR, "form.who button").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("/ui/login"))
    assert driver.get_cookie("wfobj_session") is None
    driver.get(server.url + "/ui/runs")
    assert "/ui/login?next=" in driver.current_url
    driver.add_cookie({"name": "wfobj_session", "value": secret, "path": "/"})
    driver.get(server.url + "/ui/runs")  # the old secret was ended on the server too
    assert "/ui/login?next=" in driver.current_url


def test_a_reader_session_cannot_change_anything(driver, server, wordcount):
    """A reader's cookie reads, and never writes: the API
    refuses it before it even looks at the run (a token would get 409, already ended)."""
    login(driver, server, "reader")
    driver.get(f"{server.url}/ui/runs/{wordcount['run_id']}")
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/api/runs/{wordcount['run_id']}/kill', {{method: 'POST',"
        " credentials: 'same-origin'}).then(r => done(r.status));")
    assert status == 401
    assert not driver.find_elements(By.CSS_SELECTOR, "main form")


def test_a_running_run_page_updates_itself_to_the_final_state(driver, server, greet):
    login(driver, server)
    run_id = trigger_running_nap(server)
    driver.get(f"{server.url}/ui/runs/{run_id}")
    body = driver.find_element(By.TAG_NAME, "body")
    assert body.get_attribute("data-live") == "true"  # opened while the run is live
    first = {n.get_attribute("data-task"): n.get_attribute("data-state")
             for n in driver.find_elements(By.CSS_SELECTOR, "svg.dag g.node")}
    assert first["nap"] == "running"
    driver.execute_script("window.wfobjNoReload = 'still the same page';"
                          "window.stateBox = document.getElementById('run-state');"
                          "document.querySelector('g.node[data-task=\"nap\"] a').focus();")
    WebDriverWait(driver, WAIT, poll_frequency=0.5).until(
        lambda d: d.find_element(By.CSS_SELECTOR, 'svg.dag g.node[data-task="nap"]')
        .get_attribute("data-state") == "success")
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "false")
    assert "success" in text_of(driver, "#run-state")
    assert driver.execute_script("return window.wfobjNoReload") == "still the same page"
    assert "the run has ended" in text_of(driver, "footer")
    # the status region is the same element (so screen readers announce the change) and
    # keyboard focus is still on the same task's node
    assert driver.execute_script("return window.stateBox === document.getElementById('run-state')")
    assert driver.execute_script(
        "const g = document.activeElement.closest('g.node'); return g && g.dataset.task") == "nap"


def test_a_running_task_page_shows_its_evidence_when_the_attempt_ends(driver, server, greet):
    login(driver, server)
    run_id = trigger_running_nap(server)
    driver.get(f"{server.url}/ui/runs/{run_id}/tasks/nap")
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "true"
    assert not driver.find_elements(By.ID, "evidence-h")
    driver.execute_script("window.wfobjNoReload = 'still the same page';")
    WebDriverWait(driver, WAIT, poll_frequency=0.5).until(
        lambda d: d.find_elements(By.ID, "evidence-h"))
    assert "success" in text_of(driver, "#attempt-state")
    assert text_of(driver, "h1") == "Task nap, attempt 1"
    assert driver.execute_script("return window.wfobjNoReload") == "still the same page"


def test_keyboard_skip_link_and_dag_nodes(driver, server, wordcount):
    login(driver, server)
    driver.get(f"{server.url}/ui/runs/{wordcount['run_id']}")
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    active = driver.switch_to.active_element
    assert active.get_attribute("class") == "skip" and active.rect["x"] >= 0
    active.send_keys(Keys.ENTER)
    assert driver.switch_to.active_element.get_attribute("id") == "main"
    reached = set()
    for _ in range(60):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        task = driver.execute_script(
            "const g = document.activeElement.closest('g.node');"
            "return g ? g.dataset.task : null;")
        if task:
            reached.add(task)
    assert reached == {"split", "count"}


def pages(server, wordcount, greet_run):
    run_id = wordcount["run_id"]
    return ["/ui/login", "/ui/runs", f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/tasks/split",
            f"/ui/runs/{greet_run}/tasks/hello", f"/ui/runs/{run_id}/audit",
            f"/ui/files/{wordcount['corpus']}", "/ui/runs?state=bogus"]


@pytest.fixture(scope="module")
def greet_run(server, greet):
    run_id = trigger(server, "greet")
    assert wait_terminal(server, run_id)["state"] == "success"
    return run_id


def test_every_page_passes_the_accessibility_audit(driver, server, wordcount, greet_run):
    """Labels, names, headings, landmarks and text contrast, as the browser computes them."""
    login(driver, server)
    for path in pages(server, wordcount, greet_run):
        if path == "/ui/login":
            driver.delete_all_cookies()
        driver.get(server.url + path)
        problems = driver.execute_script(A11Y_AUDIT)
        assert problems == [], (path, problems)
        if path == "/ui/login":
            login(driver, server)


STICKING_OUT = """return [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
  .slice(0, 6).map(e => e.outerHTML.slice(0, 100))"""


def test_a_narrow_window_has_no_sideways_scrolling(driver, server, wordcount, greet_run):
    login(driver, server)
    driver.set_window_size(400, 900)
    assert driver.execute_script("return window.innerWidth") <= 400
    for path in pages(server, wordcount, greet_run):
        if path == "/ui/login":
            continue
        driver.get(server.url + path)
        wide = driver.execute_script(
            "return [document.body.scrollWidth, document.documentElement.scrollWidth,"
            " window.innerWidth]")
        assert max(wide[:2]) <= wide[2], (path, wide, driver.execute_script(STICKING_OUT))
        for table in driver.find_elements(By.TAG_NAME, "table"):
            assert driver.execute_script(  # a wide table scrolls inside its own box
                "return getComputedStyle(arguments[0].parentElement).overflowX", table) \
                == "auto", path



def test_the_admin_pages_pass_the_audit_and_fit_a_narrow_window(driver, server, greet_run):
    """The webhooks and secrets pages, reached from the nav of an admin's session, with a
    hook, a delivery and a secret on them."""
    api(server, "PUT", "/api/secrets/browser-sig", "admin",
        json={"value": "browser secret value"})
    api(server, "POST", "/api/hooks", "admin",
        json={"url": "http://127.0.0.1:9/never", "events": ["run.created"],
              "secret_name": "browser-sig"})
    trigger(server, "greet")
    login(driver, server, "admin")
    for link, heading in (("Webhooks", "Webhooks"), ("Secrets", "Secrets")):
        driver.find_element(By.CSS_SELECTOR, "nav").find_element(By.LINK_TEXT, link).click()
        WebDriverWait(driver, WAIT).until(lambda d, h=heading: text_of(d, "h1") == h)
        assert driver.execute_script(A11Y_AUDIT) == [], link
        assert "browser secret value" not in driver.page_source
    assert "browser-sig" in text_of(driver, "table.secrets")
    driver.set_window_size(400, 900)
    for path in ("/ui/hooks", "/ui/secrets"):
        driver.get(server.url + path)
        wide = driver.execute_script(
            "return [document.body.scrollWidth, document.documentElement.scrollWidth,"
            " window.innerWidth]")
        assert max(wide[:2]) <= wide[2], (path, wide, driver.execute_script(STICKING_OUT))
