"""File resources: every run that produced, used or passed a blob, and its lineage
across runs."""

from __future__ import annotations

import falcon

from wfobj.engine import DEFAULT_DEPTH, MAX_DEPTH, WorkflowService, excerpt

from .params import hash_param, int_query


class FileItem:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        resp.media = self.service.file_info(hash_param(hash))


class FileLineage:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        direction = req.get_param("direction") or "up"
        if direction not in ("up", "down"):
            raise falcon.HTTPBadRequest(
                title="Invalid direction",
                description=f"invalid direction {excerpt(direction)}: up or down")
        resp.media = self.service.file_lineage(
            hash_param(hash), direction=direction,
            depth=int_query(req, "depth", DEFAULT_DEPTH, 1, MAX_DEPTH))
