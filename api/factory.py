"""The Falcon app factory: resources per concern, auth middleware, media, error mapping.

`create_app` takes its collaborators (store, service, authenticator) and opens nothing
itself; api/app.py opens the store in each gunicorn worker after fork.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import falcon

from wfobj.engine import SessionStore, WorkflowService
from wfobj.objstore import ObjectStore

from . import (
    errors,
    files,
    health,
    hooks,
    keys,
    metrics,
    objects,
    openapi,
    runs,
    secrets,
    trees,
    workflows,
)
from .auth import Authenticator, AuthMiddleware
from .data import data_routes
from .media import media_handlers
from .schedules import schedule_routes
from .ui import add_ui_routes, session_cookie_auth

# An extension adds routes: fn(app, store, service). Its resources declare `roles`
# like every other resource and so share the auth middleware (docs/api.md).
Extension = Callable[[falcon.App, ObjectStore, WorkflowService], None]


def sync_extension(app: falcon.App, store: ObjectStore, service: WorkflowService) -> None:
    """The /api/sync/* routes (api/sync.py), ref updates under the engine's ref policy."""
    from wfobj.engine import EngineRefPolicy

    from .sync import add_sync_routes

    add_sync_routes(app, store, EngineRefPolicy())


def attempts_extension(app: falcon.App, store: ObjectStore, service: WorkflowService) -> None:
    """The /api/attempts/* routes (api/attempts.py) that `wfobj exec` on a node calls."""
    from .attempts import add_attempt_routes

    add_attempt_routes(app, store)


def core_routes(store: ObjectStore, service: WorkflowService, max_upload: int,
                version_text: str) -> dict[str, object]:
    return {
        "/api/health": health.Health(version_text),
        "/api/openapi.json": openapi.OpenApi(version_text),
        "/api/workflows": workflows.WorkflowList(service),
        "/api/workflows/{name}": workflows.Workflow(service),
        "/api/workflows/{name}/versions": workflows.WorkflowVersions(service),
        "/api/workflows/{name}/trigger": workflows.Trigger(service),
        "/api/workflows/{name}/validate": workflows.ValidateWorkflow(service),
        "/api/workflows/by-hash/{hash}": workflows.DefinitionByHash(service),
        "/api/workflows/by-hash/{hash}/trigger": workflows.TriggerByHash(service),
        "/api/runs": runs.RunList(service),
        "/api/runs/{run_id}": runs.Run(service),
        "/api/runs/{run_id}/tasks": runs.RunTasks(service),
        "/api/runs/{run_id}/tasks/{task}": runs.RunTask(service),
        "/api/runs/{run_id}/files": runs.RunFiles(service),
        "/api/runs/{run_id}/lineage": runs.RunLineage(service),
        "/api/runs/{run_id}/audit": runs.RunAudit(service),
        "/api/runs/{run_id}/kill": runs.RunKill(service),
        "/api/runs/{run_id}/tasks/{task}/cache": runs.RunTaskCache(service),
        "/api/runs/{run_id}/tasks/{task}/logs": runs.RunTaskLogs(service),
        "/api/runs/{run_id}/resume": runs.RunResume(service),
        "/api/runs/{run_id}/reproduce": runs.RunReproduce(service),
        "/api/runs/{run_id}/compare/{other}": runs.RunCompare(service),
        "/api/runs/{run_id}/export/{format}": runs.RunExport(service),
        "/api/keys": keys.Keys(service),
        "/api/hooks": hooks.HookList(service),
        "/api/hooks/deliveries": hooks.HookDeliveries(service),
        "/api/hooks/changes": hooks.HookChanges(service),
        "/api/hooks/{hook_id}": hooks.Hook(service),
        "/api/secrets": secrets.SecretList(service),
        "/api/secrets/{name}": secrets.SecretItem(service),
        "/api/files/{hash}": files.FileItem(service),
        "/api/files/{hash}/lineage": files.FileLineage(service),
        "/api/objects": objects.ObjectUpload(store, max_upload),
        "/api/objects/{hash}": objects.ObjectItem(store),
        "/api/trees": trees.TreeUpload(service, max_upload),
        "/api/trees/{hash}": trees.TreeItem(service),
        "/api/trees/{hash}/files/{path:path}": trees.TreeFile(store, service),
        "/api/trees/{hash}/archive": trees.TreeArchive(store, service),
        "/metrics": metrics.MetricsResource(store),
        **schedule_routes(service),
        **data_routes(service),
    }


def create_app(store: ObjectStore, service: WorkflowService, auth: Authenticator, *,
               max_upload: int = objects.DEFAULT_MAX_UPLOAD,
               extensions: Iterable[Extension] = (sync_extension, attempts_extension),
               sessions: SessionStore | None = None) -> falcon.App:
    """The wfobj REST API (docs/api.md) over `store` and `service`, authenticating with `auth`;
    with `sessions`, the web UI under /ui/ too (docs/ui.md)."""
    cookie_auth = session_cookie_auth(sessions) if sessions is not None else None
    app = falcon.App(middleware=[AuthMiddleware(auth, cookie_auth)])
    handlers = media_handlers()
    app.req_options.media_handlers.update(handlers)
    app.resp_options.media_handlers.update(handlers)
    errors.install(app)
    for route, resource in core_routes(store, service, max_upload,
                                       service.engine_version).items():
        app.add_route(route, resource)
    for extend in extensions:
        extend(app, store, service)
    if sessions is not None:
        add_ui_routes(app, store, service, sessions, service.engine_version)
    return app
