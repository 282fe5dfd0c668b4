"""Secret resources (docs/secrets.md): admins put and delete values; nobody reads one back.

    GET    /api/secrets          names, fingerprints, who set them and when (runner)
    PUT    /api/secrets/{name}   {"value": text} or {"value_base64": …} (admin)
    DELETE /api/secrets/{name}   (admin)

A body that cannot be read is refused without quoting it: it may hold the value.
"""

from __future__ import annotations

import base64
import binascii
import json

import falcon

from wfobj.engine import WorkflowService

from .media import media_type, read_body

MAX_SECRET_BODY = 512 << 10  # a 64 KiB value, base64 or JSON-escaped, with room to spare
SHAPE = 'a JSON object {"value": TEXT} or {"value_base64": BASE64}'


class SecretList:
    roles = {"GET": "runner"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.list_secrets()


class SecretItem:
    roles = {"PUT": "admin", "DELETE": "admin"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        value = secret_value(req)
        resp.media = self.service.set_secret(name, value, user=req.context.user)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.media = self.service.remove_secret(name)


def secret_value(req: falcon.Request) -> bytes:
    """The value in a PUT body; 400/415 naming what is wrong, never quoting the body."""
    if media_type(req) != falcon.MEDIA_JSON:
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported content type", description=f"send {SHAPE} as application/json")
    try:
        body = json.loads(read_body(req, MAX_SECRET_BODY))
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or len(body) != 1:
        raise _bad(f"the body is not {SHAPE}")
    (key, value), = body.items()
    if key == "value" and isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad("the value is not valid Unicode text") from None
    if key == "value_base64" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("value_base64 is not base64") from None
    raise _bad(f"the body is not {SHAPE}")


def _bad(problem: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(title="Invalid secret", description=problem)
