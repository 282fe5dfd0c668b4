"""UI login: a form takes an API token and opens a server-side session (engine/access/sessions.py);
the browser keeps only the session secret, in an HttpOnly, SameSite=Strict cookie. Its path
is `/` so that the API downloads a page links to (a run's exports, declared
`credentials = BEARER_OR_SESSION` in api/auth.py) can read it too; nothing else in the API does.

Pages declare `credentials = "session"` and their `roles` like any resource; SessionAuth
checks the cookie for them (the bearer middleware leaves them alone) and sends a browser
without a live session to the login page. Login and logout are POST only and refuse a
cross-site Origin, on top of SameSite=Strict.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import falcon

from wfobj.api.auth import OPEN, CookieAuth, needed_role
from wfobj.engine import SessionStore, TokenInfo, role_allows

from .render import Renderer

COOKIE = "wfobj_session"
COOKIE_PATH = "/"
LOGIN = "/ui/login"
HOME = "/ui/runs"
MAX_FORM = 4096


def session_secret(req: falcon.Request) -> str | None:
    values = req.get_cookie_values(COOKIE)
    return values[0] if values else None


def session_cookie_auth(sessions: SessionStore) -> CookieAuth:
    """For the API's auth middleware: who the request's session cookie belongs to, if anyone."""

    def who(req: falcon.Request) -> TokenInfo | None:
        return sessions.check(session_secret(req))

    return who


def safe_next(target: str | None) -> str:
    """Where to go after login: a path inside the UI, never another site."""
    if not target or not target.startswith("/ui/") or target.startswith("//"):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return HOME
    return target


def is_https(req: falcon.Request) -> bool:
    return req.forwarded_scheme == "https"


def same_origin(req: falcon.Request) -> bool:
    """False when the browser says the form was posted from another origin."""
    origin = req.get_header("Origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == req.forwarded_host or parts.netloc == req.host


class SessionAuth:
    """Falcon middleware: the session cookie → req.context.user / .role for UI pages."""

    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions

    def process_resource(self, req: falcon.Request, resp: falcon.Response,
                         resource: object, params: dict) -> None:
        if getattr(resource, "credentials", None) != "session":
            return
        needed = needed_role(resource, req.method)
        info = self.sessions.check(session_secret(req))
        if info is None:
            target = req.relative_uri if req.method == "GET" else HOME
            raise falcon.HTTPSeeOther(f"{LOGIN}?next={quote(target, safe='')}")
        if needed is not None and not role_allows(info.role, needed):
            raise falcon.HTTPForbidden(
                title="Role too low",
                description=f"this page needs role {needed!r}; user {info.user!r} has "
                f"{info.role!r}")
        req.context.user, req.context.role = info.user, info.role


def read_form(req: falcon.Request) -> dict[str, str]:
    """A small urlencoded form body (first value of each field)."""
    if req.content_length is not None and req.content_length > MAX_FORM:
        raise falcon.HTTPContentTooLarge(title="Form too large",
                                         description=f"a login form is at most {MAX_FORM} bytes")
    body = req.bounded_stream.read(MAX_FORM + 1)
    if len(body) > MAX_FORM:
        raise falcon.HTTPContentTooLarge(title="Form too large",
                                         description=f"a login form is at most {MAX_FORM} bytes")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


class Login:
    """GET: the form. POST: token → session cookie → 303 to `next`."""

    roles = OPEN

    def __init__(self, sessions: SessionStore, render: Renderer) -> None:
        self.sessions, self.render = sessions, render

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.sessions.check(session_secret(req)) is not None:
            raise falcon.HTTPSeeOther(safe_next(req.get_param("next")))
        self.render(req, resp, "login.html", next=safe_next(req.get_param("next")), error=None)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not same_origin(req):
            raise falcon.HTTPForbidden(title="Cross-site form",
                                       description="the login form was posted from another site")
        form = read_form(req)
        target = safe_next(form.get("next"))
        session = self.sessions.open(form.get("token", "").strip())
        if session is None:
            resp.status = falcon.HTTP_401
            self.render(req, resp, "login.html", next=target,
                        error="That token is unknown or revoked.")
            return
        resp.set_cookie(COOKIE, session.secret, path=COOKIE_PATH, http_only=True,
                        same_site="Strict", secure=is_https(req),
                        max_age=int(self.sessions.lifetime.total_seconds()))
        resp.status, resp.location = falcon.HTTP_303, target


class Logout:
    """POST: end the session and clear the cookie, then back to the login page."""

    roles = OPEN

    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not same_origin(req):
            raise falcon.HTTPForbidden(title="Cross-site form",
                                       description="the logout form was posted from another site")
        self.sessions.close(session_secret(req))
        resp.unset_cookie(COOKIE, path=COOKIE_PATH, same_site="Strict")
        resp.status, resp.location = falcon.HTTP_303, LOGIN
