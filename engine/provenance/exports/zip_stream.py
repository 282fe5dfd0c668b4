"""A zip written as it is sent (the RO-Crate export): to an unseekable sink emptied piece
by piece, each member's sizes in a data descriptor after it, and what the zip must
remember of each member until its end (the central directory lists them all) packed
small, about 150 bytes a member where zipfile keeps a ZipInfo of about 500."""

from __future__ import annotations

import struct
import time
import zipfile
from collections.abc import Iterator


class Sink:
    """An unseekable file the zip is written to, emptied as it is sent."""

    def __init__(self, piece: int) -> None:
        """`piece`: how many bytes it gathers before it is `full`, and sends at once."""
        self.buffer = bytearray()
        self.piece = piece

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def pending(self) -> int:
        return len(self.buffer)

    def full(self) -> bool:
        return len(self.buffer) >= self.piece

    def take(self) -> bytes:
        data, self.buffer = bytes(self.buffer), bytearray()
        return data

    def drain(self) -> Iterator[bytes]:
        """What it holds, a piece at a time (never a second copy of all of it)."""
        while self.buffer:
            data = bytes(self.buffer[:self.piece])
            del self.buffer[:self.piece]
            yield data


def open_zip(sink: Sink) -> zipfile.ZipFile:
    """A deflating zip writing to `sink`, keeping each member it has written packed
    (`Members`). It does not look for a name written twice: its writer never does."""
    z = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
    z.filelist = Members()
    z.NameToInfo = Unkept()
    return z


def member(name: str, size: int) -> zipfile.ZipInfo:
    """A deflated zip member of `size` bytes (its size known ahead, so a member over
    4 GiB gets its ZIP64 fields)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.file_size = size
    return info


def streamed_member(name: str) -> zipfile.ZipInfo:
    """A deflated zip member written as it is made: its sizes follow it (a data
    descriptor, with ZIP64 fields, whatever size it reaches)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


# CRC, file size, compressed size, header offset, flag bits, compression, the versions to
# extract and that created it, external attributes, date and time; the name follows
PACKED = struct.Struct("<LQQQHHBBLH5B")
PLAIN = zipfile.ZipInfo("plain")  # what a member keeps that is never packed


class Members(list):
    """`ZipFile.filelist` for a zip being written: each member appended is kept as one
    bytes object and made a ZipInfo again as the zip's end is written (`for info in
    filelist`). A member with fields it does not pack (an extra field, a comment) is
    kept as it is."""

    def append(self, info: zipfile.ZipInfo) -> None:
        super().append(pack(info) if packable(info) else info)

    def __iter__(self) -> Iterator[zipfile.ZipInfo]:
        for kept in super().__iter__():
            yield unpack(kept) if isinstance(kept, bytes) else kept


class Unkept(dict):
    """`ZipFile.NameToInfo` that keeps nothing (zipfile only looks in it for a name
    written twice, to warn)."""

    def __setitem__(self, name: str, info: zipfile.ZipInfo) -> None:
        pass


def packable(info: zipfile.ZipInfo) -> bool:
    return (info.extra == PLAIN.extra and info.comment == PLAIN.comment
            and info.internal_attr == PLAIN.internal_attr and info.reserved == PLAIN.reserved
            and info.create_system == PLAIN.create_system)


def pack(info: zipfile.ZipInfo) -> bytes:
    return PACKED.pack(info.CRC, info.file_size, info.compress_size, info.header_offset,
                       info.flag_bits, info.compress_type, info.extract_version,
                       info.create_version, info.external_attr,
                       *info.date_time) + info.filename.encode()


def unpack(data: bytes) -> zipfile.ZipInfo:
    (crc, size, compressed, offset, flags, compression, extract, create, external,
     *date_time) = PACKED.unpack_from(data)
    info = zipfile.ZipInfo(data[PACKED.size:].decode(), date_time=tuple(date_time))
    info.CRC, info.file_size, info.compress_size, info.header_offset = crc, size, compressed, offset
    info.flag_bits, info.compress_type, info.external_attr = flags, compression, external
    info.extract_version, info.create_version = extract, create
    return info
