"""Checking a signed in-toto export: the DSSE signature against known public keys, then
(given a way to read files) every subject's digests against the bytes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from wfobj.engine.errors import BadSignature, SubjectMismatch

from .digests import sha256_of
from .intoto import PAYLOAD_TYPE, STATEMENT_TYPE
from .signing import PublicKey, verify_envelope

# reads a file's bytes by BLAKE3 hash, verified; raises KeyError when it is not there
BlobReader = Callable[[str], Iterator[bytes]]


@dataclass(frozen=True)
class Verified:
    """What was checked: the signing key, the statement, and how many subjects were
    compared with their bytes (0 when no store was given)."""

    keyid: str
    statement: dict
    subjects_checked: int

    def to_json(self) -> dict:
        return {"ok": True, "keyid": self.keyid,
                "run_id": self.statement["predicate"]["runDetails"]["metadata"]["invocationId"],
                "subjects": len(self.statement["subject"]),
                "subjects_checked": self.subjects_checked}


def verify_attestation(data: bytes, keys: Iterable[PublicKey],
                       read_blob: BlobReader | None = None) -> Verified:
    """Verify the envelope in `data` (BadSignature) and, with `read_blob`, each subject
    (SubjectMismatch)."""
    try:
        envelope = json.loads(data)
    except ValueError as exc:
        raise BadSignature(f"not JSON ({exc})") from None
    if not isinstance(envelope, dict):
        raise BadSignature("not a DSSE envelope (a JSON object)")
    payload, keyid = verify_envelope(envelope, list(keys))
    statement = parse_statement(envelope.get("payloadType"), payload)
    checked = 0
    if read_blob is not None:
        for subject in statement["subject"]:
            check_subject(subject, read_blob)
            checked += 1
    return Verified(keyid, statement, checked)


def parse_statement(payload_type: str | None, payload: bytes) -> dict:
    if payload_type != PAYLOAD_TYPE:
        raise BadSignature(f"payload type {payload_type!r}, not {PAYLOAD_TYPE}")
    try:
        statement = json.loads(payload)
        ok = (statement["_type"] == STATEMENT_TYPE and isinstance(statement["subject"], list)
              and all(isinstance(s["digest"], dict) for s in statement["subject"]))
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise BadSignature("the signed payload is not an in-toto Statement v1")
    return statement


def check_subject(subject: dict, read_blob: BlobReader) -> None:
    """The file named by the subject's blake3 digest exists here (read verified, so its
    BLAKE3 matches) and its SHA-256 is the subject's."""
    name, digest = str(subject.get("name")), subject["digest"]
    oid = digest.get("blake3")
    if not oid:
        raise SubjectMismatch(name, "blake3", "(none)", None)
    try:
        got = sha256_of(read_blob(oid))
    except KeyError:
        raise SubjectMismatch(name, "blake3", oid, None) from None
    if got != digest.get("sha256"):
        raise SubjectMismatch(name, "sha256", str(digest.get("sha256")), got)
