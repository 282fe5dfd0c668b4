"""A write batch: objects, ref compare-and-swaps and metadata that commit together or not at all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import blake3

from . import codec
from .codec import Link
from .errors import InvalidObject
from .ids import ObjectId, check_hash, checked_digest, oid_of
from .records import blob_record, struct_record
from .refs import check_ref_name


class ObjectOp(NamedTuple):
    """One record to write, and the digests it needs present in the store."""

    digest: bytes
    record: bytes
    links: list[bytes]


@dataclass
class RefOp:
    name: str
    old: bytes | None  # None: the ref must not exist yet
    new: bytes | None  # None: delete


@dataclass
class MetaOp:
    key: bytes
    value: bytes | None  # None: delete
    check: bool = False
    old: bytes | None = None
    delta: int = 0  # non-zero: add to the decimal counter stored under key (value unused)


@dataclass
class WriteBatch:
    """Writes that a store applies in one transaction, or not at all."""

    objects: list[ObjectOp] = field(default_factory=list)
    refs: list[RefOp] = field(default_factory=list)
    meta: list[MetaOp] = field(default_factory=list)
    needs: list[tuple[bytes, bool]] = field(default_factory=list)  # (digest, required)
    _pending: set[bytes] = field(default_factory=set, repr=False)

    def add_record(self, digest: bytes, record: bytes, links: Iterable[bytes] = ()) -> None:
        if digest not in self._pending:
            self._pending.add(digest)
            self.objects.append(ObjectOp(digest, record, list(links)))

    def put_blob(self, data: bytes) -> ObjectId:
        data = bytes(data)
        digest = blake3.blake3(data).digest()
        self.add_record(digest, blob_record(data))
        return oid_of(digest)

    def put_object(self, value: dict) -> ObjectId:
        """Encode and add a structured object (a map with a text `type` field)."""
        data, links = encode_structured(value)
        digest = blake3.blake3(data).digest()
        self.add_record(digest, struct_record(data), [bytes.fromhex(ln.oid) for ln in links])
        return oid_of(digest)

    def need(self, oid: str, *, required: bool = True) -> None:
        """This write relies on `oid` without linking it (a hash kept as text): the commit
        stamps it, so gc keeps it, and if `required`, fails whole (MissingLinks) without it."""
        self.needs.append((checked_digest(check_hash(oid)), required))

    def set_ref(self, name: str, old: str | None, new: str | None) -> None:
        """Compare-and-swap `name` from `old` (None: absent) to `new` (None: delete)."""
        check_ref_name(name)
        self.refs.append(RefOp(name, _opt_digest(old), _opt_digest(new)))

    def meta_put(self, ns: str, key: str, value: bytes) -> None:
        self.meta.append(MetaOp(meta_key(ns, key), value))

    def meta_delete(self, ns: str, key: str) -> None:
        self.meta.append(MetaOp(meta_key(ns, key), None))

    def meta_cas(self, ns: str, key: str, old: bytes | None, new: bytes | None) -> None:
        self.meta.append(MetaOp(meta_key(ns, key), new, check=True, old=old))

    def meta_add(self, ns: str, key: str, delta: int) -> None:
        """Add `delta` to the counter under `key` (a decimal integer; absent counts as 0),
        read and written in the commit's own transaction, so concurrent adds never race."""
        if delta:
            self.meta.append(MetaOp(meta_key(ns, key), None, delta=delta))

    def __bool__(self) -> bool:
        return bool(self.objects or self.refs or self.meta or self.needs)


def _opt_digest(oid: str | None) -> bytes | None:
    return None if oid is None else checked_digest(check_hash(oid))


def meta_key(ns: str, key: str) -> bytes:
    if "\x00" in ns or not ns:
        raise ValueError(f"bad meta namespace {ns!r}")
    return ns.encode() + b"\x00" + key.encode()


def encode_structured(value: dict) -> tuple[bytes, list[Link]]:
    """Canonical CBOR of a structured object, and its links."""
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise InvalidObject("a structured object must be a map with a text 'type' field")
    return codec.encode(value)
