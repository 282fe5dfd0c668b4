"""The sync Remote over HTTP: a `wfobj serve` reached by URL (protocol in docs/sync.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence

import requests

from objstore.car import CAR_MEDIA_TYPE, ReceiveStats
from objstore.errors import WfobjError
from objstore.ids import ObjectId, check_hash, digest_of, oid_of
from objstore.sync import RefResult, RefUpdate, Remote

OCTETS = "application/octet-stream"
DOWNLOAD_PIECE = 1 << 20
TIMEOUT = (10, 600)  # connect, read (seconds)


class RemoteError(WfobjError):
    """The server refused a sync request or could not be reached."""

    def __init__(self, url: str, status: int | None, message: str):
        self.url, self.status, self.message = url, status, message
        where = f"HTTP {status}" if status else "unreachable"
        super().__init__(f"{url}: {where}: {message}")


def pack_digests(ids: Iterable[str]) -> bytes:
    return b"".join(digest_of(check_hash(i)) for i in ids)


def unpack_digests(data: bytes) -> list[ObjectId]:
    if len(data) % 32:
        raise ValueError(f"digest list of {len(data)} bytes is not a multiple of 32")
    return [oid_of(data[i : i + 32]) for i in range(0, len(data), 32)]


class HttpRemote(Remote):
    """Speaks the /api/sync/* endpoints of a wfobj server with a bearer token."""

    def __init__(self, url: str, token: str | None, session: requests.Session | None = None):
        self.base = url.rstrip("/") + "/api/sync"
        self.session = session or requests.Session()
        if token:
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

    def list_refs(self) -> dict[str, ObjectId]:
        refs = self._call("GET", "/refs").json()["refs"]
        return {name: check_hash(oid) for name, oid in refs.items()}

    def missing(self, ids: Sequence[str]) -> list[ObjectId]:
        body = pack_digests(ids)
        response = self._call("POST", "/missing", data=body, headers={"Content-Type": OCTETS})
        return unpack_digests(response.content)

    def send_pack(self, pieces: Iterable[bytes], size: int) -> ReceiveStats:
        body = b"".join(pieces)
        response = self._call("POST", "/packs", data=body, headers={"Content-Type": CAR_MEDIA_TYPE})
        answer = response.json()
        return ReceiveStats(answer["blocks"], answer["stored"], answer["bytes"])

    def list_objects(self, wants: Sequence[str], haves: Sequence[str]) -> list[ObjectId]:
        body = {"wants": list(wants), "haves": list(haves)}
        return unpack_digests(self._call("POST", "/objects", json=body).content)

    def fetch_pack(self, wants: Sequence[str], haves: Sequence[str]) -> Iterator[bytes]:
        body = {"wants": list(wants), "haves": list(haves)}
        response = self._call("POST", "/packs/download", json=body, stream=True)
        try:
            yield from response.iter_content(DOWNLOAD_PIECE)
        except requests.RequestException as exc:
            raise RemoteError(self.base + "/packs/download", None, str(exc)) from None
        finally:
            response.close()

    def update_refs(self, updates: Sequence[RefUpdate], force: bool) -> list[RefResult]:
        body = {
            "updates": [{"name": u.name, "old": u.old, "new": u.new} for u in updates],
            "force": force,
        }
        results = self._call("POST", "/refs", json=body).json()["results"]
        return [RefResult.from_json(item) for item in results]

    def close(self) -> None:
        self.session.close()


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text[:200] or response.reason
    if isinstance(body, dict):
        return str(body.get("description") or body.get("title") or body)
    return str(body)
