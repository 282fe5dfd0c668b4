"""One attempt's secret files: a private folder on a host tmpfs (memory, never disk),
bind-mounted read-only at /run/secrets, removed when the attempt ends.

    <tmpfs>/wfobj-secrets-<run_id>-XXXX/   0700: only the engine's user may look inside
        files/                             0755, mounted at /run/secrets (read-only)
            <FILE>                         0444: whatever user the task runs as reads it

The tmpfs is /dev/shm unless the executor is given another; a folder that is not on a
tmpfs is refused, so a secret never reaches a disk through this path.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

from wfobj.engine.errors import SecretUnavailable

from .base import SecretUse

DEFAULT_ROOT = "/dev/shm"
MOUNT_POINT = "/run/secrets"
MEMORY_FS = frozenset({"tmpfs", "ramfs"})
MOUNTS = "/proc/mounts"


def folder_prefix(run_id: str) -> str:
    safe = "".join(ch for ch in run_id if ch.isalnum() or ch == "-")
    return f"wfobj-secrets-{safe}-"


def filesystem_type(path: str, mounts: str = MOUNTS) -> str | None:
    """The type of the filesystem `path` is on (its longest mount point), or None."""
    target = os.path.realpath(path)
    best, kind = "", None
    try:
        with open(mounts, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[2]
    except OSError:
        return None
    return kind


class SecretFiles:
    """Write the file-placed secrets of one attempt; `volumes()` mounts them."""

    def __init__(self, uses: tuple[SecretUse, ...], values: dict[str, bytes], run_id: str,
                 root: str | None = None) -> None:
        files = [use for use in uses if use.kind == "file"]
        self.path: str | None = None
        self.files_dir: str | None = None
        if not files:
            return
        root = root or DEFAULT_ROOT
        if filesystem_type(root) not in MEMORY_FS:
            raise SecretUnavailable(files[0].name, f"its file needs a tmpfs and {root} is not "
                                    "one (docs/secrets.md)")
        self.path = tempfile.mkdtemp(prefix=folder_prefix(run_id), dir=root)
        try:
            self.files_dir = os.path.join(self.path, "files")
            os.mkdir(self.files_dir)
            os.chmod(self.files_dir, 0o755)
            for use in files:
                self.write(os.path.basename(use.place), values[use.name])
        except BaseException:
            self.remove()
            raise

    def write(self, name: str, value: bytes) -> None:
        fd = os.open(os.path.join(self.files_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o444)
        with os.fdopen(fd, "wb") as f:
            f.write(value)

    def volumes(self) -> dict[str, dict[str, str]]:
        if self.files_dir is None:
            return {}
        return {self.files_dir: {"bind": MOUNT_POINT, "mode": "ro"}}

    def remove(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = self.files_dir = None


def remove_run_secret_files(root: str | None, run_id: str) -> int:
    """Delete secret folders a dead worker left for `run_id`; returns how many."""
    root = root or DEFAULT_ROOT
    prefix = folder_prefix(run_id)
    if prefix == "wfobj-secrets--":
        return 0
    removed = 0
    try:
        names = os.listdir(root)
    except OSError:
        return 0
    for name in names:
        path = os.path.join(root, name)
        if name.startswith(prefix) and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
