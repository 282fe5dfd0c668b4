"""UI login, sessions and roles through Falcon's test client (api/ui/session.py,
engine/sessions.py): only the login page without a session; cookies HttpOnly, SameSite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support_ui import COOKIE, FORM, finished_wordcount, make_ui
from wfobj.api.auth import BEARER_OR_SESSION
from wfobj.engine.access.sessions import SessionStore, session_digest
from wfobj.engine.access.tokens import token_digest
from wfobj.engine.layout import SESSIONS_NS as NAMESPACE
from wfobj.objstore import MemoryObjectStore


@pytest.fixture
def ui():
    return make_ui(MemoryObjectStore())


@pytest.mark.parametrize("path", ["/ui", "/ui/", "/ui/runs", "/ui/runs?state=success",
                                  "/ui/runs/01a2376e-164b-7414-80df-5b4260a4ac6e",
                                  "/ui/files/" + "ab" * 32])
def test_without_a_cookie_only_the_login_page(ui, path):
    resp = ui.get(path, None)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/ui/login?next=%2Fui")
    login = ui.get("/ui/login", None)
    assert login.status_code == 200 and 'name="token"' in login.text
    assert "Signed in" not in login.text


def test_a_bad_or_forged_cookie_is_no_session(ui):
    for value in ("wfs_forged", "x" * 300, ui.tokens["admin"]):
        assert ui.get("/ui/runs", value).status_code == 303


def test_login_sets_an_httponly_samesite_strict_cookie(ui):
    resp = ui.client.simulate_post("/ui/login", body=f"token={ui.tokens['reader']}&next=%2Fui%2Fruns%3Fstate%3Dfailed",
                                   headers={"Content-Type": FORM})
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/runs?state=failed"
    cookie = resp.cookies[COOKIE]
    assert cookie.http_only and cookie.same_site == "Strict" and cookie.path == "/"
    assert not cookie.secure  # plain http here; https below
    page = ui.get("/ui/runs", cookie.value)
    assert page.status_code == 200 and "reader-user" in page.text


def test_cookie_is_secure_over_https(ui):
    resp = ui.client.simulate_post("/ui/login", body=f"token={ui.tokens['reader']}",
                                   headers={"Content-Type": FORM}, protocol="https")
    assert resp.cookies[COOKIE].secure


def test_the_store_keeps_only_a_hash_of_the_session_and_of_the_token(ui):
    secret = ui.login()
    rows = dict(ui.store.meta_scan(NAMESPACE))
    assert list(rows) == [session_digest(secret)]
    raw = rows[session_digest(secret)]
    assert secret.encode() not in raw and ui.tokens["reader"].encode() not in raw
    assert token_digest(ui.tokens["reader"]).encode() in raw


def test_a_wrong_token_is_refused_with_the_form_again(ui):
    resp = ui.client.simulate_post("/ui/login", body="token=wfo_nope",
                                   headers={"Content-Type": FORM})
    assert resp.status_code == 401 and COOKIE not in resp.cookies
    assert 'role="alert"' in resp.text and "unknown or revoked" in resp.text
    assert list(ui.store.meta_scan(NAMESPACE)) == []


def test_login_is_post_only_and_refuses_another_origin(ui):
    resp = ui.client.simulate_post("/ui/login", body=f"token={ui.tokens['reader']}",
                                   headers={"Content-Type": FORM,
                                            "Origin": "https://evil.example"})
    assert resp.status_code == 403 and COOKIE not in resp.cookies
    assert ui.client.simulate_put("/ui/login").status_code == 405
    assert ui.client.simulate_get("/ui/logout").status_code == 405


def test_next_never_leaves_the_ui(ui):
    for target in ("https://evil.example/", "//evil.example/ui/", "/api/runs", "/ui/\\evil"):
        body = f"token={ui.tokens['reader']}&next={target}"
        resp = ui.client.simulate_post("/ui/login", body=body, headers={"Content-Type": FORM})
        assert resp.headers["location"] == "/ui/runs", target


def test_an_oversized_form_is_413(ui):
    resp = ui.client.simulate_post("/ui/login", body="token=" + "a" * 5000,
                                   headers={"Content-Type": FORM})
    assert resp.status_code == 413


def test_logout_ends_the_session_server_side(ui):
    secret = ui.login()
    resp = ui.client.simulate_post("/ui/logout", cookies={COOKIE: secret})
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/login"
    assert resp.cookies[COOKIE].value == ""
    assert ui.get("/ui/runs", secret).status_code == 303  # the old cookie is worthless
    assert list(ui.store.meta_scan(NAMESPACE)) == []


def test_revoking_the_token_ends_its_sessions(ui):
    secret = ui.login("runner")
    from wfobj.engine.access.tokens import TokenStore

    tokens = TokenStore(ui.store)
    runner = next(i for i in tokens.list() if i.role == "runner")
    tokens.revoke(runner.id)
    assert ui.get("/ui/runs", secret).status_code == 303


def test_an_expired_session_is_refused_and_removed(ui):
    class Later:
        def __init__(self, base):
            self.base = base

        def now(self):
            return self.base.now() + timedelta(hours=13)

        def stamp(self):
            return self.base.stamp()

    secret = ui.login()
    late = SessionStore(ui.store, ui.sessions.tokens, clock=Later(ui.sessions.clock))
    assert late.check(secret) is None
    assert list(ui.store.meta_scan(NAMESPACE)) == []


def test_the_api_does_not_take_the_ui_cookie(ui):
    secret = ui.login("admin")
    resp = ui.client.simulate_get("/api/runs", cookies={COOKIE: secret})
    assert resp.status_code == 401


def test_pages_carry_security_headers(ui):
    secret = ui.login()
    resp = ui.get("/ui/runs", secret)
    assert "default-src 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["x-frame-options"] == "DENY"


def test_a_reader_sees_every_page_of_a_run(ui):
    run_id, corpus = finished_wordcount(ui)
    secret = ui.login("reader")
    for path in (f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/tasks/count",
                 f"/ui/runs/{run_id}/audit", f"/ui/files/{corpus}"):
        assert ui.get(path, secret).status_code == 200, path


def test_a_page_above_the_role_is_403_and_shows_nothing(ui):
    from wfobj.api.ui.pages import Page

    class AdminOnly(Page):
        roles = {"GET": "admin"}

        def on_get(self, req, resp):
            resp.text = "secret admin facts"

    ui.client.app.add_route("/ui/admin-only", AdminOnly(ui.service, None))
    reader = ui.get("/ui/admin-only", ui.login("reader"))
    assert reader.status_code == 403 and "secret" not in reader.text
    assert "needs role &#39;admin&#39;" in reader.text
    assert ui.get("/ui/admin-only", ui.login("admin")).text == "secret admin facts"


def test_an_open_login_page_goes_on_when_already_signed_in(ui):
    secret = ui.login()
    resp = ui.get("/ui/login", secret, params={"next": "/ui/runs?state=success"})
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/runs?state=success"


class CookieDownload:
    """An API download a UI page may link to, like a run's export."""

    credentials = BEARER_OR_SESSION
    roles = {"GET": "reader", "POST": "runner"}

    def on_get(self, req, resp):
        resp.media = {"user": req.context.user, "role": req.context.role}

    on_head = on_post = on_get


