"""CAR v1 packs: the streamed, per-block verifiable format sync moves objects in.

A pack is `varint(len) + DAG-CBOR {"roots": [CID…], "version": 1}` followed by blocks
`varint(len(cid) + len(data)) + cid + data`. Since links are CIDs, any CAR reader can
check each block against its CID. A chunked file (stored as a `C` record) travels as its
chunk blobs, its chunklist and a `wfobj.chunked-file` descriptor block that is itself an
ordinary hash-verified DAG-CBOR block; the receiver rebuilds the file record from it only
after re-hashing the whole content against the file id (see `receive_pack`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import blake3

from . import codec
from .batch import WriteBatch
from .codec import Link
from .errors import (
    ChecksumMismatch,
    InvalidObject,
    InvalidPack,
    MissingLinks,
    PackBlockMismatch,
)
from .ids import CODEC_DAG_CBOR, CODEC_RAW, ObjectId, check_hash, cid_bytes, parse_cid
from .records import chunk_entries, chunked_record, verified_chunks
from .store import ObjectStore, stage_raw

CAR_VERSION = 1
CHUNKED_FILE_TYPE = "wfobj.chunked-file"
_CHUNKED_MARK = CHUNKED_FILE_TYPE.encode()
CID_LEN = 36
MAX_HEADER = 1 << 20
MAX_BLOCK = 256 << 20
COMMIT_BYTES = 8 << 20
CAR_MEDIA_TYPE = "application/vnd.ipld.car"


class Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


# ---- varints --------------------------------------------------------------------------
def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as multiformats and CAR use it."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_exact(stream: Readable, n: int, what: str) -> bytes:
    parts, got = [], 0
    while got < n:
        data = stream.read(n - got)
        if not data:
            raise InvalidPack(f"truncated {what}: expected {n} bytes, got {got}")
        parts.append(data)
        got += len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_varint(stream: Readable) -> int | None:
    """The next varint, or None at a clean end of stream."""
    value = shift = 0
    for index in range(10):
        byte = stream.read(1)
        if not byte:
            if index == 0:
                return None
            raise InvalidPack("truncated varint")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
    raise InvalidPack("varint longer than 10 bytes")


# ---- writing ---------------------------------------------------------------------------
def header_bytes(roots: Iterable[Link] = ()) -> bytes:
    data, _ = codec.encode({"version": CAR_VERSION, "roots": list(roots)})
    return encode_varint(len(data)) + data


def block_bytes(cid: bytes, data: bytes) -> bytes:
    return encode_varint(len(cid) + len(data)) + cid + data


def chunked_descriptor(file_oid: str, index_oid: str, size: int) -> bytes:
    """The transport-only block announcing a chunked file (never stored as an object)."""
    data, _ = codec.encode(
        {"type": CHUNKED_FILE_TYPE, "file": file_oid, "index": Link.obj(index_oid), "size": size}
    )
    return data


def block_of(store: ObjectStore, oid: str) -> tuple[bytes, bytes]:
    """(CID, data) of the block that carries `oid` in a pack, verified before it is sent
    (a chunked file's chunks travel as blocks of their own, each verified in turn)."""
    rec = store.record(oid)
    if rec.is_chunked:
        data = chunked_descriptor(oid, rec.index, rec.size)
        return cid_bytes(blake3.blake3(data).hexdigest(), CODEC_DAG_CBOR), data
    codec_id = CODEC_DAG_CBOR if rec.is_structured else CODEC_RAW
    return cid_bytes(oid, codec_id), store.get_raw(oid)


def iter_pack(
    store: ObjectStore, oids: Iterable[str], roots: Iterable[Link] = ()
) -> Iterator[bytes]:
    """A pack of `oids` (children first) as a stream of byte pieces."""
    yield header_bytes(roots)
    for oid in oids:
        cid, data = block_of(store, oid)
        yield block_bytes(cid, data)


# ---- reading ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Block:
    oid: ObjectId
    codec: int
    data: bytes
    wire_size: int  # framing + CID + data


class CarReader:
    """Reads a pack from a stream: the header's roots, then blocks (not yet verified)."""

    def __init__(self, stream: Readable):
        self.stream = stream
        self.roots = self._read_header()

    def _read_header(self) -> list[Link]:
        length = read_varint(self.stream)
        if length is None:
            raise InvalidPack("empty stream: no CAR header")
        if length > MAX_HEADER:
            raise InvalidPack(f"header of {length} bytes is too large")
        try:
            header = codec.decode(_read_exact(self.stream, length, "header"))
        except InvalidObject as exc:
            raise InvalidPack(f"bad header: {exc.reason}") from None
        if not isinstance(header, dict) or header.get("version") != CAR_VERSION:
            raise InvalidPack("header is not a CAR v1 header")
        roots = header.get("roots")
        if not isinstance(roots, list) or not all(isinstance(r, Link) for r in roots):
            raise InvalidPack("header roots must be a list of CIDs")
        return roots

    def __iter__(self) -> Iterator[Block]:
        while True:
            length = read_varint(self.stream)
            if length is None:
                return
            if length < CID_LEN or length > MAX_BLOCK + CID_LEN:
                raise InvalidPack(f"block length {length} out of range")
            cid = _read_exact(self.stream, CID_LEN, "CID")
            try:
                oid, codec_id = parse_cid(cid)
            except ValueError as exc:
                raise InvalidPack(f"bad CID: {exc}") from None
            data = _read_exact(self.stream, length - CID_LEN, f"block {oid}")
            yield Block(oid, codec_id, data, len(encode_varint(length)) + length)


class IterStream:
    """A file-like `read(n)` over an iterable of byte pieces (a generator, a response)."""

    def __init__(self, pieces: Iterable[bytes]):
        self._pieces = iter(pieces)
        self._buf = memoryview(b"")

    def read(self, n: int = -1) -> bytes:
        while not self._buf:
            piece = next(self._pieces, None)
            if piece is None:
                return b""
            self._buf = memoryview(piece)
        if n < 0:
            n = len(self._buf)
        out, self._buf = self._buf[:n], self._buf[n:]
        return bytes(out)


# ---- receiving -------------------------------------------------------------------------
@dataclass
class ReceiveStats:
    """What one pack brought: blocks read, objects newly stored, bytes read."""

    blocks: int = 0
    stored: int = 0
    bytes: int = 0


class _Group:
    """Verified blocks waiting to be committed together (one transaction)."""

    def __init__(self, store: ObjectStore):
        self.store = store
        self.batch = WriteBatch()
        self.bytes = 0

    def flush(self) -> None:
        if self.batch:
            self.store.commit(self.batch)
        self.batch, self.bytes = WriteBatch(), 0


def receive_pack(
    store: ObjectStore,
    stream: Readable,
    *,
    commit_bytes: int = COMMIT_BYTES,
    progress: Callable[[ReceiveStats], None] | None = None,
) -> ReceiveStats:
    """Verify and store every block of a pack, committing every `commit_bytes`.

    Each block is checked against its CID before it is staged; a bad block raises
    (PackBlockMismatch naming the hash, InvalidObject, InvalidPack, MissingLinks) and
    drops the uncommitted group, so only verified, closure-complete objects are ever
    stored. Groups already committed stay, which is what makes a broken sync resumable.
    """
    stats = ReceiveStats()
    group = _Group(store)
    for block in CarReader(stream):
        stats.blocks += 1
        stats.bytes += block.wire_size
        if block.codec == CODEC_DAG_CBOR and _CHUNKED_MARK in block.data:
            if _receive_chunked(store, group, block, stats):
                continue
        if block.oid not in store:
            _stage(group, block)
            group.bytes += len(block.data)
            stats.stored += 1
        if group.bytes >= commit_bytes:
            group.flush()
            if progress is not None:
                progress(stats)
    group.flush()
    if progress is not None:
        progress(stats)
    return stats


def _stage(group: _Group, block: Block) -> None:
    """Stage one verified block; a block that is not what its CID names is the sender's
    fault (PackBlockMismatch), not damage here."""
    try:
        stage_raw(group.batch, block.data, block.codec, block.oid)
    except ChecksumMismatch as exc:
        raise PackBlockMismatch(exc.expected, exc.got) from None


def _receive_chunked(store: ObjectStore, group: _Group, block: Block, stats: ReceiveStats) -> bool:
    """Handle a chunked-file descriptor; False if the block is an ordinary object."""
    got = blake3.blake3(block.data).hexdigest()
    if got != block.oid:
        raise PackBlockMismatch(block.oid, got)
    value = codec.decode(block.data)
    if not isinstance(value, dict) or value.get("type") != CHUNKED_FILE_TYPE:
        return False
    file_oid, index, size = _descriptor_fields(value)
    if file_oid in store:
        return True
    group.flush()  # the chunks and the index must be readable from the store
    if index not in store:
        raise MissingLinks(file_oid, [index])
    verify_chunked_content(store, file_oid, index, size)
    group.batch.add_record(
        bytes.fromhex(file_oid), chunked_record(index, size), [bytes.fromhex(index)]
    )
    stats.stored += 1
    return True


def _descriptor_fields(value: dict) -> tuple[ObjectId, ObjectId, int]:
    try:
        file_oid = check_hash(value["file"])
        index, size = value["index"], value["size"]
    except (KeyError, ValueError) as exc:
        raise InvalidObject(f"bad chunked-file descriptor ({exc})") from None
    if not isinstance(index, Link) or index.is_blob or not isinstance(size, int) or size < 0:
        raise InvalidObject("bad chunked-file descriptor (index or size)", file_oid)
    return file_oid, index.oid, size


def verify_chunked_content(store: ObjectStore, file_oid: str, index_oid: str, size: int) -> None:
    """Re-hash a chunked file's whole content from its stored chunklist against the id a
    descriptor claims. Content that is not `file_oid` is the sender's lie
    (PackBlockMismatch, bad input); a stored chunk failing its own hash is damage here."""
    index = store.get_object(index_oid)
    try:
        for _ in verified_chunks(file_oid, chunk_entries(index, index_oid), size, store.get_raw):
            pass
    except ChecksumMismatch as exc:
        if exc.expected != file_oid:
            raise
        raise PackBlockMismatch(exc.expected, exc.got) from None
    if index.get("size") != size:
        raise InvalidObject(f"the chunk index says {index.get('size')!r} bytes, not {size}",
                            file_oid)
