"""The store interface: a few backend primitives, everything else written once on top.

Records, as backends keep them under the 32 raw bytes of an object's hash:
  b"B" + content                 a blob kept whole
  b"S" + canonical CBOR          a structured object
  b"C" + index digest + size(8)  a large blob kept as content-defined chunks; the index is
                                 a structured `chunklist` object linking the chunk blobs
Backends commit a WriteBatch atomically and enforce closure and compare-and-swap inside
the same transaction, so no reader ever sees an object without what it links to.
"""

from __future__ import annotations

import abc
import contextlib
import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

import blake3

from . import codec, native
from .codec import Link
from .errors import (
    AmbiguousPrefix,
    ChecksumMismatch,
    ConflictError,
    InvalidObject,
    ObjectNotFound,
    RefNotFound,
)
from .ids import (
    CODEC_DAG_CBOR,
    CODEC_RAW,
    HASH_HEX_LEN,
    ObjectId,
    check_hash,
    check_prefix,
    checked_digest,
    digest_of,
    oid_of,
)
from .native import VERIFY_MAX_RECORD
from .refs import check_ref_name

_blake3 = blake3.blake3
KIND_BLOB = b"B"
KIND_STRUCT = b"S"
KIND_CHUNKED = b"C"
CHUNKLIST_TYPE = "chunklist"


class ObjectOp(NamedTuple):
    """One record to write (a tuple: batches of many small objects allocate one each)."""

    digest: bytes
    record: bytes
    links: list[bytes]


_new_op = tuple.__new__  # ObjectOp(...) without the Python-level __new__ frame


@dataclass
class RefOp:
    name: str
    old: bytes | None  # None: the ref must not exist yet
    new: bytes | None  # None: delete
    check: bool = True  # False: set unconditionally


@dataclass
class MetaOp:
    key: bytes
    value: bytes | None  # None: delete
    check: bool = False
    old: bytes | None = None


@dataclass
class WriteBatch:
    """Writes that a backend applies in one transaction, or not at all."""

    objects: list[ObjectOp] = field(default_factory=list)
    refs: list[RefOp] = field(default_factory=list)
    meta: list[MetaOp] = field(default_factory=list)
    _pending: set[bytes] = field(default_factory=set)
    # digests this writer committed earlier (objects are never deleted, so they are still
    # there); closure checks skip looking them up, which would fault their pages into RSS
    known_present: set[bytes] = field(default_factory=set)

    def add_record(self, digest: bytes, record: bytes, links: Iterable[bytes] = ()) -> None:
        if digest not in self._pending:
            self._pending.add(digest)
            self.objects.append(_new_op(ObjectOp, (digest, record, list(links))))

    def put_blob(self, data: bytes) -> ObjectId:
        digest = blake3.blake3(data).digest()
        self.add_record(digest, KIND_BLOB + bytes(data))
        return oid_of(digest)

    def put_object(self, value: dict) -> ObjectId:
        """Encode and add a structured object built by wfobj itself."""
        record, digest, links = encode_structured_record(value)
        pending = self._pending
        if digest not in pending:
            pending.add(digest)
            link_digests = [bytes.fromhex(link.oid) for link in links] if links else links
            self.objects.append(_new_op(ObjectOp, (digest, record, link_digests)))
        return digest.hex()  # type: ignore[return-value]  # an ObjectId; NewType call is slow

    def put_objects(self, values: Iterable[dict]) -> list[ObjectId]:
        """put_object for many values, with the per-object overhead hoisted out."""
        pending = self._pending
        add_op = self.objects.append
        fromhex = bytes.fromhex
        oids: list[ObjectId] = []
        add_oid = oids.append
        # Encoding allocates many small containers, none of them in a cycle; left on,
        # the cyclic collector runs every few hundred objects and rescans the batch so
        # far, about an eighth of the cost of a large batch.
        collecting = gc.isenabled()
        if collecting:
            gc.disable()
        try:
            for value in values:
                record, digest, links = encode_structured_record(value)
                if digest not in pending:
                    pending.add(digest)
                    if links:
                        links = (
                            [fromhex(links[0].oid)] if len(links) == 1
                            else [fromhex(link.oid) for link in links]
                        )
                    add_op(_new_op(ObjectOp, (digest, record, links)))
                add_oid(digest.hex())  # type: ignore[arg-type]  # an ObjectId
        finally:
            if collecting:
                gc.enable()
        return oids

    def set_ref(self, name: str, old: str | None, new: str | None) -> None:
        """Compare-and-swap `name` from `old` (None: absent) to `new` (None: delete)."""
        check_ref_name(name)
        self.refs.append(RefOp(name, _opt_digest(old), _opt_digest(new)))

    def force_ref(self, name: str, new: str) -> None:
        check_ref_name(name)
        self.refs.append(RefOp(name, None, digest_of(check_hash(new)), check=False))

    def meta_put(self, ns: str, key: str, value: bytes) -> None:
        self.meta.append(MetaOp(meta_key(ns, key), value))

    def meta_delete(self, ns: str, key: str) -> None:
        self.meta.append(MetaOp(meta_key(ns, key), None))

    def meta_cas(self, ns: str, key: str, old: bytes | None, new: bytes | None) -> None:
        self.meta.append(MetaOp(meta_key(ns, key), new, check=True, old=old))

    def __bool__(self) -> bool:
        return bool(self.objects or self.refs or self.meta)


