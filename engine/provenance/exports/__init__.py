"""Provenance exports: one module per format, each taking a run (engine/provenance/exports/run_export.py)
and returning bytes that the format's own tools read (docs/exports.md)."""

from __future__ import annotations

from dataclasses import dataclass

from wfobj.engine.errors import BadExportOption, NoSigningKey, UnknownExportFormat
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


@dataclass(frozen=True)
class Export:
    """An export's bytes, its media type and a file name to save it under."""

    format: str
    content: bytes
    content_type: str
    filename: str


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
    content = write(store, load_run_export(store, run), with_files, keys)
    return Export(fmt, content, CONTENT_TYPES[fmt], f"{run.run_id}{SUFFIXES[fmt]}")


# Each writer imports its format's library when that format is asked for: together
# they take seconds to import, which no other command should pay.
def write_ro_crate(store: ObjectStore, run: RunExport, with_files: bool, _keys) -> bytes:
    from .ro_crate import export_ro_crate

    return export_ro_crate(store, run, files=with_files)


def write_prov(_store: ObjectStore, run: RunExport, _files: bool, _keys) -> bytes:
    from .prov import export_prov

    return export_prov(run)


def write_openlineage(_store: ObjectStore, run: RunExport, _files: bool, _keys) -> bytes:
    from .openlineage import export_openlineage

    return export_openlineage(run)


def write_intoto(store: ObjectStore, run: RunExport, _files: bool, keys: KeyFile) -> bytes:
    from .intoto import export_intoto

    return export_intoto(store, run, keys.key())


WRITERS = {"ro-crate": write_ro_crate, "prov": write_prov, "openlineage": write_openlineage,
           "in-toto": write_intoto}


__all__ = ["CONTENT_TYPES", "FILE_MODES", "FORMATS", "SUFFIXES", "Export", "KeyFile",
           "check_format", "export_run"]
