"""Sync endpoints (/api/sync/*): refs, missing ids, closure listing, pack upload/download.

HTTP only: bodies in and out; the protocol lives in objstore.sync and objstore.car, the
ref rules in the policy given (engine/upkeep/sync_policy.py), and library errors become HTTP
answers in api/errors.py (docs/sync.md). Each resource says which role each method needs
in `roles`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

import falcon

from wfobj.engine import DocumentError, excerpt, load_json
from wfobj.objstore import (
    CAR_MEDIA_TYPE,
    MAX_BLOCK,
    ObjectStore,
    RefPolicy,
    RefUpdate,
    apply_ref_updates,
    closure_ids,
    digest_of,
    is_hash,
    iter_pack,
    missing_ids,
    oid_of,
    receive_pack,
)

OCTETS = "application/octet-stream"
MAX_MISSING_IDS = 100_000
MAX_JSON_BODY = 64 << 20
MAX_PACK_BODY = MAX_BLOCK + (8 << 20)
STREAM_PIECE = 1 << 20

def _read_body(req: falcon.Request, limit: int) -> bytes:
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(description=f"body over {limit} bytes")
    data = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise falcon.HTTPContentTooLarge(description=f"body over {limit} bytes")
    return data


WANTS_BODY = '{"wants": [hash…], "haves": [hash…]}'
REFS_BODY = '{"updates": [{"name", "old", "new"}…], "force": true|false}'


def _bad_body(title: str, expected: str, problem: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(title=title, description=f"{problem}; expected {expected}")


def _json_body(req: falcon.Request, title: str, expected: str) -> Any:
    try:
        return load_json(_read_body(req, MAX_JSON_BODY))
    except DocumentError as exc:
        raise _bad_body(title, expected, f"body is {exc}") from None


def _fields(value: Any, required: tuple[str, ...], optional: tuple[str, ...], title: str,
            expected: str, what: str = "the body") -> dict:
    """`value` as an object with exactly these keys (the schema's additionalProperties:
    false), or 400."""
    if not isinstance(value, dict):
        raise _bad_body(title, expected, f"{what} is not a JSON object")
    missing = [key for key in required if key not in value]
    unknown = [key for key in value if key not in required + optional]
    if missing or unknown:
        problem = (f"{what} lacks {', '.join(missing)}" if missing
                   else f"{what} has unknown keys {excerpt(unknown)}")
        raise _bad_body(title, expected, problem)
    return value


def _hash_list(body: dict, key: str, title: str, expected: str) -> list[str]:
    items = body.get(key, [])
    if not isinstance(items, list):
        raise _bad_body(title, expected, f'"{key}" is not a list')
    for item in items:
        if not is_hash(item):
            raise _bad_body(title, expected,
                            f'"{key}" holds {excerpt(item)}, not a 64-character hash')
    return items


def _wants_haves(req: falcon.Request) -> tuple[list[str], list[str]]:
    title = "Bad sync request"
    body = _fields(_json_body(req, title, WANTS_BODY), ("wants",), ("haves",), title,
                   WANTS_BODY)
    return (_hash_list(body, "wants", title, WANTS_BODY),
            _hash_list(body, "haves", title, WANTS_BODY))


def _ref_updates(req: falcon.Request) -> tuple[list[RefUpdate], bool]:
    title = "Bad ref update"
    body = _fields(_json_body(req, title, REFS_BODY), ("updates",), ("force",), title,
                   REFS_BODY)
    force = body.get("force", False)
    if not isinstance(body["updates"], list) or not isinstance(force, bool):
        raise _bad_body(title, REFS_BODY, '"updates" must be a list, "force" true or false')
    updates = []
    for item in body["updates"]:
        _fields(item, ("name", "old", "new"), (), title, REFS_BODY, "an update")
        updates.append(RefUpdate.from_json(item))
    return updates, force


def _digests(data: bytes) -> list[str]:
    if not data or len(data) % 32:
        raise falcon.HTTPBadRequest(
            title="Bad sync request",
            description=f"body of {len(data)} bytes is not a list of one or more 32-byte "
            "digests",
        )
    return [oid_of(data[i : i + 32]) for i in range(0, len(data), 32)]


def coalesce(pieces: Iterable[bytes], size: int = STREAM_PIECE) -> Iterator[bytes]:
    """Join small pieces into writes of about `size` bytes."""
    buf: list[bytes] = []
    held = 0
    for piece in pieces:
        buf.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(buf)
            buf, held = [], 0
    if buf:
        yield b"".join(buf)


class SyncRefs:
    roles = {"GET": "reader", "POST": "admin"}

    def __init__(self, store: ObjectStore, policy: RefPolicy):
        self.store, self.policy = store, policy

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"refs": dict(self.store.refs())}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        updates, force = _ref_updates(req)
        results = apply_ref_updates(self.store, updates, self.policy, force=force)
        resp.media = {"results": [asdict(r) for r in results]}


class SyncMissing:
    roles = {"POST": "reader"}

    def __init__(self, store: ObjectStore):
        self.store = store

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        ids = _digests(_read_body(req, MAX_MISSING_IDS * 32))
        resp.content_type = OCTETS
        resp.data = b"".join(digest_of(oid) for oid in missing_ids(self.store, ids))


class SyncObjects:
    roles = {"POST": "reader"}

    def __init__(self, store: ObjectStore):
        self.store = store

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        wants, haves = _wants_haves(req)
        listed = list(closure_ids(self.store, wants, haves))
        resp.content_type = OCTETS
        resp.data = b"".join(digest_of(oid) for oid in listed)


class SyncPacks:
    roles = {"POST": "runner"}

    def __init__(self, store: ObjectStore):
        self.store = store

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.content_length is not None and req.content_length > MAX_PACK_BODY:
            raise falcon.HTTPContentTooLarge(description=f"pack over {MAX_PACK_BODY} bytes")
        stats = receive_pack(self.store, req.bounded_stream)
        resp.media = {"blocks": stats.blocks, "stored": stats.stored, "bytes": stats.bytes}


class SyncPackDownload:
    roles = {"POST": "reader"}

    def __init__(self, store: ObjectStore):
        self.store = store

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        wants, haves = _wants_haves(req)
        oids = closure_ids(self.store, wants, haves)  # checks the wants before streaming
        resp.content_type = CAR_MEDIA_TYPE
        resp.stream = coalesce(iter_pack(self.store, oids))


def add_sync_routes(app: falcon.App, store: ObjectStore, policy: RefPolicy
                    ) -> dict[str, object]:
    """Mount the sync resources on `app`, ref updates following `policy`; returns
    {route: resource}."""
    routes = {
        "/api/sync/refs": SyncRefs(store, policy),
        "/api/sync/missing": SyncMissing(store),
        "/api/sync/objects": SyncObjects(store),
        "/api/sync/packs": SyncPacks(store),
        "/api/sync/packs/download": SyncPackDownload(store),
    }
    for route, resource in routes.items():
        app.add_route(route, resource)
    return routes