def _opt_digest(oid: str | None) -> bytes | None:
    return None if oid is None else digest_of(check_hash(oid))


def meta_key(ns: str, key: str) -> bytes:
    if "\x00" in ns or not ns:
        raise ValueError(f"bad meta namespace {ns!r}")
    return ns.encode() + b"\x00" + key.encode()


def encode_structured(value: dict) -> tuple[bytes, list[Link]]:
    """Encode a structured object: a map with a text `type` field."""
    check_structured(value)
    return codec.encode(value)


def encode_structured_record(value: dict) -> tuple[bytes, bytes, list[Link]]:
    """A structured object's record (b"S" + canonical CBOR), raw id and links."""
    check_structured(value)
    return codec.encode_record(value, KIND_STRUCT)


def check_structured(value: dict) -> None:
    if type(value) is dict and type(value.get("type")) is str:
        return
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise InvalidObject("a structured object must be a map with a text 'type' field")


def payload_digest(payload: bytes | memoryview) -> bytes:
    """BLAKE3 of a record's payload: small ones in one compiled call when objstore._cnative
    is built (constructing a blake3 hasher costs as much as hashing a small object)."""
    compiled = native.compiled
    if compiled is not None and len(payload) <= VERIFY_MAX_RECORD:
        return compiled.blake3(payload)
    return _blake3(payload).digest()


def check_record_digest(digest: bytes, record: bytes) -> None:
    """Verify a whole (B or S) record's payload against the hash it is stored under."""
    got = payload_digest(memoryview(record)[1:])
    if got != digest:
        raise ChecksumMismatch(digest.hex(), got.hex())


