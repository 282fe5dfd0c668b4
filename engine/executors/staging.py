"""One attempt's private host folders: inputs staged read-only, an empty /out, the vars file.

    <root>/wfobj-<run_id>-XXXX/  (0700: only the engine's user may look inside)
        in/<name>                 input blobs, and input trees checked out as folders,
                                  bind-mounted read-only at /in
        out/                      empty, bind-mounted read-write at /out
        meta/vars                 empty, /wfobj in the container; $WFOBJ_VARS=/wfobj/vars
        stdout, stderr            the task's logs, spooled here by the engine (not mounted)

The folder is removed when the attempt ends, whatever the task left in it.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from wfobj.engine.errors import BadInputName
from wfobj.engine.model import DIR
from wfobj.objstore import ObjectStore, checkout_tree

from .base import InputFile

VARS_MOUNT = "/wfobj"
VARS_FILE = "vars"


def folder_prefix(run_id: str) -> str:
    """Attempt folders are named after their run, so a crashed worker's can be found."""
    safe = "".join(ch for ch in run_id if ch.isalnum() or ch == "-")
    return f"wfobj-{safe}-" if safe else "wfobj-attempt-"


def remove_run_folders(root: str | None, run_id: str) -> int:
    """Delete attempt folders a dead worker left for `run_id`; returns how many."""
    root = root or tempfile.gettempdir()
    prefix = folder_prefix(run_id)
    if prefix == "wfobj-attempt-":
        return 0
    removed = 0
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name.startswith(prefix) and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=_make_removable)
            removed += 1
    return removed


def check_input_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise BadInputName(name)
    return name


class AttemptFolder:
    """Create, fill and finally remove the host folders of one attempt."""

    def __init__(self, root: str | None = None, run_id: str = ""):
        self.path = tempfile.mkdtemp(prefix=folder_prefix(run_id), dir=root)
        self.in_dir = os.path.join(self.path, "in")
        self.out_dir = os.path.join(self.path, "out")
        self.meta_dir = os.path.join(self.path, "meta")
        for folder in (self.in_dir, self.out_dir, self.meta_dir):
            os.mkdir(folder)
        # The task may run as any user inside the container: let it write /out and vars.
        os.chmod(self.in_dir, 0o755)
        os.chmod(self.out_dir, 0o777)
        os.chmod(self.meta_dir, 0o777)
        vars_path = os.path.join(self.meta_dir, VARS_FILE)
        with open(vars_path, "wb"):
            pass
        os.chmod(vars_path, 0o666)

    def stage_inputs(self, store: ObjectStore, inputs: list[InputFile]) -> None:
        """Write each input to in/<name>, read-only for the task: a blob as a file, a
        tree as a folder (checkout_tree: every file verified before it gets its name)."""
        for item in inputs:
            path = os.path.join(self.in_dir, check_input_name(item.name))
            if item.kind == DIR:
                checkout_tree(store, item.oid, path)
                _read_only(path)
                continue
            with open(path, "xb") as f:
                for piece in store.iter_blob(item.oid):
                    f.write(piece)
            os.chmod(path, 0o444)

    def spool(self, name: str) -> str:
        """A path for an engine-written file, in the part of the folder never mounted."""
        return os.path.join(self.path, name)

    def volumes(self) -> dict[str, dict[str, str]]:
        """Bind mounts for the docker SDK `volumes=` argument."""
        return {
            self.in_dir: {"bind": "/in", "mode": "ro"},
            self.out_dir: {"bind": "/out", "mode": "rw"},
            self.meta_dir: {"bind": VARS_MOUNT, "mode": "rw"},
        }

    def remove(self) -> None:
        """Delete everything, even folders the task made unreadable or unwritable."""
        shutil.rmtree(self.path, onerror=_make_removable)


def _read_only(folder: str) -> None:
    """Take the write bits off a checked-out tree (its files keep their executable bit),
    whatever the umask gave, so any user the task runs as may read it and none write it
    (the /in mount is read-only as well)."""
    for parent, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = os.path.join(parent, name)
            os.chmod(path, 0o555 if os.stat(path).st_mode & 0o100 else 0o444)
        for name in dirs:
            os.chmod(os.path.join(parent, name), 0o555)
    os.chmod(folder, 0o555)


def _make_removable(func, path, exc_info) -> None:
    """rmtree error hook: open up the permissions the task may have closed, then retry.

    Runs after the container is gone, so nothing can swap paths underneath it."""
    if issubclass(exc_info[0], FileNotFoundError):
        return
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
        shutil.rmtree(path)
    else:
        func(path)
