"""Object ids: BLAKE3-256 hashes as 64 lower-case hex chars, and their CIDv1 form for links."""

from __future__ import annotations

import re
from typing import NewType

import blake3

from .errors import InvalidHash

ObjectId = NewType("ObjectId", str)
RefName = NewType("RefName", str)

HASH_HEX_LEN = 64
MIN_PREFIX_LEN = 6
CODEC_RAW = 0x55
CODEC_DAG_CBOR = 0x71
MULTIHASH_BLAKE3 = 0x1E
_CID_HEADER = {
    CODEC_RAW: bytes([0x01, CODEC_RAW, MULTIHASH_BLAKE3, 0x20]),
    CODEC_DAG_CBOR: bytes([0x01, CODEC_DAG_CBOR, MULTIHASH_BLAKE3, 0x20]),
}
_HEX_RE = re.compile(r"[0-9a-f]+\Z")


def check_hash(value: str) -> ObjectId:
    """Return `value` as an ObjectId, or raise InvalidHash if it is not a full hex hash."""
    if not isinstance(value, str) or len(value) != HASH_HEX_LEN or not _HEX_RE.match(value):
        raise InvalidHash(str(value))
    return value  # type: ignore[return-value]  # an ObjectId (the NewType call costs a frame)


def checked_digest(value: str) -> bytes:
    """The 32 raw bytes of a full hex hash, or InvalidHash (the fast form of check_hash)."""
    try:
        digest = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise InvalidHash(str(value)) from None
    # fromhex also takes upper case and spaces; only the canonical spelling round-trips
    if len(digest) != 32 or digest.hex() != value:
        raise InvalidHash(str(value))
    return digest


def check_prefix(value: str) -> str:
    """Check an abbreviated hash: lower-case hex, at least MIN_PREFIX_LEN chars."""
    if not isinstance(value, str) or not _HEX_RE.match(value or "-"):
        raise InvalidHash(str(value), "not lower-case hex")
    if len(value) > HASH_HEX_LEN:
        raise InvalidHash(value, "longer than 64 characters")
    if len(value) < MIN_PREFIX_LEN:
        raise InvalidHash(value, f"abbreviated hashes need at least {MIN_PREFIX_LEN} characters")
    return value


def is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == HASH_HEX_LEN and bool(_HEX_RE.match(value))


def hash_bytes(data: bytes | bytearray | memoryview) -> ObjectId:
    """The id of these bytes: hex BLAKE3-256, what `b3sum` prints."""
    return ObjectId(blake3.blake3(data).hexdigest())


def digest_of(oid: str) -> bytes:
    """The 32 raw bytes of a hex id (the store's key form)."""
    return bytes.fromhex(oid)


def oid_of(digest: bytes) -> ObjectId:
    return ObjectId(digest.hex())


def cid_bytes(oid: str, codec: int) -> bytes:
    """Binary CIDv1 (codec, blake3 multihash) for a link to `oid`."""
    return _CID_HEADER[codec] + bytes.fromhex(oid)


def parse_cid(data: bytes) -> tuple[ObjectId, int]:
    """Inverse of cid_bytes: (oid, codec). Raises ValueError on anything else."""
    if len(data) != 36 or data[0] != 0x01 or data[2] != MULTIHASH_BLAKE3 or data[3] != 0x20:
        raise ValueError("not a CIDv1 with a 32-byte blake3 multihash")
    codec = data[1]
    if codec not in _CID_HEADER:
        raise ValueError(f"unsupported CID codec 0x{codec:x}")
    return oid_of(data[4:]), codec
