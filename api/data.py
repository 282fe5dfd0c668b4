"""Data refs (`data/NAME`: read for readers, moved by runners) and data-trigger
subscriptions (admin) (docs/schedules-and-triggers.md)."""

from __future__ import annotations

import falcon

from wfobj.engine import DATA_PREFIX, WorkflowService

from .params import name_param
from .schedules import object_body

TAG_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "hash": ((str,), "a blob's or tree's hash (or a unique prefix)"),
    "old": ((str,), "the hash the ref must point at now"),
    "new_only": ((bool,), "true or false")}
TRIGGER_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "ref": ((str,), "a data ref, data/NAME"), "workflow": ((str,), "a workflow name"),
    "param": ((str,), "the workflow's file or dir param"),
    "parameters": ((dict,), "an object: the values of the workflow's other params")}


class DataList:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.list_data()


class DataRef:
    roles = {"GET": "reader", "PUT": "runner"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.media = self.service.get_data(DATA_PREFIX + name_param(name, "data name"))

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        name_param(name, "data name")
        body = object_body(req, TAG_KEYS, ("hash",), "tag")
        resp.media = self.service.tag_data(DATA_PREFIX + name, body["hash"],
                                           old=body.get("old"),
                                           new_only=body.get("new_only", False))


class TriggerList:
    roles = {"GET": "reader", "POST": "admin", "DELETE": "admin"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.list_triggers()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = object_body(req, TRIGGER_KEYS, ("ref", "workflow", "param"), "trigger")
        view = self.service.add_trigger(body["ref"], workflow=body["workflow"],
                                        param=body["param"], parameters=body.get("parameters"),
                                        user=req.context.user)
        resp.status = falcon.HTTP_201 if view["created"] else falcon.HTTP_200
        resp.media = view

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        args = {k: req.get_param(k) for k in ("ref", "workflow", "param")}
        missing = [k for k, v in args.items() if not v]
        if missing:
            raise falcon.HTTPBadRequest(title="Bad trigger query",
                                        description="missing query parameters: "
                                                    + ", ".join(missing))
        resp.media = self.service.remove_trigger(args["ref"], workflow=args["workflow"],
                                                 param=args["param"])


def data_routes(service: WorkflowService) -> dict[str, object]:
    return {
        "/api/data": DataList(service),
        "/api/data/{name}": DataRef(service),
        "/api/triggers": TriggerList(service),
    }