class AdminDownload(CookieDownload):
    roles = {"GET": "admin"}


def test_an_api_download_that_allows_it_takes_the_ui_cookie(ui):
    ui.client.app.add_route("/api/cookie-download", CookieDownload())
    secret = ui.login("reader")
    resp = ui.client.simulate_get("/api/cookie-download", cookies={COOKIE: secret})
    assert resp.status_code == 200 and resp.json == {"user": "reader-user", "role": "reader"}
    assert ui.client.simulate_head("/api/cookie-download",
                                   cookies={COOKIE: secret}).status_code == 200
    bearer = ui.client.simulate_get("/api/cookie-download",
                                    headers={"Authorization": f"Bearer {ui.tokens['runner']}"})
    assert bearer.json["user"] == "runner-user"


def test_the_cookie_never_authorizes_a_write_or_replaces_a_bad_token(ui):
    ui.client.app.add_route("/api/cookie-download", CookieDownload())
    secret = ui.login("admin")
    post = ui.client.simulate_post("/api/cookie-download", cookies={COOKIE: secret})
    assert post.status_code == 401 and post.json["title"] == "Authentication required"
    bad = ui.client.simulate_get("/api/cookie-download", cookies={COOKIE: secret},
                                 headers={"Authorization": "Bearer wfo_nope"})
    assert bad.status_code == 401 and bad.json["title"] == "Invalid token"


def test_a_cookie_download_without_a_live_session_is_401(ui):
    ui.client.app.add_route("/api/cookie-download", CookieDownload())
    none = ui.client.simulate_get("/api/cookie-download")
    assert none.status_code == 401 and "sign in to the web UI" in none.json["description"]
    assert none.headers["www-authenticate"] == "Bearer"
    secret = ui.login("reader")
    ui.client.simulate_post("/ui/logout", cookies={COOKIE: secret})
    assert ui.client.simulate_get("/api/cookie-download",
                                  cookies={COOKIE: secret}).status_code == 401
    forged = ui.client.simulate_get("/api/cookie-download", cookies={COOKIE: "wfs_forged"})
    assert forged.status_code == 401


def test_a_cookie_download_keeps_its_role_check(ui):
    ui.client.app.add_route("/api/admin-download", AdminDownload())
    reader = ui.client.simulate_get("/api/admin-download", cookies={COOKIE: ui.login("reader")})
    assert reader.status_code == 403 and reader.json["title"] == "Role too low"
    admin = ui.client.simulate_get("/api/admin-download", cookies={COOKIE: ui.login("admin")})
    assert admin.status_code == 200 and admin.json["role"] == "admin"


def test_without_the_ui_no_cookie_is_taken():
    from falcon.testing import TestClient

    from wfobj.api import create_app
    from wfobj.engine.access.tokens import TokenStore
    from wfobj.engine.service import WorkflowService

    store = MemoryObjectStore()
    tokens = TokenStore(store)
    reader = tokens.create("reader-user", "reader")[0]
    secret = SessionStore(store, tokens).open(reader).secret
    client = TestClient(create_app(store, WorkflowService(store), tokens))
    client.app.add_route("/api/cookie-download", CookieDownload())
    resp = client.simulate_get("/api/cookie-download", cookies={COOKIE: secret})
    assert resp.status_code == 401 and resp.json["title"] == "Authentication required"