class ObjectStore(abc.ABC):
    """A content-addressed object store with refs and a small metadata table."""

    # ---- backend primitives -------------------------------------------------------
    @abc.abstractmethod
    def _get_record(self, digest: bytes) -> bytes | None: ...

    @abc.abstractmethod
    def _has(self, digest: bytes) -> bool: ...

    @abc.abstractmethod
    def _iter_digests(self, start: bytes = b"") -> Iterator[bytes]:
        """Digests in ascending byte order, from `start` on."""

    @abc.abstractmethod
    def _commit(self, batch: WriteBatch) -> None:
        """Apply a batch in one transaction: closure and CAS checks, all or nothing."""

    @abc.abstractmethod
    def _get_ref(self, name: str) -> bytes | None: ...

    @abc.abstractmethod
    def _iter_refs(self, prefix: str) -> Iterator[tuple[str, bytes]]: ...

    @abc.abstractmethod
    def _meta_get(self, key: bytes) -> bytes | None: ...

    @abc.abstractmethod
    def _meta_scan(
        self, prefix: bytes, start: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        """Keys with `prefix`, ascending from `start` (or descending below it if reverse)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources; the store may be reopened lazily afterwards."""

    # ---- writing ------------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self) -> Iterator[WriteBatch]:
        """Collect writes and commit them atomically when the block ends without error."""
        batch = WriteBatch()
        yield batch
        if batch:
            self._commit(batch)

    def put_blob(self, data: bytes) -> ObjectId:
        """Store bytes as a blob (chunked if large); returns blake3(data)."""
        from .chunking import CHUNK_THRESHOLD, put_stream

        if len(data) > CHUNK_THRESHOLD:
            import io

            return put_stream(self, io.BytesIO(data))[0]
        with self.batch() as b:
            return b.put_blob(data)

    def put_stream(self, stream: BinaryIO) -> tuple[ObjectId, int]:
        """Store a file-like object as a blob without reading it whole; (id, size)."""
        from .chunking import put_stream

        return put_stream(self, stream)

    def put_object(self, value: dict) -> ObjectId:
        with self.batch() as b:
            return b.put_object(value)

    def put_objects(self, values: Iterable[dict]) -> list[ObjectId]:
        """Add many structured objects (children before parents) in one transaction."""
        with self.batch() as b:
            return b.put_objects(values)

    def add_raw(self, data: bytes, codec_id: int, expected: str | None = None) -> ObjectId:
        """Add untrusted bytes as a blob (raw) or structured object (dag-cbor), verified."""
        with self.batch() as b:
            return self.stage_raw(b, data, codec_id, expected)

    def stage_raw(
        self, batch: WriteBatch, data: bytes, codec_id: int, expected: str | None = None
    ) -> ObjectId:
        """Verify untrusted bytes and add them to `batch` (hash, canonical form, links)."""
        digest = blake3.blake3(data).digest()
        if expected is not None and digest != digest_of(check_hash(expected)):
            raise ChecksumMismatch(expected, digest.hex())
        if codec_id == CODEC_RAW:
            batch.add_record(digest, KIND_BLOB + bytes(data))
        elif codec_id == CODEC_DAG_CBOR:
            value = codec.decode(data)
            if not isinstance(value, dict) or not isinstance(value.get("type"), str):
                raise InvalidObject("structured object is not a map with a 'type'", digest.hex())
            links = [digest_of(link.oid) for link in codec.links_in(value)]
            batch.add_record(digest, KIND_STRUCT + bytes(data), links)
        else:
            raise InvalidObject(f"unknown codec 0x{codec_id:x}")
        return oid_of(digest)

    # ---- reading ------------------------------------------------------------------
    def __contains__(self, oid: object) -> bool:
        if not isinstance(oid, str) or len(oid) != HASH_HEX_LEN:
            return False
        try:
            return self._has(digest_of(oid))
        except ValueError:
            return False

    def __iter__(self) -> Iterator[ObjectId]:
        return (oid_of(d) for d in self._iter_digests())

    def record(self, oid: str) -> bytes:
        """The stored record of `oid` (unverified); ObjectNotFound if absent."""
        rec = self._get_record(checked_digest(oid))
        if rec is None:
            raise ObjectNotFound(oid)
        return rec

    def is_structured(self, oid: str) -> bool:
        return self.record(oid)[:1] == KIND_STRUCT

    def get_raw(self, oid: str) -> bytes:
        """The exact bytes whose BLAKE3 is `oid`, verified. Large blobs: use iter_blob."""
        digest = checked_digest(oid)
        rec = self._get_record(digest)
        if rec is None:
            raise ObjectNotFound(oid)
        if rec[:1] == KIND_CHUNKED:
            return b"".join(self.iter_blob(oid))
        payload = rec[1:]
        if payload_digest(payload) != digest:
            raise ChecksumMismatch(oid, _blake3(payload).hexdigest())
        return payload

    def get_raws(self, oids: Iterable[str]) -> list[bytes]:
        """get_raw of many objects, in order (backends may read them in one snapshot)."""
        return [self.get_raw(oid) for oid in oids]

    def iter_blob(self, oid: str) -> Iterator[bytes]:
        """Stream an object's bytes, every piece verified; raises ChecksumMismatch."""
        rec = self.record(oid)
        if rec[:1] != KIND_CHUNKED:
            check_record_digest(digest_of(oid), rec)
            yield rec[1:]
            return
        hasher = blake3.blake3()
        for chunk_oid, _size in self.chunk_list(oid):
            data = self.get_raw(chunk_oid)
            hasher.update(data)
            yield data
        if hasher.hexdigest() != oid:
            raise ChecksumMismatch(oid, hasher.hexdigest())

    def get_object(self, oid: str) -> dict:
        """A structured object's decoded value (links as Link), verified."""
        rec = self.record(oid)
        if rec[:1] != KIND_STRUCT:
            raise InvalidObject("is a blob, not a structured object", oid)
        check_record_digest(digest_of(oid), rec)
        return codec.decode(rec[1:])

    def get_trusted(self, oid: str) -> dict:
        """Decode a structured object without re-checking hash or canonical form (hot paths)."""
        import cbor2

        rec = self.record(oid)
        if rec[:1] != KIND_STRUCT:
            raise InvalidObject("is a blob, not a structured object", oid)
        return cbor2.loads(rec[1:], tag_hook=codec._tag_hook)

    def chunk_list(self, oid: str) -> list[tuple[ObjectId, int]]:
        """The (chunk id, size) list of a chunked blob; [] for one stored whole."""
        rec = self.record(oid)
        if rec[:1] != KIND_CHUNKED:
            return []
        index = self.get_object(oid_of(rec[1:33]))
        return [(link.oid, size) for link, size in index["chunks"]]

    def chunk_index_id(self, oid: str) -> ObjectId | None:
        rec = self.record(oid)
        return oid_of(rec[1:33]) if rec[:1] == KIND_CHUNKED else None

    def type_of(self, oid: str) -> str:
        """'blob', or a structured object's `type` field."""
        rec = self.record(oid)
        if rec[:1] != KIND_STRUCT:
            return "blob"
        return str(self.get_trusted(oid).get("type"))

    def size_of(self, oid: str) -> int:
        """Size in bytes of the object's content (for chunked blobs, the whole file)."""
        rec = self.record(oid)
        if rec[:1] == KIND_CHUNKED:
            return int.from_bytes(rec[33:41], "big")
        return len(rec) - 1

    def links_of(self, oid: str) -> list[Link]:
        """Objects this one links to, as seen from outside (blobs link to nothing)."""
        rec = self.record(oid)
        if rec[:1] != KIND_STRUCT:
            return []
        return codec.links_in(self.get_trusted(oid))

    def stored_links(self, oid: str) -> list[ObjectId]:
        """Every object this record needs in the store (chunked blobs need their index)."""
        rec = self.record(oid)
        if rec[:1] == KIND_CHUNKED:
            return [oid_of(rec[1:33])]
        if rec[:1] == KIND_STRUCT:
            return [link.oid for link in codec.links_in(self.get_trusted(oid))]
        return []

    def resolve(self, prefix: str) -> ObjectId:
        """The one object whose hash starts with `prefix` (≥ 6 hex chars)."""
        prefix = check_prefix(prefix.lower() if isinstance(prefix, str) else prefix)
        if len(prefix) == HASH_HEX_LEN:
            if prefix not in self:
                raise ObjectNotFound(prefix)
            return ObjectId(prefix)
        start = bytes.fromhex(prefix[: len(prefix) - len(prefix) % 2])
        found: list[str] = []
        for digest in self._iter_digests(start):
            hexd = digest.hex()
            if not hexd.startswith(prefix[: len(start) * 2]):
                break
            if hexd.startswith(prefix):
                found.append(hexd)
                if len(found) > 10:
                    break
        if not found:
            raise ObjectNotFound(prefix)
        if len(found) > 1:
            raise AmbiguousPrefix(prefix, found)
        return ObjectId(found[0])

    # ---- refs ---------------------------------------------------------------------
    def get_ref(self, name: str) -> ObjectId:
        digest = self._get_ref(check_ref_name(name))
        if digest is None:
            raise RefNotFound(name)
        return oid_of(digest)

    def refs(self, prefix: str = "") -> Iterator[tuple[str, ObjectId]]:
        """(name, id) of every ref starting with `prefix`, in name order."""
        return ((n, oid_of(d)) for n, d in self._iter_refs(prefix))

    def set_ref_if_equals(self, name: str, old: str | None, new: str | None) -> bool:
        """Point `name` at `new` if it now points at `old` (None: absent). True if done."""
        with contextlib.suppress(ConflictError):
            with self.batch() as b:
                b.set_ref(name, old, new)
            return True
        return False

    def add_ref_if_new(self, name: str, new: str) -> bool:
        return self.set_ref_if_equals(name, None, new)

    # ---- metadata (engine state: queues, leases, indexes, tokens) -------------------
    def meta_get(self, ns: str, key: str) -> bytes | None:
        return self._meta_get(meta_key(ns, key))

    def meta_scan(
        self,
        ns: str,
        prefix: str = "",
        *,
        start_after: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[str, bytes]]:
        """(key, value) pairs in namespace `ns`, ordered by key, optionally after a cursor."""
        base = meta_key(ns, "")
        full_prefix = base + prefix.encode()
        start = None if start_after is None else base + start_after.encode()
        count = 0
        for key, value in self._meta_scan(full_prefix, start, reverse):
            if start is not None and key == start:
                continue
            yield key[len(base) :].decode(), value
            count += 1
            if limit is not None and count >= limit:
                return

    def meta_cas(self, ns: str, key: str, old: bytes | None, new: bytes | None) -> bool:
        with contextlib.suppress(ConflictError):
            with self.batch() as b:
                b.meta_cas(ns, key, old, new)
            return True
        return False


def apply_checks(batch: WriteBatch, kind_of: Any, get_ref: Any, get_meta: Any) -> list[ObjectOp]:
    """Shared commit-time checks; returns the object ops that still need writing.

    `kind_of(digest)` (first record byte or None), `get_ref(name)` and `get_meta(key)` read
    inside the backend's transaction; checks see the state before the batch. Raises
    MissingLinks / ConflictError and the backend aborts the whole batch.
    """
    from .errors import MissingLinks

    new_ops: list[ObjectOp] = []
    known = batch.known_present  # committed earlier by this writer (not copied: it may be big)
    staged: set[bytes] = set()  # in the store or this batch: a link to it holds
    for op in batch.objects:
        kind = kind_of(op.digest)
        # identical bytes stored as a blob earlier may be upgraded to a structured object
        if kind is not None and not (kind == KIND_BLOB and op.record[:1] == KIND_STRUCT):
            staged.add(op.digest)
            continue
        for link in op.links:
            if link not in staged and link not in known:
                if kind_of(link) is None:
                    missing = [ln.hex() for ln in op.links
                               if ln not in staged and ln not in known and kind_of(ln) is None]
                    raise MissingLinks(op.digest.hex(), missing)
                staged.add(link)
        staged.add(op.digest)
        new_ops.append(op)
    for ref in batch.refs:
        current = get_ref(ref.name)
        if ref.check and current != ref.old:
            raise ConflictError(
                f"ref {ref.name}",
                ref.old.hex() if ref.old else None,
                current.hex() if current else None,
            )
        if (ref.new is not None and ref.new not in staged and ref.new not in known
                and kind_of(ref.new) is None):
            raise MissingLinks(f"ref {ref.name}", [ref.new.hex()])
    for meta in batch.meta:
        if meta.check and get_meta(meta.key) != meta.old:
            raise ConflictError(meta.key.decode(errors="replace"), meta.old, get_meta(meta.key))
    return new_ops
