"""Attempt endpoints (/api/attempts/{spec}/*): what `wfobj exec` on a cluster node calls.

Each request carries an attempt token (engine/executors/attempts.py), not an API token: it may list
and download the closure of its own attempt spec, ask which ids the server lacks, upload
packs (verified block by block, as /api/sync/packs) and submit its attempt's report once.
Any other spec, an expired token or one whose attempt has ended is refused with 403.
API tokens are not accepted here, and attempt tokens nowhere else.
"""

from __future__ import annotations

import base64

import falcon

from wfobj.engine import (
    AttemptGrant,
    AttemptTokenRefused,
    AttemptTokens,
    InvalidStoredObject,
    UploadBudgetSpent,
    attempt_secret_values,
)
from wfobj.objstore import (
    CAR_MEDIA_TYPE,
    ObjectStore,
    closure_ids,
    digest_of,
    is_hash,
    iter_pack,
    missing_ids,
    receive_pack,
)

from .auth import OPEN, bearer_token
from .sync import (
    MAX_MISSING_IDS,
    MAX_PACK_BODY,
    OCTETS,
    _bad_body,
    _digests,
    _fields,
    _hash_list,
    _json_body,
    _read_body,
    coalesce,
)

HAVES_BODY = '{"haves": [hash…]}'
REPORT_BODY = '{"report": hash}'


class AttemptResource:
    """Checks the attempt token against the spec in the path (the auth middleware lets
    these routes through: `roles` is open, the token check is here)."""

    roles = OPEN

    def __init__(self, store: ObjectStore):
        self.store = store
        self.tokens = AttemptTokens(store)

    def grant(self, req: falcon.Request, spec: str, reported_ok: bool = False) -> AttemptGrant:
        """The token's grant; once its report is in, the attempt is over for every route
        but a repeated report."""
        if not is_hash(spec):
            raise falcon.HTTPNotFound(title="Not found",
                                      description=f"{spec[:80]!r} is not an attempt spec hash")
        token = bearer_token(req)
        grant = self.tokens.check(token, spec)  # AttemptTokenRefused: 403 (api/errors.py)
        if not reported_ok and self.tokens.report_of(spec) is not None:
            raise AttemptTokenRefused("the attempt has reported: its token is spent")
        return grant

    def haves(self, req: falcon.Request) -> list[str]:
        title = "Bad attempt request"
        body = _fields(_json_body(req, title, HAVES_BODY), (), ("haves",), title, HAVES_BODY)
        return _hash_list(body, "haves", title, HAVES_BODY)


class ReceivedIds:
    """The store as receive_pack sees it, noting every id it asks about: each block's."""

    def __init__(self, store: ObjectStore):
        self.store = store
        self.oids: set[str] = set()

    def __contains__(self, oid: object) -> bool:
        self.oids.add(str(oid))
        return oid in self.store

    def __getattr__(self, name: str):
        return getattr(self.store, name)


class AttemptObjects(AttemptResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, spec: str) -> None:
        grant = self.grant(req, spec)
        haves = self.haves(req)
        listed = list(closure_ids(self.store, [grant.spec], haves))
        resp.content_type = OCTETS
        resp.data = b"".join(digest_of(oid) for oid in listed)


class AttemptPackDownload(AttemptResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, spec: str) -> None:
        grant = self.grant(req, spec)
        haves = self.haves(req)
        oids = closure_ids(self.store, [grant.spec], haves)
        resp.content_type = CAR_MEDIA_TYPE
        resp.stream = coalesce(iter_pack(self.store, oids))


class AttemptMissing(AttemptResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, spec: str) -> None:
        grant = self.grant(req, spec)
        ids = _digests(_read_body(req, MAX_MISSING_IDS * 32))
        # outside the attempt's closure every id is missing: the store is not probed
        ours = [oid for oid in ids if self.tokens.in_closure(grant, oid)]
        present = set(ours) - set(missing_ids(self.store, ours))
        resp.content_type = OCTETS
        resp.data = b"".join(digest_of(oid) for oid in ids if oid not in present)


class AttemptPacks(AttemptResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, spec: str) -> None:
        grant = self.grant(req, spec)
        try:
            objects, size = self.tokens.uploads_left(grant)
        except UploadBudgetSpent as exc:
            raise falcon.HTTPContentTooLarge(description=str(exc)) from None
        limit = min(MAX_PACK_BODY, size)
        if req.content_length is not None and req.content_length > limit:
            raise falcon.HTTPContentTooLarge(description=f"pack over {limit} bytes")
        seen = ReceivedIds(self.store)
        stats = receive_pack(seen, req.bounded_stream)
        self.tokens.record_uploads(grant, seen.oids, stats.bytes)
        if len(seen.oids) > objects:
            raise falcon.HTTPContentTooLarge(
                description=f"{len(seen.oids)} objects, over the {objects} left to this attempt")
        resp.media = {"blocks": stats.blocks, "stored": stats.stored, "bytes": stats.bytes}


class AttemptReport(AttemptResource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, spec: str) -> None:
        grant = self.grant(req, spec, reported_ok=True)
        title = "Bad attempt report"
        body = _fields(_json_body(req, title, REPORT_BODY), ("report",), (), title, REPORT_BODY)
        report = body["report"]
        if not is_hash(report):
            raise _bad_body(title, REPORT_BODY, '"report" is not a 64-character hash')
        if report not in self.store:
            raise falcon.HTTPConflict(title="Report not stored",
                                      description=f"object {report} is not on the server; "
                                      "send its pack first")
        try:
            self.tokens.accept_report(grant, report)
        except InvalidStoredObject as exc:  # the client's object, not damage here: 400
            raise _bad_body(title, REPORT_BODY, str(exc)) from None
        resp.media = {"spec": grant.spec, "report": report}


class AttemptSecrets(AttemptResource):
    """The values of the attempt's secrets, for the node holding its token, in memory
    (docs/secrets.md): {"secrets": {name: base64}} or {"unavailable": {"name", "reason"}}.
    Never cached, never logged."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, spec: str) -> None:
        grant = self.grant(req, spec)
        answer = attempt_secret_values(self.store, grant.spec)
        if "secrets" in answer:
            answer = {"secrets": {name: base64.b64encode(value).decode("ascii")
                                  for name, value in answer["secrets"].items()}}
        resp.set_header("Cache-Control", "no-store")
        resp.media = answer


def add_attempt_routes(app: falcon.App, store: ObjectStore) -> dict[str, object]:
    routes = {
        "/api/attempts/{spec}/objects": AttemptObjects(store),
        "/api/attempts/{spec}/packs/download": AttemptPackDownload(store),
        "/api/attempts/{spec}/missing": AttemptMissing(store),
        "/api/attempts/{spec}/packs": AttemptPacks(store),
        "/api/attempts/{spec}/report": AttemptReport(store),
        "/api/attempts/{spec}/secrets": AttemptSecrets(store),
    }
    for route, resource in routes.items():
        app.add_route(route, resource)
    return routes
