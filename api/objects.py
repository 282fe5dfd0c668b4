"""Object resources: download (blobs streamed, structured objects as JSON or exact CBOR),
HEAD for existence, and streamed upload of blobs for `file` parameters."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

import blake3
import falcon

from wfobj.objstore import ObjectStore, WfobjError, to_json

from .media import upload_body
from .params import hash_param

CBOR = "application/cbor"
OCTETS = "application/octet-stream"
HASH_HEADER = "X-Wfobj-Hash"
READ_PIECE = 1 << 20
WHOLE_DOWNLOAD = 4 << 20  # blobs up to this size are read whole and verified before sending
SPOOL_IN_MEMORY = 16 << 20
DEFAULT_MAX_UPLOAD = 1 << 30
log = logging.getLogger("wfobj.api")


def verified_stream(store: ObjectStore, oid: str) -> Iterator[bytes]:
    """A chunked blob's verified pieces, the first read now (a damaged first chunk is
    still a JSON error)."""
    return primed(store.iter_blob(oid), f"blob {oid}")


def primed(pieces: Iterator[bytes], what: str) -> Iterator[bytes]:
    """`pieces` with the first one read now, so a failure there is still a JSON error. A
    failure later ends the stream short (of Content-Length, or of a tar's end), and
    gunicorn closes the connection, so the client sees the cut."""
    first = next(pieces, b"")
    return _after_first(first, pieces, what)


def _after_first(first: bytes, pieces: Iterator[bytes], what: str) -> Iterator[bytes]:
    yield first
    try:
        yield from pieces
    except WfobjError as exc:
        log.error("%s download cut off: %s", what, exc)
        raise


def send_blob(store: ObjectStore, resp: falcon.Response, oid: str) -> None:
    """A blob's bytes as the answer: read whole and verified before the first byte up to
    WHOLE_DOWNLOAD, streamed and verified piece by piece past it."""
    resp.content_type = OCTETS
    size = store.size_of(oid)
    if size <= WHOLE_DOWNLOAD:
        resp.data = store.get_raw(oid)
    else:
        resp.content_length = size
        resp.stream = verified_stream(store, oid)


def _wants_cbor(req: falcon.Request) -> bool:
    return req.client_prefers([falcon.MEDIA_JSON, CBOR]) == CBOR


class ObjectItem:
    roles = {"GET": "reader"}

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def _headers(self, req: falcon.Request, resp: falcon.Response, oid: str) -> bool:
        """Set the headers both GET and HEAD send; True if the client's copy is current."""
        resp.etag = oid
        resp.cache_control = ["public", "max-age=31536000", "immutable"]
        resp.vary = ["Accept"]
        if req.if_none_match and any(tag == oid for tag in req.if_none_match):
            resp.status = falcon.HTTP_304
            return True
        return False

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        oid = hash_param(hash)
        structured = self.store.is_structured(oid)  # ObjectNotFound → 404
        if self._headers(req, resp, oid):
            return
        if not structured:
            send_blob(self.store, resp, oid)
        elif _wants_cbor(req):
            resp.content_type = CBOR
            resp.data = self.store.get_raw(oid)
        else:
            resp.content_type = falcon.MEDIA_JSON
            resp.data = json.dumps(to_json(self.store.get_object(oid))).encode()

    def on_head(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        oid = hash_param(hash)
        structured = self.store.is_structured(oid)
        if self._headers(req, resp, oid):
            return
        resp.set_header("X-Wfobj-Type", self.store.type_of(oid))
        if not structured:
            resp.content_type = OCTETS
            resp.content_length = self.store.size_of(oid)
        elif _wants_cbor(req):
            resp.content_type = CBOR
            resp.content_length = self.store.size_of(oid)
        else:
            resp.content_type = falcon.MEDIA_JSON


def _declared_hash(req: falcon.Request) -> str | None:
    """The X-Wfobj-Hash header and the `hash` query parameter, each checked (given but
    empty or malformed is 400); given both, they must name the same hash."""
    given = {hash_param(v) for v in (req.get_header(HASH_HEADER), req.get_param("hash"))
             if v is not None}
    if len(given) > 1:
        raise falcon.HTTPBadRequest(title="Invalid hash", description=f"{HASH_HEADER} and "
                                    "?hash= name different hashes")
    return given.pop() if given else None


def spool_upload(stream: BinaryIO) -> tuple[BinaryIO, str, int]:
    """Copy the body to a spool file, hashing as it goes: (spool, hash, size). Nothing
    reaches the store until the whole body has been read and checked."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    hasher = blake3.blake3()
    size = 0
    try:
        while piece := stream.read(READ_PIECE):
            size += len(piece)
            hasher.update(piece)
            spool.write(piece)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, hasher.hexdigest(), size


class ObjectUpload:
    roles = {"POST": "runner"}

    def __init__(self, store: ObjectStore, max_upload: int = DEFAULT_MAX_UPLOAD) -> None:
        self.store, self.max_upload = store, max_upload

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        declared = _declared_hash(req)
        spool, oid, size = spool_upload(upload_body(req, self.max_upload))
        with spool:
            if declared is not None and declared != oid:
                raise falcon.HTTPBadRequest(
                    title="Checksum mismatch",
                    description=f"declared hash {declared} but the body hashes to {oid}; "
                    "nothing was stored")
            stored, _ = self.store.put_stream(spool)
        resp.status = falcon.HTTP_201
        resp.location = f"/api/objects/{stored}"
        resp.media = {"hash": stored, "size": size}
