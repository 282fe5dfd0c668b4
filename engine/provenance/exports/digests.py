"""SHA-256 of the store's files, for the formats that name a file by it (RO-Crate,
in-toto) and for checking a signed export's subjects: read piece by piece (each piece
BLAKE3-verified by the store), never held whole."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from wfobj.objstore import ObjectStore


def sha256_of_blob(store: ObjectStore, oid: str) -> str:
    """SHA-256 of a blob's bytes, read (and BLAKE3-verified) piece by piece."""
    return sha256_of(store.iter_blob(oid))


def sha256_of(pieces: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    return digest.hexdigest()


class Sha256s:
    """The SHA-256 of the first `kept` files asked for or given, by blob hash; any other
    read again from the store when asked. The first ones, never the latest: a format
    reads the run's files in the same order on every pass, so keeping the latest would
    miss every time once a run has more files than `kept`."""

    def __init__(self, store: ObjectStore, kept: int) -> None:
        self.store, self.kept = store, kept
        self.digests: dict[bytes, bytes] = {}  # by the blob hash's 32 bytes
        self.computed = 0  # files read for their digest (a file read again counts again)

    def __call__(self, oid: str) -> str:
        found = self.digests.get(bytes.fromhex(oid))
        if found is not None:
            return found.hex()
        self.computed += 1
        digest = sha256_of_blob(self.store, oid)
        self.keep(oid, digest)
        return digest

    def keep(self, oid: str, digest: str) -> None:
        """Note `oid`'s digest (taken elsewhere, as its bytes were sent) while there is room."""
        if len(self.digests) < self.kept:
            self.digests[bytes.fromhex(oid)] = bytes.fromhex(digest)
