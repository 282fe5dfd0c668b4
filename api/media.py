"""Request bodies: JSON or YAML documents, read within a size limit before parsing.

Parsing is engine/definitions/documents.py's (no YAML aliases, bounded nesting, finite numbers)."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.media
import yaml

from wfobj.engine import DocumentError, excerpt, load_json, load_yaml

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
MAX_DOCUMENT = 4 << 20


class YAMLHandler(falcon.media.BaseHandler):
    """application/yaml in and out (no Python objects, no aliases)."""

    def deserialize(self, stream, content_type, content_length) -> Any:
        try:
            return load_yaml(stream.read())
        except DocumentError as exc:
            raise falcon.MediaMalformedError("YAML") from exc

    def serialize(self, media, content_type) -> bytes:
        return yaml.safe_dump(media, sort_keys=False).encode()


def media_handlers() -> dict:
    """The app's handlers: JSON (default) plus YAML."""
    handlers = {falcon.MEDIA_JSON: falcon.media.JSONHandler(loads=load_json)}
    handlers.update({t: YAMLHandler() for t in YAML_TYPES})
    return handlers


def body_stream(req: falcon.Request):
    """The body as a file: the raw input when the server marks it terminated (gunicorn
    de-chunks `Transfer-Encoding: chunked`), else bounded by Content-Length."""
    if req.content_length is None and req.env.get("wsgi.input_terminated"):
        return req.stream
    return req.bounded_stream


def too_large(limit: int) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(
        title="Body too large", description=f"upload is over the limit of {limit} bytes")


class LimitedBody:
    """A request body read as a file that answers 413 once more than `limit` bytes have
    come, so a streamed upload is cut off at the bound however it is sent."""

    def __init__(self, stream, limit: int) -> None:
        self.stream, self.limit, self.count = stream, limit, 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(self.limit - self.count + 1 if n is None or n < 0 else n)
        self.count += len(data)
        if self.count > self.limit:
            raise too_large(self.limit)
        return data


def upload_body(req: falcon.Request, limit: int) -> LimitedBody:
    """The body of an upload as a file of at most `limit` bytes: 413 at once if its
    Content-Length says more, else as soon as more has been read."""
    if req.content_length is not None and req.content_length > limit:
        raise too_large(limit)
    return LimitedBody(body_stream(req), limit)


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The whole body, or 413 if it is (or claims to be) over `limit` bytes."""
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(
            title="Body too large", description=f"body of {req.content_length} bytes is over "
            f"the limit of {limit} bytes")
    data = body_stream(req).read(limit + 1)
    if len(data) > limit:
        raise falcon.HTTPContentTooLarge(
            title="Body too large", description=f"body is over the limit of {limit} bytes")
    return data


def media_type(req: falcon.Request) -> str:
    return (req.content_type or "").split(";")[0].strip().lower()


def read_document(req: falcon.Request, *, yaml_ok: bool = False, limit: int = MAX_DOCUMENT,
                  empty: Any = None) -> Any:
    """Parse a JSON (or, if allowed, YAML) body: 413 over `limit`, 415 for another type,
    400 if malformed. An empty body gives `empty` when it is not None, else 400."""
    data = read_body(req, limit)
    if not data.strip():
        if empty is not None:
            return empty
        raise falcon.HTTPBadRequest(title="Empty body", description="the request body is empty")
    kind = media_type(req)
    allowed = (falcon.MEDIA_JSON,) + (YAML_TYPES if yaml_ok else ())
    if kind not in allowed:
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported content type",
            description=f"content type {excerpt(kind) if kind else '(none)'} is not "
            "accepted here; send "
            + " or ".join(allowed))
    try:
        return load_json(data) if kind == falcon.MEDIA_JSON else load_yaml(data)
    except DocumentError as exc:
        raise falcon.HTTPBadRequest(
            title="Malformed body", description=f"body is {exc}") from None
