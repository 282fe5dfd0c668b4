"""Bearer-token authentication and role checks, as Falcon middleware.

A resource declares what each method needs in a `roles` dict, e.g.
`roles = {"GET": "reader", "POST": "runner"}`; `roles = {}` (or None) marks it open.
HEAD needs what GET needs. A method a resource does not list needs `admin`.
UI pages declare `credentials = "session"` too: their cookie is checked by api/ui/session.py.
An API download a UI page links to (a run's exports) declares `credentials = BEARER_OR_SESSION`:
a GET or HEAD without an Authorization header may then use the UI's session cookie instead,
with the same role check. Nothing that changes state ever accepts the cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import falcon

from wfobj.engine import TokenInfo, role_allows

OPEN: dict[str, str] = {}
BEARER_OR_SESSION = "bearer-or-session"
COOKIE_METHODS = ("GET", "HEAD")
CookieAuth = Callable[[falcon.Request], TokenInfo | None]  # the UI session behind a request


class Authenticator(Protocol):
    def authenticate(self, token: str) -> TokenInfo | None: ...


def needed_role(resource: object, method: str) -> str | None:
    """The role `method` needs on `resource`, or None if open."""
    if not hasattr(resource, "roles"):
        return "admin"  # undeclared: deny by default
    roles = resource.roles
    if not roles:
        return None
    if method == "HEAD":
        method = "GET"
    return roles.get(method, "admin")


def bearer_token(req: falcon.Request) -> str:
    header = req.get_header("Authorization")
    if not header:
        raise falcon.HTTPUnauthorized(
            title="Authentication required",
            description="send Authorization: Bearer <token>",
            challenges=["Bearer"])
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise falcon.HTTPUnauthorized(
            title="Authentication required",
            description="the Authorization header must be 'Bearer <token>'",
            challenges=["Bearer"])
    return token.strip()


class AuthMiddleware:
    """Maps the bearer token (or, where a resource allows it, the UI session cookie) to
    req.context.user / .role and enforces the resource's roles."""

    def __init__(self, auth: Authenticator, cookie_auth: CookieAuth | None = None) -> None:
        self.auth, self.cookie_auth = auth, cookie_auth

    def process_resource(self, req: falcon.Request, resp: falcon.Response,
                         resource: object, params: dict) -> None:
        req.context.user = req.context.role = None
        if resource is None or req.method == "OPTIONS":
            return
        credentials = getattr(resource, "credentials", "bearer")
        if credentials not in ("bearer", BEARER_OR_SESSION):
            return  # a UI page: api/ui/session.py checks its cookie
        needed = needed_role(resource, req.method)
        if needed is None:
            return
        if credentials == BEARER_OR_SESSION and self.by_cookie(req):
            info = self.session_info(req)
        else:
            info = self.token_info(req)
        if not role_allows(info.role, needed):
            raise falcon.HTTPForbidden(
                title="Role too low",
                description=f"{req.method} {req.path} needs role {needed!r}; "
                f"user {info.user!r} has {info.role!r}")
        req.context.user, req.context.role = info.user, info.role

    def by_cookie(self, req: falcon.Request) -> bool:
        """A cookie-capable GET without a bearer token: the UI session answers for it."""
        return (self.cookie_auth is not None and req.method in COOKIE_METHODS
                and req.get_header("Authorization") is None)

    def token_info(self, req: falcon.Request) -> TokenInfo:
        info = self.auth.authenticate(bearer_token(req))
        if info is None:
            raise falcon.HTTPUnauthorized(
                title="Invalid token", description="the bearer token is unknown or revoked",
                challenges=["Bearer"])
        return info

    def session_info(self, req: falcon.Request) -> TokenInfo:
        info = self.cookie_auth(req)
        if info is None:
            raise falcon.HTTPUnauthorized(
                title="Authentication required",
                description="send Authorization: Bearer <token>, or sign in to the web UI first",
                challenges=["Bearer"])
        return info
