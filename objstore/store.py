"""The store interface: a few backend primitives, everything else written once on top.

A backend keeps records (see records.py) under raw digests, refs and a small metadata
table, and runs a function inside one write transaction. Committing a WriteBatch, with
its closure and compare-and-swap checks, is written here once for every backend, so no
reader ever sees an object without everything it links to. Every read that hands out an
object's bytes or value verifies them against the hash first.
"""

from __future__ import annotations

import abc
import contextlib
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, Protocol, TypeVar

import blake3

from . import chunking, codec
from .batch import WriteBatch, meta_key
from .codec import Link
from .errors import (
    AmbiguousPrefix,
    ChecksumMismatch,
    ConflictError,
    InvalidObject,
    MissingLinks,
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
    oid_of,
)
from .records import (
    KIND_BLOB,
    KIND_CHUNKED,
    KIND_STRUCT,
    Bytes,
    ChunkedCheck,
    Record,
    blob_record,
    chunk_entries,
    parse_record,
    struct_record,
    whole_payload,
)
from .refs import check_ref_name

T = TypeVar("T")


class Transaction(Protocol):
    """What a backend offers inside one write transaction (reads see its own writes)."""

    def has(self, digest: bytes) -> bool:
        """Whether a record is stored, found without reading it (a chunk is megabytes)."""
    def kind_of(self, digest: bytes) -> bytes | None:
        """A stored record's kind byte, or None."""
    def put_record(self, digest: bytes, record: bytes) -> None:
        """Write a record and stamp it with the time (its stored-at time)."""
    def touch(self, digest: bytes) -> None:
        """Stamp a present record with the time: a write just relied on it being there."""
    def stored_at(self, digest: bytes) -> int | None:
        """When the record was last written or touched (Unix ms); None if never recorded."""
    def delete_record(self, digest: bytes) -> None:
        """Remove a record and its stored-at time (gc only)."""
    def get_ref(self, name: str) -> bytes | None: ...
    def set_ref(self, name: str, digest: bytes | None) -> None: ...
    def get_meta(self, key: bytes) -> bytes | None: ...
    def set_meta(self, key: bytes, value: bytes | None) -> None: ...


def apply_batch(batch: WriteBatch, txn: Transaction) -> None:
    """The one commit path: CAS checks, then objects (each only once all it links to is
    present), the objects the batch needs (stamped), then refs (only to present objects)
    and metadata. Raises ConflictError or MissingLinks, and the backend then aborts the
    whole transaction."""
    _check_cas(batch, txn)
    present: set[bytes] = set()  # digests known to be in the store within this transaction
    for op in batch.objects:
        # identical bytes stored as a blob earlier may be upgraded to a structured object
        if txn.has(op.digest) and not (op.record[:1] == KIND_STRUCT
                                       and txn.kind_of(op.digest) == KIND_BLOB):
            txn.touch(op.digest)  # re-stored: young again, so gc keeps it
            present.add(op.digest)
            continue
        _require(op.digest.hex(), op.links, txn, present)
        txn.put_record(op.digest, op.record)
        present.add(op.digest)
    _require("needed objects", [d for d, required in batch.needs if required], txn, present)
    for digest, required in batch.needs:
        if not required and txn.has(digest):
            txn.touch(digest)
    for ref in batch.refs:
        if ref.new is not None:
            _require(f"ref {ref.name}", [ref.new], txn, present)
        txn.set_ref(ref.name, ref.new)
    for item in batch.meta:
        if item.delta:
            current = txn.get_meta(item.key)
            txn.set_meta(item.key, str(int(current or b"0") + item.delta).encode())
        else:
            txn.set_meta(item.key, item.value)


def _check_cas(batch: WriteBatch, txn: Transaction) -> None:
    for ref in batch.refs:
        current = txn.get_ref(ref.name)
        if current != ref.old:
            raise ConflictError(f"ref {ref.name}", ref.old and ref.old.hex(),
                                current and current.hex())
    for item in batch.meta:
        if item.check and (current := txn.get_meta(item.key)) != item.old:
            raise ConflictError(item.key.decode(errors="replace"), item.old, current)


