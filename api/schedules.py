"""Schedule resources (admin only): add or change, list, show with history, pause, resume,
remove (docs/schedules-and-triggers.md)."""

from __future__ import annotations

import falcon

from wfobj.engine import WorkflowService

from .media import read_document
from .params import name_param

BODY_LIMIT = 1 << 20
# the PUT body: key -> (accepted types, what it is)
SCHEDULE_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "cron": ((str,), "a cron expression"), "workflow": ((str,), "a workflow name"),
    "parameters": ((dict,), "an object"), "timezone": ((str,), "an IANA time zone name"),
    "pin": ((bool,), "true or false"), "catchup": ((str,), "none, latest or all")}


def object_body(req: falcon.Request, keys: dict[str, tuple[tuple[type, ...], str]],
                required: tuple[str, ...], what: str) -> dict:
    """The JSON object body of `req`, with only `keys`, each of its type: 400 naming the
    key otherwise."""
    body = read_document(req, limit=BODY_LIMIT)
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(title=f"Bad {what} body",
                                    description=f"expected a JSON object, got a "
                                                f"{type(body).__name__}")
    unknown = sorted(set(body) - set(keys))
    missing = [k for k in required if k not in body]
    if unknown or missing:
        problem = (f"unknown keys: {', '.join(unknown)}" if unknown
                   else f"missing keys: {', '.join(missing)}")
        raise falcon.HTTPBadRequest(title=f"Bad {what} body", description=problem
                                    + f" (keys: {', '.join(keys)})")
    for key, value in body.items():
        types, shape = keys[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise falcon.HTTPBadRequest(title=f"Bad {what} body",
                                        description=f'"{key}" must be {shape}')
    return body


class ScheduleList:
    roles = {"GET": "admin"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.list_schedules()


class Schedule:
    roles = {"GET": "admin", "PUT": "admin", "DELETE": "admin"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.media = self.service.get_schedule(name_param(name, "schedule name"))

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        name_param(name, "schedule name")
        body = object_body(req, SCHEDULE_KEYS, ("cron", "workflow"), "schedule")
        view = self.service.add_schedule(name, user=req.context.user, **body)
        resp.status = falcon.HTTP_201 if view["change"] == "created" else falcon.HTTP_200
        resp.media = view

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.media = self.service.remove_schedule(name_param(name, "schedule name"),
                                                  user=req.context.user)


class SchedulePause:
    roles = {"POST": "admin"}

    def __init__(self, service: WorkflowService, paused: bool) -> None:
        self.service = service
        self.paused = paused

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        name_param(name, "schedule name")
        change = self.service.pause_schedule if self.paused else self.service.resume_schedule
        resp.media = change(name, user=req.context.user)


def schedule_routes(service: WorkflowService) -> dict[str, object]:
    return {
        "/api/schedules": ScheduleList(service),
        "/api/schedules/{name}": Schedule(service),
        "/api/schedules/{name}/pause": SchedulePause(service, True),
        "/api/schedules/{name}/resume": SchedulePause(service, False),
    }
