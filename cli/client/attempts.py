"""The AttemptServer over HTTP: the /api/attempts/{spec}/* endpoints of a `wfobj serve`
reached with an attempt token (docs/api.md, docs/executors.md)."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence

import requests

from wfobj.engine import AttemptServer
from wfobj.objstore import ObjectId, check_hash

from .http import HttpClient
from .sync import PackEndpoints, unpack_digests


class HttpAttemptServer(PackEndpoints, AttemptServer):
    """One attempt's endpoints; `wants` must be the attempt's spec (the server checks)."""

    def __init__(self, url: str, token: str, spec_oid: str,
                 session: requests.Session | None = None):
        self.spec = check_hash(spec_oid)
        self.http = HttpClient(f"{url.rstrip('/')}/api/attempts/{self.spec}", token,
                               session=session)

    def list_objects(self, wants: Sequence[str], haves: Sequence[str]) -> list[ObjectId]:
        return unpack_digests(
            self.http.request("POST", "/objects", json={"haves": list(haves)}).content)

    def fetch_pack(self, wants: Sequence[str], haves: Sequence[str]) -> Iterator[bytes]:
        return self.http.stream("POST", "/packs/download", json={"haves": list(haves)})


    def submit_report(self, report_oid: str) -> None:
        self.http.request("PUT", "/report", json={"report": report_oid})

    def secret_values(self) -> dict[str, bytes]:
        """POST /secrets: the values, decoded, in memory only; SecretUnavailable naming
        the one the server cannot give."""
        from wfobj.engine import SecretUnavailable

        answer = self.http.json("POST", "/secrets")
        if "unavailable" in answer:
            gone = answer["unavailable"]
            raise SecretUnavailable(str(gone.get("name")), str(gone.get("reason")))
        return {name: base64.b64decode(value) for name, value in answer["secrets"].items()}

    def close(self) -> None:
        self.http.close()