def _require(what: str, links: list[bytes], txn: Transaction, present: set[bytes]) -> None:
    missing = []
    for link in links:
        if link in present:
            continue
        if txn.has(link):
            txn.touch(link)  # now referenced: gc, re-checking ages in its own transaction, keeps it
        else:
            missing.append(link.hex())
    if missing:
        raise MissingLinks(what, missing)
    present.update(links)


class ObjectStore(abc.ABC):
    """A content-addressed object store with refs and a small metadata table."""

    # ---- backend primitives -------------------------------------------------------
    @abc.abstractmethod
    def _get_record(self, digest: bytes) -> bytes | None: ...

    def _read_records(
        self, digests: list[bytes], use: Callable[[list[Bytes | None]], None]
    ) -> None:
        """Call `use(records)` with the records of `digests`, in order, in consecutive
        groups (None: not stored). A record may be a view of the store valid only during
        the call, read without a copy: a backend may read a group in one snapshot."""
        for digest in digests:
            use([self._get_record(digest)])

    @abc.abstractmethod
    def _iter_digests(self, start: bytes = b"") -> Iterator[bytes]:
        """Digests in ascending byte order, from `start` on."""

    @abc.abstractmethod
    def _transact(self, fn: Callable[[Transaction], T]) -> T:
        """Run `fn` in one write transaction: all of its writes, or (if it raises) none.
        A backend may run `fn` again from the start (LMDB does when its map is full)."""

    @abc.abstractmethod
    def _iter_stored_at(self) -> Iterator[tuple[bytes, int]]:
        """(digest, stored-at Unix ms) of every record whose time is recorded."""

    @abc.abstractmethod
    def _get_ref(self, name: str) -> bytes | None: ...

    @abc.abstractmethod
    def _iter_refs(self, prefix: str) -> Iterator[tuple[str, bytes]]: ...

    @abc.abstractmethod
    def _meta_get(self, key: bytes) -> bytes | None: ...

    @abc.abstractmethod
    def _meta_scan(
        self, prefix: bytes, start: bytes | None, reverse: bool, wanted: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Keys with `prefix`, ascending from `start` (or descending below it if reverse).
        `wanted`: how many the caller will take at most (a backend may read no more)."""

    @abc.abstractmethod
    def stats(self) -> dict:
        """{"objects": count, "bytes": storage used}, without reading every object."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources; the store may be reopened lazily afterwards."""

    # ---- writing ------------------------------------------------------------------
    def commit(self, batch: WriteBatch) -> None:
        """Apply `batch` atomically (see apply_batch); an empty batch does nothing."""
        if batch:
            self._transact(lambda txn: apply_batch(batch, txn))

    @contextlib.contextmanager
    def batch(self) -> Iterator[WriteBatch]:
        """Collect writes and commit them atomically when the block ends without error."""
        batch = WriteBatch()
        yield batch
        self.commit(batch)

    def put_blob(self, data: bytes) -> ObjectId:
        """Store bytes as a blob (chunked if large); returns blake3(data)."""
        return self.put_stream(io.BytesIO(data))[0]

    def put_stream(self, stream: BinaryIO) -> tuple[ObjectId, int]:
        """Store a file-like object as a blob without reading it whole; (id, size)."""
        return chunking.put_stream(self, stream)

    def put_object(self, value: dict) -> ObjectId:
        with self.batch() as b:
            return b.put_object(value)

    def add_raw(self, data: bytes, codec_id: int, expected: str | None = None) -> ObjectId:
        """Add untrusted bytes as a blob (raw) or structured object (dag-cbor), verified."""
        with self.batch() as b:
            return stage_raw(b, data, codec_id, expected)

    # ---- reading ------------------------------------------------------------------
    def __contains__(self, oid: object) -> bool:
        if not isinstance(oid, str) or len(oid) != HASH_HEX_LEN:
            return False
        try:
            return self._get_record(checked_digest(oid)) is not None
        except ValueError:
            return False

    def __iter__(self) -> Iterator[ObjectId]:
        return (oid_of(d) for d in self._iter_digests())

    def record(self, oid: str) -> Record:
        """The stored record of `oid`, parsed but not verified (fsck verifies it)."""
        raw = self._get_record(checked_digest(oid))
        if raw is None:
            raise ObjectNotFound(oid)
        return parse_record(raw, oid)

    def chunked_among(self, oids: list[str]) -> set[str]:
        """Which of `oids` are large blobs kept as chunks: only each record's kind byte is
        looked at, none is copied."""
        kinds: list[bytes | None] = []
        self._read_records([checked_digest(oid) for oid in oids],
                           lambda raws: kinds.extend(raw and bytes(raw[:1]) for raw in raws))
        return {oid for oid, kind in zip(oids, kinds, strict=True) if kind == KIND_CHUNKED}

    def is_structured(self, oid: str) -> bool:
        return self.record(oid).is_structured

    def size_of(self, oid: str) -> int:
        """Size in bytes of the object's content (for chunked blobs, the whole file)."""
        return self.record(oid).size

    def get_raw(self, oid: str) -> bytes:
        """The exact bytes whose BLAKE3 is `oid`, verified (ChecksumMismatch if not)."""
        rec = self.record(oid)
        if rec.is_chunked:
            return b"".join(self.iter_blob(oid))
        return rec.payload(checked_digest(oid))

    def iter_blob(self, oid: str) -> Iterator[bytes]:
        """An object's bytes in pieces, each verified before it is yielded; a chunked
        blob's whole content is re-hashed too, and a mismatch raises after the last piece."""
        rec = self.record(oid)
        if not rec.is_chunked:
            yield rec.payload(checked_digest(oid))
            return
        check = ChunkedCheck(oid, self.chunk_list(oid), rec.size)
        pieces: list[bytes] = []  # each chunk copied once, out of its checked record
        for digest in check.digests:
            self._read_records([digest], lambda raws: pieces.append(bytes(check.add(raws[0]))))
            yield pieces.pop()
        check.finish()

    def read_blobs(self, oids: list[str], use: Callable[[ObjectId, Bytes], None]) -> None:
        """Hand each of the blobs kept whole `oids` to `use(oid, content)`, in order, its
        content verified against its hash first: a view of the store valid only during
        the call (LMDB: many read in one short snapshot, none copied). ObjectNotFound for
        a missing one, InvalidObject for one kept as chunks."""
        digests = [checked_digest(oid) for oid in oids]
        at = 0

        def each(raws: list[Bytes | None]) -> None:
            nonlocal at
            for raw in raws:
                oid = oids[at]
                use(oid, whole_payload(raw, digests[at], oid))  # type: ignore[arg-type]
                at += 1

        self._read_records(digests, each)

    def get_object(self, oid: str) -> dict:
        """A structured object's decoded value (links as Link), verified."""
        rec = self.record(oid)
        if not rec.is_structured:
            raise InvalidObject("is a blob, not a structured object", oid)
        return codec.load(rec.payload(checked_digest(oid)))

    def verify(self, oid: str, verified: set[str] | None = None) -> None:
        """Check one object in full: its hash, a structured object's canonical form, a
        chunked blob's every chunk and whole content. Raises what it finds. With
        `verified` (blobs kept whole already checked, as fsck gathers them), a chunked
        blob's chunks in it are only read for the whole content's hash, and each blob kept
        whole that this call checks is added. Blobs are checked where they are stored,
        without a copy."""
        digest = checked_digest(oid)
        held: list[Record] = []  # a structured or chunked record, copied (it is small)

        def check(raws: list[Bytes | None]) -> None:
            raw = raws[0]
            if raw is None:
                raise ObjectNotFound(oid)
            rec = parse_record(raw, oid)
            if rec.kind != KIND_BLOB:
                held.append(Record(rec.kind, bytes(rec.body)))
                return
            rec.payload(digest)
            if verified is not None:
                verified.add(oid)

        self._read_records([digest], check)
        if not held:
            return
        if held[0].is_chunked:
            self._verify_chunked(oid, held[0], set() if verified is None else verified)
        else:
            self._verify_whole(oid, held[0])

    def _verify_chunked(self, oid: str, rec: Record, known: set[str]) -> None:
        """Every chunk read once where it is stored, hashed for its own id unless `known`
        holds it, and for the whole content."""
        check = ChunkedCheck(oid, self.chunk_list(oid), rec.size, known)
        self._read_records(check.digests, check.add_all)
        check.finish()

    def _verify_whole(self, oid: str, rec: Record) -> None:
        payload = rec.payload(checked_digest(oid))
        if rec.is_structured:
            value = codec.decode(payload)
            if not isinstance(value, dict) or not isinstance(value.get("type"), str):
                raise InvalidObject("not a map with a text 'type' field", oid)

    def type_of(self, oid: str) -> str:
        """'blob', or a structured object's `type` field."""
        return str(self.get_object(oid)["type"]) if self.is_structured(oid) else "blob"

    def chunk_list(self, oid: str) -> list[tuple[ObjectId, int]]:
        """The (chunk id, size) list of a chunked blob; [] for one stored whole."""
        rec = self.record(oid)
        if not rec.is_chunked:
            return []
        return chunk_entries(self.get_object(rec.index), rec.index)

    def links_of(self, oid: str) -> list[Link]:
        """Objects this one links to, as seen from outside (blobs link to nothing)."""
        return codec.links_in(self.get_object(oid)) if self.is_structured(oid) else []

    def stored_links(self, oid: str) -> list[ObjectId]:
        """Every object this record needs in the store (chunked blobs need their index)."""
        rec = self.record(oid)
        if rec.is_chunked:
            return [rec.index]
        return [link.oid for link in self.links_of(oid)] if rec.is_structured else []

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

    # ---- age and removal (gc) -----------------------------------------------------
    def stored_times(self) -> Iterator[tuple[ObjectId, int]]:
        """(id, Unix ms) of every object whose stored-at time is recorded: when it was last
        written, or found present by a write that needed it."""
        return ((oid_of(d), ms) for d, ms in self._iter_stored_at())

    def stamp_unstamped(self, oids: Iterable[str]) -> int:
        """Give the objects among `oids` that have no stored-at time (stored before the
        store kept them) the time now, so their age counts from here; how many."""
        def stamp(txn: Transaction) -> int:
            count = 0
            for oid in oids:
                digest = checked_digest(oid)
                if txn.stored_at(digest) is None and txn.kind_of(digest) is not None:
                    txn.touch(digest)
                    count += 1
            return count

        return self._transact(stamp)

    def remove_where(
        self, select: Callable[[Callable[[str], int | None]], Iterable[str]]
    ) -> list[ObjectId]:
        """In one write transaction, `select(stored_at)` names objects to remove, reading
        their stored-at times (`stored_at(oid)`, Unix ms or None) in that same transaction,
        so no write can slip in between the last look and the removal. Returns the ids."""
        def sweep(txn: Transaction) -> list[ObjectId]:
            doomed = list(select(lambda oid: txn.stored_at(checked_digest(oid))))
            for oid in doomed:
                txn.delete_record(checked_digest(oid))
            return [ObjectId(oid) for oid in doomed]

        return self._transact(sweep)

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
        # one more than the limit: the cursor's own key is skipped, not counted
        wanted = None if limit is None else limit + 1
        for key, value in self._meta_scan(full_prefix, start, reverse, wanted):
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


def stage_raw(
    batch: WriteBatch, data: bytes, codec_id: int, expected: str | None = None
) -> ObjectId:
    """Verify untrusted bytes (hash, canonical form, links) and add them to `batch`."""
    data = bytes(data)
    digest = blake3.blake3(data).digest()
    if expected is not None and digest != checked_digest(check_hash(expected)):
        raise ChecksumMismatch(expected, digest.hex())
    if codec_id == CODEC_RAW:
        batch.add_record(digest, blob_record(data))
    elif codec_id == CODEC_DAG_CBOR:
        value: Any = codec.decode(data)
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise InvalidObject("structured object is not a map with a 'type'", digest.hex())
        links = [bytes.fromhex(link.oid) for link in codec.links_in(value)]
        batch.add_record(digest, struct_record(data), links)
    else:
        raise InvalidObject(f"unknown codec 0x{codec_id:x}")
    return oid_of(digest)
