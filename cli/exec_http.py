"""The AttemptServer over HTTP: the /api/attempts/{spec}/* endpoints of a `wfobj serve`
reached with an attempt token (docs/api.md, docs/executors.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import requests

from engine.remote_exec import AttemptServer
from objstore.car import CAR_MEDIA_TYPE, ReceiveStats
from objstore.ids import ObjectId, check_hash

from .sync_http import OCTETS, TIMEOUT, RemoteError, _error_text, pack_digests, unpack_digests

DOWNLOAD_PIECE = 1 << 20


class HttpAttemptServer(AttemptServer):
    """One attempt's endpoints; `wants` must be the attempt's spec (the server checks)."""

    def __init__(self, url: str, token: str, spec_oid: str,
                 session: requests.Session | None = None):
        self.spec = check_hash(spec_oid)
        self.base = f"{url.rstrip('/')}/api/attempts/{self.spec}"
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        url = self.base + path
        try:
            response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise RemoteError(url, None, str(exc)) from None
        if response.status_code >= 400:
            raise RemoteError(url, response.status_code, _error_text(response))
        return response

    def list_objects(self, wants: Sequence[str], haves: Sequence[str]) -> list[ObjectId]:
        return unpack_digests(self._call("POST", "/objects", json={"haves": list(haves)}).content)

    def fetch_pack(self, wants: Sequence[str], haves: Sequence[str]) -> Iterator[bytes]:
        response = self._call("POST", "/packs/download", json={"haves": list(haves)},
                              stream=True)
        try:
            yield from response.iter_content(DOWNLOAD_PIECE)
        except requests.RequestException as exc:
            raise RemoteError(self.base + "/packs/download", None, str(exc)) from None
        finally:
            response.close()

    def missing(self, ids: Sequence[str]) -> list[ObjectId]:
        response = self._call("POST", "/missing", data=pack_digests(ids),
                              headers={"Content-Type": OCTETS})
        return unpack_digests(response.content)

    def send_pack(self, pieces: Iterable[bytes], size: int) -> ReceiveStats:
        response = self._call("POST", "/packs", data=b"".join(pieces),
                              headers={"Content-Type": CAR_MEDIA_TYPE})
        answer = response.json()
        return ReceiveStats(answer["blocks"], answer["stored"], answer["bytes"])

    def submit_report(self, report_oid: str) -> None:
        self._call("PUT", "/report", json={"report": report_oid})

    def close(self) -> None:
        self.session.close()
