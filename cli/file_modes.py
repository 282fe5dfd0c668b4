"""Files that must be their owner's only: the store (its folder and every file in it) and
the secrets written there.

A store holds every parameter, log, output and token hash, so `serve` and `worker` say
when the one they open is open to other users (one line on stderr, with the fix); they do
not change the modes themselves, since an owner may share a store with a group on purpose.
The processes they start inherit WFOBJ_STORE_MODES_CHECKED and do not say it again.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import click

CHECKED_ENV = "WFOBJ_STORE_MODES_CHECKED"
OTHERS = 0o077  # any permission of the group or of other users


def open_to_others(path: Path) -> int | None:
    """The mode of `path` if its group or other users have any permission on it, else
    None (also when it is not there)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    return mode if mode & OTHERS else None


def exposed(store_path: str | Path) -> list[tuple[Path, int]]:
    """(path, mode) of the store's folder and each entry directly in it that is open to
    others, the folder first, then by name."""
    folder = Path(store_path)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        names = []
    found = [(path, mode) for path in (folder, *(folder / n for n in names))
             if (mode := open_to_others(path)) is not None]
    return found


def warn_if_exposed(who: str, store_path: str | Path) -> None:
    """One line on stderr when the store is open to other users, unless the process that
    started this one said it already."""
    if os.environ.get(CHECKED_ENV):
        return
    found = exposed(store_path)
    if not found:
        return
    path, mode = found[0]
    more = f" (and {len(found) - 1} more in the store)" if len(found) > 1 else ""
    click.echo(f"{who}: warning: {path} is mode {mode:04o}, open to other users{more}; the "
               f"store holds every parameter, log, output and token hash: "
               f"chmod -R go-rwx {Path(store_path)}", err=True)



def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by its owner only (0600) whatever
    the umask, and even when the file was already there with a wider mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fd, 0o600)  # before a byte is written: O_CREAT keeps an old file's mode
        fh.write(text)
