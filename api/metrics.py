"""GET and HEAD /metrics: the Prometheus text format of engine/upkeep/metrics.py, for a scraper holding a
reader token (`Authorization: Bearer …`, docs/api.md)."""

from __future__ import annotations

import falcon

from wfobj.engine import CONTENT_TYPE, exposition, gather
from wfobj.objstore import ObjectStore


class MetricsResource:
    roles = {"GET": "reader"}

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE
        resp.text = exposition(gather(self.store))

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        """GET's headers, Content-Length included; Falcon sends no body for HEAD."""
        self.on_get(req, resp)
