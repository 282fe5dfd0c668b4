"""Provenance exports: one module per format, each taking a run (engine/provenance/exports/run_export.py)
and returning bytes that the format's own tools read (docs/exports.md).

An export is sent as it is made: its bytes come in pieces (`Export.chunks`), a crate's
zip written as its files are read from the store, so what a process holds does not grow
with the run's files. At most MAX_EXPORTS exports are under way in a process at once; one
more is refused (ExportsBusy) until one ends (docs/limits.md "Exports")."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from wfobj.engine.errors import (
    BadExportOption,
    ExportsBusy,
    ExportTooLarge,
    NoSigningKey,
    UnknownExportFormat,
)
from wfobj.engine.runs.state import RunState
from wfobj.objstore import ObjectStore

from .run_export import RunExport, load_run_export
from .signing import KeyFile

FORMATS = ("ro-crate", "prov", "openlineage", "in-toto")
FILE_MODES = ("all", "none")
CONTENT_TYPES = {"ro-crate": "application/zip", "prov": "application/json",
                 "openlineage": "application/json",
                 "in-toto": "application/vnd.dsse.envelope.v1+json"}
SUFFIXES = {"ro-crate": ".crate.zip", "prov": ".prov.json", "openlineage": ".openlineage.json",
            "in-toto": ".intoto.json"}


MAX_EXPORTS = 2  # exports under way at once in one process
# task attempts a JSON export (prov, openlineage, in-toto) may hold: those are made whole,
# about 20 (PROV) to 40 (OpenLineage) KB of memory per attempt
MAX_JSON_EXPORT_ATTEMPTS = 20_000
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


def export_run(store: ObjectStore, run: RunState, fmt: str, *, files: str = "all",
               keys: KeyFile | None = None) -> Export:
    """The run in format `fmt`. A run not yet ended is exported as it stands, except
    in-toto, which is signed only for an ended run (RunNotEnded)."""
    write = WRITERS[check_format(fmt)]
    with_files = check_files(files)
    if fmt == "in-toto" and keys is None:
        raise NoSigningKey()
    check_json_size(run, fmt)
    release = take_slot()
    try:
        chunks = write(store, load_run_export(store, run), with_files, keys)
    except BaseException:
        release()
        raise
    return Export(fmt, chunks, CONTENT_TYPES[fmt], f"{run.run_id}{SUFFIXES[fmt]}",
                  on_close=release)


def check_json_size(run: RunState, fmt: str) -> None:
    """A JSON format is made whole: refuse (ExportTooLarge) a run whose attempts would
    take more memory than MAX_JSON_EXPORT_ATTEMPTS allows, before reading any of them."""
    if fmt == "ro-crate":
        return
    attempts = sum(len(run.tasks[name].attempts) for name in run.order)
    if attempts > MAX_JSON_EXPORT_ATTEMPTS:
        raise ExportTooLarge(fmt, attempts, MAX_JSON_EXPORT_ATTEMPTS)


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
# A writer returns the export's pieces: the crate lazily (its zip is made as it is read),
# the JSON formats whole (their size grows with the run's files, never with their bytes).
def write_ro_crate(store: ObjectStore, run: RunExport, with_files: bool,
                   _keys) -> Iterator[bytes]:
    from .ro_crate import stream_ro_crate

    return stream_ro_crate(store, run, files=with_files)


def write_prov(_store: ObjectStore, run: RunExport, _files: bool, _keys) -> tuple[bytes]:
    from .prov import export_prov

    return (export_prov(run),)


def write_openlineage(_store: ObjectStore, run: RunExport, _files: bool,
                      _keys) -> tuple[bytes]:
    from .openlineage import export_openlineage

    return (export_openlineage(run),)


def write_intoto(store: ObjectStore, run: RunExport, _files: bool,
                 keys: KeyFile) -> tuple[bytes]:
    from .intoto import export_intoto

    return (export_intoto(store, run, keys.key()),)


WRITERS = {"ro-crate": write_ro_crate, "prov": write_prov, "openlineage": write_openlineage,
           "in-toto": write_intoto}


__all__ = ["CONTENT_TYPES", "FILE_MODES", "FORMATS", "MAX_EXPORTS", "MAX_JSON_EXPORT_ATTEMPTS", "SUFFIXES", "Export", "KeyFile",
           "check_format", "export_run"]
