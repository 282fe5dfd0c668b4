"""/api/hooks: webhooks (admin only), their deliveries (docs/events.md)."""

from __future__ import annotations

import falcon

from wfobj.engine import WorkflowService, excerpt

from .media import read_document
from .params import int_query, run_id_param

HOOK_BODY_LIMIT = 16 * 1024
HOOK_KEYS = ("url", "events", "secret_name")
ADMIN = {"GET": "admin", "POST": "admin", "DELETE": "admin"}


def _bad(description: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(title="Bad hook", description=description)


def hook_body(req: falcon.Request) -> dict:
    """{"url", "events": [...] or "a,b", "secret_name"?} as service.add_hook arguments."""
    body = read_document(req, limit=HOOK_BODY_LIMIT)
    if not isinstance(body, dict):
        raise _bad(f'expected {{"url": …, "events": […]}}, got a JSON {type(body).__name__}')
    if unknown := sorted(set(body) - set(HOOK_KEYS)):
        raise _bad(f"unknown keys in hook body: {excerpt(unknown)} (expected url, events, "
                   "secret_name)")
    events = body.get("events")
    if isinstance(events, str):
        events = [e.strip() for e in events.split(",") if e.strip()]
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise _bad('"events" must be a list of event names')
    secret = body.get("secret_name")
    if secret is not None and not isinstance(secret, str):
        raise _bad('"secret_name" must be a string or null')
    return {"url": body.get("url"), "events": events, "secret_name": secret}


class HookList:
    roles = ADMIN

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.list_hooks()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.add_hook(user=req.context.user, **hook_body(req))
        resp.status = falcon.HTTP_201


class Hook:
    roles = ADMIN

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_delete(self, req: falcon.Request, resp: falcon.Response, hook_id: str) -> None:
        resp.media = self.service.remove_hook(hook_id, user=req.context.user)


class HookChanges:
    roles = ADMIN

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.hook_changes()


class HookDeliveries:
    roles = ADMIN

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        run = req.get_param("run")
        resp.media = self.service.hook_deliveries(
            hook=req.get_param("hook"), run_id=run_id_param(run) if run is not None else None,
            limit=int_query(req, "limit", 100, 1, 1000))
