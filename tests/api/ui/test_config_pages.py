"""The UI's read-only pages of webhooks (admin) and secrets (runner: names and fingerprints,
never a value), linked from the nav for the roles that may open them. Falcon's test client
on a real LMDB store (its secret store beside it)."""

from __future__ import annotations

import re

import pytest

from tests.support_engine import chain, trigger
from tests.support_ui import make_ui
from wfobj.api.ui.config import shown_url
from wfobj.objstore import LmdbObjectStore, MemoryObjectStore

VALUE = b"s3cret-value-never-shown"


@pytest.fixture
def ui(tmp_path):
    store = LmdbObjectStore(tmp_path / "store", create=True)
    yield make_ui(store)
    store.close()


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    return re.findall(r'<a href="([^"]+)"', nav)


def test_the_hooks_page_lists_hooks_and_their_latest_deliveries(ui):
    ui.service.set_secret("hooksig", VALUE, user="admin-user")
    hook = ui.service.add_hook("https://ci:pa55word@ci.example.org:8443/wfobj?x=1",
                               ["run.created", "run.failed"], secret_name="hooksig",
                               user="admin-user")
    plain = ui.service.add_hook("http://127.0.0.1:9/plain", ["run.created"], user="admin-user")
    run_id = trigger(ui.service, chain("a"), "chain")
    resp = ui.get("/ui/hooks", ui.login("admin"))
    assert resp.status_code == 200, resp.text
    page = resp.text
    row = re.search(rf'<tr data-hook="{hook["id"]}">(.*?)</tr>', page, re.S).group(1)
    assert "https://ci:***@ci.example.org:8443/wfobj?x=1" in row and "pa55word" not in page
    assert "run.created, run.failed" in row and "<code>hooksig</code>" in row
    assert "admin-user" in row
    assert "unsigned" in re.search(rf'<tr data-hook="{plain["id"]}">(.*?)</tr>', page,
                                   re.S).group(1)
    pending = re.findall(r'<tr data-event="([^"]+)" data-hook="([^"]+)" data-state="pending">',
                         page)
    assert sorted(pending) == sorted([(f"{run_id}.1", hook["id"]), (f"{run_id}.1", plain["id"])])
    assert VALUE.decode() not in page
    assert nav_links(page) == ["/ui/runs", "/ui/schedules", "/ui/hooks", "/ui/secrets"]


def test_the_secrets_page_shows_names_and_fingerprints_never_values(ui):
    ui.service.set_secret("hooksig", VALUE, user="admin-user")
    ui.service.set_secret("db-password", b"another value 123", user="admin-user")
    [fp_db, fp_hook] = [s["fingerprint"] for s in ui.service.list_secrets()]
    page = ui.get("/ui/secrets", ui.login("runner")).text
    rows = re.findall(r'<tr data-secret="([^"]+)">.*?<code class="hash">([^<]+)</code>', page,
                      re.S)
    assert rows == [("db-password", fp_db), ("hooksig", fp_hook)]
    assert VALUE.decode() not in page and "another value 123" not in page
    assert nav_links(page) == ["/ui/runs", "/ui/schedules", "/ui/secrets"]  # no hooks link


def test_a_store_without_secrets_says_so():
    ui = make_ui(MemoryObjectStore())  # no folder: no secret store
    resp = ui.get("/ui/secrets", ui.login("admin"))
    assert resp.status_code == 200 and "keeps no secrets" in resp.text
    assert "No hooks" in ui.get("/ui/hooks", ui.login("admin")).text


@pytest.mark.parametrize(("role", "path"), [("reader", "/ui/hooks"), ("runner", "/ui/hooks"),
                                            ("reader", "/ui/secrets")])
def test_roles_below_the_apis_are_refused(ui, role, path):
    session = ui.login(role)
    resp = ui.get(path, session)
    assert resp.status_code == 403 and resp.headers["content-type"].startswith("text/html")
    assert ui.get("/ui/runs", session).status_code == 200


def test_a_reader_sees_neither_link(ui):
    page = ui.get("/ui/runs", ui.login("reader")).text
    assert nav_links(page) == ["/ui/runs", "/ui/schedules"]


def test_without_a_session_the_pages_send_to_the_login(ui):
    for path in ("/ui/hooks", "/ui/secrets"):
        resp = ui.get(path, None)
        assert resp.status_code == 303 and "/ui/login?next=" in resp.headers["location"]


def test_only_a_password_in_a_url_is_hidden():
    assert shown_url("https://h.example/x?token=1") == "https://h.example/x?token=1"
    assert shown_url("http://u:p@h:81/y") == "http://u:***@h:81/y"
    assert shown_url("http://u@h/y") == "http://u@h/y"
