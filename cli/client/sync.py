"""The sync Remote over HTTP: a `wfobj serve` reached by URL (protocol in docs/sync.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import requests

from wfobj.objstore import (
    CAR_MEDIA_TYPE,
    ObjectId,
    ReceiveStats,
    RefResult,
    RefUpdate,
    Remote,
    check_hash,
    digest_of,
    oid_of,
)

from .http import HttpClient

OCTETS = "application/octet-stream"


def pack_digests(ids: Iterable[str]) -> bytes:
    return b"".join(digest_of(check_hash(i)) for i in ids)


def unpack_digests(data: bytes) -> list[ObjectId]:
    if len(data) % 32:
        raise ValueError(f"digest list of {len(data)} bytes is not a multiple of 32")
    return [oid_of(data[i : i + 32]) for i in range(0, len(data), 32)]


class PackEndpoints:
    """`POST …/missing` and `POST …/packs` under `self.http`: the two calls that send
    objects, the same for sync (/api/sync) and for an attempt (/api/attempts/{spec})."""

    http: HttpClient

    def missing(self, ids: Sequence[str]) -> list[ObjectId]:
        response = self.http.request("POST", "/missing", data=pack_digests(ids),
                                     headers={"Content-Type": OCTETS})
        return unpack_digests(response.content)

    def send_pack(self, pieces: Iterable[bytes], size: int) -> ReceiveStats:
        answer = self.http.json("POST", "/packs", data=b"".join(pieces),
                                headers={"Content-Type": CAR_MEDIA_TYPE})
        return ReceiveStats(answer["blocks"], answer["stored"], answer["bytes"])


class HttpRemote(PackEndpoints, Remote):
    """Speaks the /api/sync/* endpoints of a wfobj server with a bearer token."""

    def __init__(self, url: str, token: str | None, session: requests.Session | None = None):
        self.http = HttpClient(url.rstrip("/") + "/api/sync", token, session=session)

    def list_refs(self) -> dict[str, ObjectId]:
        refs = self.http.json("GET", "/refs")["refs"]
        return {name: check_hash(oid) for name, oid in refs.items()}


    def list_objects(self, wants: Sequence[str], haves: Sequence[str]) -> list[ObjectId]:
        body = {"wants": list(wants), "haves": list(haves)}
        return unpack_digests(self.http.request("POST", "/objects", json=body).content)

    def fetch_pack(self, wants: Sequence[str], haves: Sequence[str]) -> Iterator[bytes]:
        body = {"wants": list(wants), "haves": list(haves)}
        return self.http.stream("POST", "/packs/download", json=body)

    def update_refs(self, updates: Sequence[RefUpdate], force: bool) -> list[RefResult]:
        body = {
            "updates": [{"name": u.name, "old": u.old, "new": u.new} for u in updates],
            "force": force,
        }
        results = self.http.json("POST", "/refs", json=body)["results"]
        return [RefResult.from_json(item) for item in results]

    def close(self) -> None:
        self.http.close()
