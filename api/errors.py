"""Error mapping: library errors (objstore, engine) become HTTP answers at this edge only.

Every error body is {"title", "description"}; the description names the problem.
"""

from __future__ import annotations

import logging

import falcon

from wfobj.engine import (
    MAX_DESCRIPTION_CHARS,
    AttemptTokenRefused,
    DefinitionError,
    DefinitionTooLarge,
    DocumentError,
    InvalidStoredObject,
    NoSigningKey,
    NothingToRepeat,
    ParameterError,
    RenderedTooLarge,
    ReportRefused,
    RunAlreadyTerminal,
    RunNotEnded,
    SecretStoreUnusable,
    clip,
)
from wfobj.objstore import (
    ConflictError,
    CorruptObject,
    InvalidPack,
    MissingLinks,
    NotAFile,
    NotATree,
    PackBlockMismatch,
    PathNotInTree,
    RefRefused,
    TreeRefused,
    WfobjError,
)

log = logging.getLogger("wfobj.api")


# (error classes, HTTP status, title), first match wins: the one place a library error
# becomes an HTTP answer. Anything else under WfobjError is a 400 "Bad request".
STATUSES: tuple[tuple[type | tuple[type, ...], str, str], ...] = (
    (PackBlockMismatch, falcon.HTTP_400, "Checksum mismatch"),  # bad bytes sent: none stored
    (CorruptObject, falcon.HTTP_500, "Corrupt object"),  # damage in this server's store
    (InvalidStoredObject, falcon.HTTP_500, "Invalid stored object"),  # one it cannot read
    (SecretStoreUnusable, falcon.HTTP_500, "Secret store unusable"),  # its key or file
    (AttemptTokenRefused, falcon.HTTP_403, "Attempt token refused"),
    (ReportRefused, falcon.HTTP_409, "Report refused"),
    ((ConflictError, MissingLinks, RunAlreadyTerminal, NothingToRepeat, RunNotEnded,
      NoSigningKey), falcon.HTTP_409, "Conflict"),
    (DefinitionTooLarge, falcon.HTTP_413, "Definition too large"),
    (DocumentError, falcon.HTTP_400, "Malformed body"),
    (DefinitionError, falcon.HTTP_400, "Invalid definition"),
    (ParameterError, falcon.HTTP_400, "Invalid parameters"),
    (RefRefused, falcon.HTTP_400, "Ref update refused"),
    (InvalidPack, falcon.HTTP_400, "Invalid pack"),
    (RenderedTooLarge, falcon.HTTP_400, "Command too large"),
    (TreeRefused, falcon.HTTP_400, "Tree refused"),  # names the entry; nothing links to it
    (NotATree, falcon.HTTP_400, "Not a tree"),  # a blob or another object
    (NotAFile, falcon.HTTP_400, "Not a file"),  # a path in a tree naming a directory
    (PathNotInTree, falcon.HTTP_404, "Not found"),  # where a file was asked for
    (KeyError, falcon.HTTP_404, "Not found"),
)


def _status_of(exc: WfobjError) -> tuple[str, str]:
    """(HTTP status, title) for a library error, by what kind of error it is."""
    for kinds, status, title in STATUSES:
        if isinstance(exc, kinds):
            return status, title
    return falcon.HTTP_400, "Bad request"


def handle_wfobj_error(req: falcon.Request, resp: falcon.Response, exc: WfobjError,
                       params: dict) -> None:
    status, title = _status_of(exc)
    if status == falcon.HTTP_500:
        log.error("store integrity error on %s %s: %s", req.method, req.path, exc)
    raise falcon.HTTPError(status, title=title, description=str(exc))


def handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception,
                      params: dict) -> None:
    log.exception("unhandled error on %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError(
        title="Internal error", description=f"{type(exc).__name__} while serving {req.path}"
    )


def serialize_error(req: falcon.Request, resp: falcon.Response,
                    exc: falcon.HTTPError) -> None:
    """Always {"title", "description"} as JSON, whatever the client accepts; a
    description never passes MAX_DESCRIPTION_CHARS, whatever input it quotes."""
    resp.content_type = falcon.MEDIA_JSON
    description = exc.description
    if description is None and isinstance(exc, falcon.HTTPNotFound):
        description = f"no such resource: {req.method} {clip(req.path)}"
    resp.media = {"title": exc.title,
                  "description": clip(description or exc.title, MAX_DESCRIPTION_CHARS)}


def install(app: falcon.App) -> None:
    """Register the handlers and the error serializer on `app`."""
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(WfobjError, handle_wfobj_error)
    app.set_error_serializer(serialize_error)
