"""Provenance exports: one module per format, each taking a run (engine/exports/model.py)
and returning bytes that the format's own tools read (docs/exports.md)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from objstore import ObjectStore

from ..errors import BadExportOption, NoSigningKey, UnknownExportFormat
from ..runstate import RunState
from .model import load_run_export
from .signing import KeyFile

FORMATS = ("ro-crate", "prov", "openlineage", "in-toto")
FILE_MODES = ("all", "none")
CONTENT_TYPES = {"ro-crate": "application/zip", "prov": "application/json",
                 "openlineage": "application/json",
                 "in-toto": "application/vnd.dsse.envelope.v1+json"}
MODULES = {"ro-crate": "ro_crate", "prov": "prov", "openlineage": "openlineage",
           "in-toto": "intoto"}
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
    check_format(fmt)
    with_files = check_files(files)
    if fmt == "in-toto" and keys is None:
        raise NoSigningKey()
    data = load_run_export(store, run)
    # each format's library is imported when that format is asked for: together they
    # take seconds to import, which no other command should pay
    module = importlib.import_module(f".{MODULES[fmt]}", __name__)
    if fmt == "ro-crate":
        content = module.export_ro_crate(store, data, files=with_files)
    elif fmt == "prov":
        content = module.export_prov(data)
    elif fmt == "openlineage":
        content = module.export_openlineage(data)
    else:
        content = module.export_intoto(store, data, keys.key())
    return Export(fmt, content, CONTENT_TYPES[fmt], f"{run.run_id}{SUFFIXES[fmt]}")


__all__ = ["CONTENT_TYPES", "FILE_MODES", "FORMATS", "SUFFIXES", "Export", "KeyFile",
           "check_format", "export_run"]
