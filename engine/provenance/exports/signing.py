"""The server's ed25519 signing key: one PEM file in the store folder, mode 0600 (a key
open to other users is refused).

Created on first start (`wfobj serve`, or the first local signed export), never written as
an object, so neither sync nor any API read can carry it off; only its public half is served
(`GET /api/keys`). Envelopes are DSSE (PAE over the payload type and bytes).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import (
    crypto_core_ed25519_scalar_add,
    crypto_core_ed25519_scalar_mul,
    crypto_core_ed25519_scalar_reduce,
    crypto_scalarmult_ed25519_base_noclamp,
)

from wfobj.engine.errors import BadSignature, SigningKeyError
from wfobj.engine.layout import KEY_FILE

ALGORITHM = "ed25519"


@dataclass(frozen=True)
class PublicKey:
    """A verifying key as `GET /api/keys` lists it."""

    keyid: str
    public_pem: str

    def to_json(self) -> dict:
        return {"keyid": self.keyid, "algorithm": ALGORITHM, "public_key_pem": self.public_pem}

    def crypto_key(self) -> Ed25519PublicKey:
        return load_public(self.public_pem)

    @classmethod
    def from_pem(cls, pem: str) -> PublicKey:
        """A key given as PEM text (checked: an ed25519 public key)."""
        text = public_pem_of(load_public(pem))
        return cls(keyid_of(text), text)


def load_public(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise SigningKeyError("public key", f"not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("public key", "not an ed25519 key")
    return key


@dataclass(frozen=True)
class ServerKey:
    """The private key and its public half."""

    private: Ed25519PrivateKey
    public: PublicKey

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


def public_pem_of(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def keyid_of(public_pem: str) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo: stable, and the same for every copy."""
    der = load_public(public_pem).public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def server_key(private: Ed25519PrivateKey) -> ServerKey:
    pem = public_pem_of(private.public_key())
    return ServerKey(private, PublicKey(keyid_of(pem), pem))


class KeyFile:
    """The key of one store folder, loaded (or created) on first use, then kept."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / KEY_FILE
        self._key: ServerKey | None = None
        self._lock = threading.Lock()

    def key(self) -> ServerKey:
        with self._lock:
            if self._key is None:
                self._key = load_or_create(self.path)
            return self._key

    def exists(self) -> bool:
        return self.path.exists()


def load_or_create(path: Path) -> ServerKey:
    """Read the key at `path`, or make one there (0600, created exclusively, so two
    processes starting at once agree on one key)."""
    if not path.exists():
        try:
            create_key(path)
        except FileExistsError:
            pass
    return load_key(path)


def create_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    try:
        os.link(tmp, path)  # fails if another process made the key first
    finally:
        tmp.unlink()


def load_key(path: Path) -> ServerKey:
    """The key at `path`, if only its owner may read it: a key others can read could
    sign anything as this server."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SigningKeyError(str(path), f"cannot read the signing key ({exc})") from None
    if mode & 0o077:
        raise SigningKeyError(str(path), f"the signing key is mode {mode:04o}, open to other "
                                         f"users, so it is not used (chmod 600 {path})")
    if not isinstance(private, Ed25519PrivateKey):
        raise SigningKeyError(str(path), "not an ed25519 private key")
    return server_key(private)


# DSSE ---------------------------------------------------------------------------------
def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_envelope(key: ServerKey, payload_type: str, payload: bytes) -> dict:
    sig = key.sign(pae(payload_type, payload))
    return {"payloadType": payload_type, "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": key.public.keyid, "sig": base64.b64encode(sig).decode()}]}


def pae_header(payload_type: str, length: int) -> bytes:
    """What comes before the payload's bytes in its PAE."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d " % (len(kind), kind, length)


class TwoPassSigner:
    """An ed25519 signature over a message read twice and never held: the same signature
    (RFC 8032 PureEdDSA, deterministic) `ServerKey.sign` makes over the whole message.

    PureEdDSA hashes the message twice: once with the key's secret prefix for the nonce
    r, then after R = r·B for the challenge k. `first(piece)` takes each piece of the
    first reading, `second(piece)` each of the second, and `signature()` gives
    R ‖ (r + k·a mod L). The scalar arithmetic and r·B are libsodium's (PyNaCl),
    constant-time; the key's bytes never leave this object.

    The two readings must be the same bytes: a nonce made from other bytes than those
    signed would still verify, but two such signatures sharing a nonce give the key
    away. So each reading is also hashed (BLAKE2b) and `signature()` refuses
    (ValueError) unless both match."""

    def __init__(self, key: ServerKey) -> None:
        seed = key.private.private_bytes(serialization.Encoding.Raw,
                                         serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())
        expanded = hashlib.sha512(seed).digest()
        clamped = bytearray(expanded[:32])
        clamped[0] &= 248
        clamped[31] = (clamped[31] & 127) | 64
        self._a = crypto_core_ed25519_scalar_reduce(bytes(clamped) + bytes(32))
        self._public = key.private.public_key().public_bytes(serialization.Encoding.Raw,
                                                             serialization.PublicFormat.Raw)
        self._nonce = hashlib.sha512(expanded[32:])
        self._r = self._big_r = b""
        self._challenge: hashlib._Hash | None = None
        self._readings = (hashlib.blake2b(), hashlib.blake2b())

    def first(self, piece: bytes) -> None:
        """The next piece of the first reading."""
        if self._challenge is not None:
            raise ValueError("the second reading has begun")
        self._nonce.update(piece)
        self._readings[0].update(piece)

    def second(self, piece: bytes) -> None:
        """The next piece of the second reading (the first ends at its first piece)."""
        if self._challenge is None:
            self._r = crypto_core_ed25519_scalar_reduce(self._nonce.digest())
            self._big_r = crypto_scalarmult_ed25519_base_noclamp(self._r)
            self._challenge = hashlib.sha512(self._big_r + self._public)
        self._challenge.update(piece)
        self._readings[1].update(piece)

    def signature(self) -> bytes:
        if self._challenge is None:
            self.second(b"")
        assert self._challenge is not None
        if self._readings[0].digest() != self._readings[1].digest():
            raise ValueError("the message read for the signature's nonce is not the one "
                             "read to sign: nothing is signed")
        k = crypto_core_ed25519_scalar_reduce(self._challenge.digest())
        return self._big_r + crypto_core_ed25519_scalar_add(
            self._r, crypto_core_ed25519_scalar_mul(k, self._a))


def verify_envelope(envelope: dict, keys: list[PublicKey]) -> tuple[bytes, str]:
    """The payload of `envelope` and the keyid that signed it, if one signature verifies
    with one of `keys`; else BadSignature."""
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        payload_type = envelope["payloadType"]
        signatures = [(s.get("keyid"), base64.b64decode(s["sig"], validate=True))
                      for s in envelope["signatures"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadSignature(f"not a DSSE envelope ({type(exc).__name__}: {exc})") from None
    message = pae(payload_type, payload)
    for key in keys:
        for keyid, sig in signatures:
            if keyid not in (None, "", key.keyid):
                continue
            try:
                key.crypto_key().verify(sig, message)
            except InvalidSignature:
                continue
            return payload, key.keyid
    raise BadSignature(f"no signature verifies with key(s) {', '.join(k.keyid for k in keys)}")
