"""Workflow resources: register definitions, list and show them, trigger runs."""

from __future__ import annotations

import falcon

from wfobj.engine import WorkflowService

from .media import YAML_TYPES, media_type, read_document
from .params import hash_param, name_param

TRIGGER_BODY_LIMIT = 1 << 20


class WorkflowList:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.list_workflows()


class Workflow:
    roles = {"GET": "reader", "PUT": "runner"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.media = self.service.get_workflow(name_param(name))

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        name_param(name)
        document, kind = definition_body(req)
        result, created = self.service.apply_workflow(
            name, document, user=req.context.user, content_type=kind)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = result


def definition_body(req: falcon.Request) -> tuple[dict, str]:
    """The definition document of a PUT or validate body, with its content type."""
    document = read_document(req, yaml_ok=True)
    if not isinstance(document, dict):
        raise falcon.HTTPBadRequest(
            title="Invalid definition",
            description=f"a definition is a mapping, got {type(document).__name__}")
    kind = "application/yaml" if media_type(req) in YAML_TYPES else falcon.MEDIA_JSON
    return document, kind


class ValidateWorkflow:
    """POST a definition to check it as PUT would, registering nothing."""

    roles = {"POST": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        name_param(name)
        document, kind = definition_body(req)
        resp.media = self.service.validate_workflow(name, document, content_type=kind)


class WorkflowVersions:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.media = self.service.workflow_versions(name_param(name))


class DefinitionByHash:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        resp.media = self.service.get_definition(hash_param(hash))


def trigger_body(req: falcon.Request) -> dict:
    """The trigger body {"parameters": {…}, "cache": bool} as service.trigger arguments;
    an empty body means no parameters, cache on."""
    body = read_document(req, limit=TRIGGER_BODY_LIMIT, empty={})
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(
            title="Bad trigger body",
            description=f'expected {{"parameters": {{…}}}}, got a JSON {type(body).__name__}')
    unknown = sorted(set(body) - {"parameters", "cache"})
    if unknown:
        raise falcon.HTTPBadRequest(
            title="Bad trigger body",
            description="unknown keys in trigger body: " + ", ".join(unknown)
            + ' (expected {"parameters": {…}, "cache": true|false})')
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise falcon.HTTPBadRequest(
            title="Bad trigger body", description='"parameters" must be a JSON object')
    cache = body.get("cache", True)
    if not isinstance(cache, bool):
        raise falcon.HTTPBadRequest(
            title="Bad trigger body", description='"cache" must be true or false')
    return {"parameters": parameters, "cache": cache}


class Trigger:
    roles = {"POST": "runner"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.media = self.service.trigger(
            name=name_param(name), user=req.context.user, **trigger_body(req))
        resp.status = falcon.HTTP_202


class TriggerByHash:
    roles = {"POST": "runner"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_post(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        resp.media = self.service.trigger(
            definition_hash=hash_param(hash), user=req.context.user, **trigger_body(req))
        resp.status = falcon.HTTP_202
