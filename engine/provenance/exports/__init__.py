"""Provenance exports: one module per format, each taking a run and returning bytes that
the format's own tools read (docs/exports.md).

An export is sent as it is made: its bytes come in pieces (`Export.chunks`), written as
the run's task table and evidence are read (engine/provenance/exports/run_stream.py, the
one way an export reads a run), a crate's zip as its files are read from the store, so
what a process holds grows neither with the run's files' bytes nor with its attempts. At most MAX_EXPORTS
exports are under way in a process at once; one more is refused (ExportsBusy) until one
ends (docs/limits.md "Exports")."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from wfobj.engine.errors import (
    BadExportOption,
    ExportsBusy,
    NoSigningKey,
    UnknownExportFormat,
)
from wfobj.objstore import ObjectStore

from .run_stream import RunStream, open_run_stream
from .signing import KeyFile

FORMATS = ("ro-crate", "prov", "openlineage", "in-toto")
FILE_MODES = ("all", "none")
CONTENT_TYPES = {"ro-crate": "application/zip", "prov": "application/json",
                 "openlineage": "application/json",
                 "in-toto": "application/vnd.dsse.envelope.v1+json"}
SUFFIXES = {"ro-crate": ".crate.zip", "prov": ".prov.json", "openlineage": ".openlineage.json",
            "in-toto": ".intoto.json"}


MAX_EXPORTS = 2  # exports under way at once in one process
RETRY_AFTER = 5  # seconds a refused client is told to wait
SLOTS = threading.BoundedSemaphore(MAX_EXPORTS)


@dataclass(frozen=True)
class Export:
    """An export's bytes in pieces (`chunks`: iterate once, or read `content` whole), its
    media type and a file name to save it under. `close()` ends it early and frees its
    slot; iterating to the end does too."""

    format: str
    chunks: Iterable[bytes]
    content_type: str
    filename: str
    on_close: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.chunks, bytes | bytearray):  # bytes already whole (a client's)
            object.__setattr__(self, "chunks", (bytes(self.chunks),))
        # an export dropped unread (a HEAD, an error) still frees its slot
        weakref.finalize(self, self.on_close)

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.chunks
        finally:
            self.close()

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self.on_close()

    @property
    def size(self) -> int | None:
        """Its length in bytes when made whole already (the JSON formats), else None."""
        return sum(map(len, self.chunks)) if isinstance(self.chunks, tuple) else None

    @property
    def content(self) -> bytes:
        return b"".join(self)


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise UnknownExportFormat(name, FORMATS)
    return name


def check_files(mode: str) -> bool:
    """`files=all` (the default) puts file bytes in a crate; `none` leaves them out."""
    if mode not in FILE_MODES:
        raise BadExportOption("files", mode, FILE_MODES)
    return mode == "all"


def export_run(store: ObjectStore, run_id: str, fmt: str, *, files: str = "all",
               keys: KeyFile | None = None) -> Export:
    """Run `run_id` in format `fmt`. A run not yet ended is exported as it stands (as its
    newest manifest was when the export began), except in-toto, which is signed only for
    an ended run (RunNotEnded). Nothing is read before the format and options are checked
    and a slot is taken; then every format reads the run's task table bucket by bucket
    as it writes."""
    write = WRITERS[check_format(fmt)]
    with_files = check_files(files)
    if fmt == "in-toto" and keys is None:
        raise NoSigningKey()
    release = take_slot()
    try:
        chunks = write(store, run_id, with_files, keys)
    except BaseException:
        release()
        raise
    return Export(fmt, chunks, CONTENT_TYPES[fmt], f"{run_id}{SUFFIXES[fmt]}",
                  on_close=release)


def take_slot() -> Callable[[], None]:
    """One of the process's export slots (ExportsBusy if none is free), and the function
    that gives it back (once, however often it is called)."""
    if not SLOTS.acquire(blocking=False):
        raise ExportsBusy(MAX_EXPORTS, RETRY_AFTER)
    lock, taken = threading.Lock(), [True]

    def release() -> None:
        with lock:
            if taken:
                taken.clear()
                SLOTS.release()

    return release


# Each writer imports its format's library when that format is asked for: together
# they take seconds to import, which no other command should pay.
# A writer opens the run (UnknownRun, RunNotEnded: before anything is sent) and returns
# the export's pieces, made as they are read.
def write_ro_crate(store: ObjectStore, run_id: str, with_files: bool,
                   _keys) -> Iterator[bytes]:
    from .ro_crate import stream_ro_crate

    return stream_ro_crate(store, open_run_stream(store, run_id), files=with_files)


def write_prov(store: ObjectStore, run_id: str, _files: bool, _keys) -> Iterator[bytes]:
    from .prov import stream_prov

    return stream_prov(open_run_stream(store, run_id))


def write_openlineage(store: ObjectStore, run_id: str, _files: bool,
                      _keys) -> Iterator[bytes]:
    from .openlineage import stream_openlineage

    return stream_openlineage(open_run_stream(store, run_id))


def write_intoto(store: ObjectStore, run_id: str, _files: bool,
                 keys: KeyFile) -> Iterator[bytes]:
    from .intoto import stream_intoto

    return stream_intoto(store, open_run_stream(store, run_id), keys.key())


WRITERS = {"ro-crate": write_ro_crate, "prov": write_prov, "openlineage": write_openlineage,
           "in-toto": write_intoto}


__all__ = ["CONTENT_TYPES", "FILE_MODES", "FORMATS", "MAX_EXPORTS", "SUFFIXES", "Export", "KeyFile",
           "RunStream", "check_format", "export_run", "open_run_stream"]
