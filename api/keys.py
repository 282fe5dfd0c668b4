"""GET /api/keys: the public half of the server's signing key, to verify its signed
exports with (open: a public key is no secret, and verifiers may have no account)."""

from __future__ import annotations

import falcon

from wfobj.engine import WorkflowService

from .auth import OPEN


class Keys:
    roles = OPEN

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.service.public_keys()
