"""Spool files: where a running attempt's stdout and stderr are written while it runs.

For an LMDB store they live where any process on the store can find them:

    <store>/live-logs/<run_id>/<task>.<attempt>.stdout   (and .stderr; files 0600, folders 0700)

The Docker executor writes them and stores them as blobs when the attempt ends; the API
reads them while the attempt runs (engine/provenance/logs.py).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from wfobj.engine.layout import LIVE_DIR
from wfobj.objstore import LmdbObjectStore, ObjectStore

STREAMS = ("stdout", "stderr")
READ_BYTES = 64 << 10  # the most one read of a spool file returns


_SAFE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\Z")


def live_root(store: ObjectStore) -> Path | None:
    """Where the live logs of `store` go; None for a store without a folder (memory)."""
    if isinstance(store, LmdbObjectStore):
        return store.path / LIVE_DIR
    return None


def _run_dir(root: Path, run_id: str) -> Path | None:
    return root / run_id if _SAFE_RE.match(run_id) and ".." not in run_id else None


def live_paths(store: ObjectStore, run_id: str, task: str,
               attempt: int) -> dict[str, Path] | None:
    """{"stdout": path, "stderr": path} of one attempt, or None when it has none."""
    root = live_root(store)
    folder = None if root is None else _run_dir(root, run_id)
    if folder is None or not _SAFE_RE.match(task):
        return None
    return {name: folder / f"{task}.{attempt}.{name}" for name in STREAMS}


def open_spools(paths: dict[str, Path]) -> None:
    """Create the run's folder (0700) and two empty spool files (0600, whatever the
    umask: they hold the task's output)."""
    paths["stdout"].parent.parent.mkdir(mode=0o700, exist_ok=True)
    paths["stdout"].parent.mkdir(mode=0o700, exist_ok=True)
    for path in paths.values():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # one left by an older version keeps no wider mode
        finally:
            os.close(fd)


def remove_spools(paths: dict[str, str | Path]) -> None:
    """Delete an attempt's spool files, and the run's folder once it is empty."""
    for path in paths.values():
        Path(path).unlink(missing_ok=True)
    try:
        Path(paths["stdout"]).parent.rmdir()
    except OSError:
        pass  # other attempts of the run still write there


def remove_run_logs(store: ObjectStore, run_id: str) -> None:
    """Delete whatever live logs a dead worker left for `run_id`."""
    root = live_root(store)
    folder = None if root is None else _run_dir(root, run_id)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def read_from(path: Path, offset: int) -> bytes:
    """Up to READ_BYTES of `path` from `offset`; nothing when it is not there (yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(READ_BYTES)
    except FileNotFoundError:
        return b""
