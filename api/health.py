"""GET /api/health: open, for load balancers and `wfobj serve` readiness checks."""

from __future__ import annotations

import falcon

from .auth import OPEN


class Health:
    roles = OPEN

    def __init__(self, engine_version: str) -> None:
        self.body = {"status": "ok", "engine_version": engine_version}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.body
