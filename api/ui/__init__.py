"""The read-only web UI under /ui/ (docs/ui.md): server-rendered pages over the engine's
read functions, a cookie session opened with an API token, static files from this package."""

from __future__ import annotations

from pathlib import Path

import falcon

from wfobj.api.errors import serialize_error
from wfobj.engine import SessionStore, WorkflowService
from wfobj.objstore import ObjectStore

from . import config, pages
from .render import Renderer, html_errors
from .session import Login, Logout, SessionAuth, session_cookie_auth

STATIC = Path(__file__).resolve().parent / "static"


def add_ui_routes(app: falcon.App, store: ObjectStore, service: WorkflowService,
                  sessions: SessionStore, engine_version: str) -> None:
    """Mount the UI on `app`: its pages, login/logout, static files, HTML error pages."""
    render = Renderer(engine_version)
    app.add_middleware(SessionAuth(sessions))
    app.set_error_serializer(html_errors(render, serialize_error))
    routes = {
        "/ui": pages.Home(service, render),
        "/ui/": pages.Home(service, render),
        "/ui/login": Login(sessions, render),
        "/ui/logout": Logout(sessions),
        "/ui/runs": pages.RunsPage(service, render),
        "/ui/runs/{run_id}": pages.RunPage(service, render, store),
        "/ui/runs/{run_id}/tasks/{task}": pages.AttemptPage(service, render, store),
        "/ui/runs/{run_id}/tasks/{task}/attempts/{attempt:int(min=1)}":
            pages.AttemptPage(service, render, store),
        "/ui/runs/{run_id}/audit": pages.AuditPage(service, render),
        "/ui/schedules": pages.SchedulesPage(service, render),
        "/ui/hooks": config.HooksPage(service, render),
        "/ui/secrets": config.SecretsPage(service, render),
        "/ui/files/{hash}": pages.FilePage(service, render, store),
        "/ui/files/{hash}/download": pages.FileDownload(store),
        "/ui/trees/{hash}": pages.TreePage(service, render, store),
        "/ui/trees/{hash}/archive": pages.TreeArchive(service, store),
    }
    for route, resource in routes.items():
        app.add_route(route, resource)
    app.add_static_route("/ui/static", STATIC)


__all__ = ["add_ui_routes", "session_cookie_auth"]
