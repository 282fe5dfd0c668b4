"""Collect a finished task's outputs and vars from its own folders, safely.

The task controlled everything under /out and /wfobj, so nothing there is trusted: every
path is walked one component at a time relative to an open directory (openat-style) with
O_NOFOLLOW, and anything that is not a plain directory or regular file — symlinks, FIFOs,
devices, sockets — is refused. The engine therefore never reads or writes a host file
outside the attempt's own folders, whatever the container left behind.

A declared file is stored as a blob; a declared directory as one tree (objstore/trees.py,
the same hash `put_directory` gives the same content), built from that same careful walk.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from wfobj.engine.errors import MissingOutput, MissingVar, OutputRefused
from wfobj.engine.model import DIR
from wfobj.objstore import ObjectStore, TreeBuilder, TreeRefused

from .base import OutputFile

MAX_VARS_BYTES = 1 << 20
MAX_DEPTH = 64  # nested directories under a declared one (each level holds an open fd)
MAX_FILES = 100_000  # files collected per attempt
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def split_output_path(path: str) -> list[str]:
    """The components of a declared output path; refuses absolute paths, `..` and `.`."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise OutputRefused(str(path), "not a non-empty path")
    if path.startswith("/"):
        raise OutputRefused(path, "absolute paths are not allowed")
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise OutputRefused(path, "'.' and '..' are not allowed in output paths")
    return parts


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink (never followed)"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file or directory"


def _lstat_at(dir_fd: int, name: str, shown: str) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise MissingOutput(shown) from None


def _open_dir_at(dir_fd: int, name: str, shown: str) -> int:
    st = _lstat_at(dir_fd, name, shown)
    if not stat.S_ISDIR(st.st_mode):
        raise OutputRefused(shown, f"{name!r} on the path is {_kind(st.st_mode)}")
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:  # replaced between lstat and open: refuse, never follow
        raise OutputRefused(shown, f"cannot open directory {name!r}: {exc.strerror}") from None


def _open_regular_at(dir_fd: int, name: str, shown: str) -> BinaryIO:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputRefused(shown, "is a symlink (never followed)") from None
        raise OutputRefused(shown, f"cannot open: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OutputRefused(shown, f"is {_kind(st.st_mode)}")
    return os.fdopen(fd, "rb")


class OutputCollector:
    """Store the declared outputs found under one attempt's /out folder: each file as a
    blob, each directory as a tree."""

    def __init__(self, store: ObjectStore, out_dir: str):
        self.store = store
        self.out_dir = out_dir
        self.count = 0

    def collect(self, declared: list[str]) -> list[OutputFile]:
        """One output per declared path (a path declared twice is collected once)."""
        found: dict[str, OutputFile] = {}
        for path in declared:
            out = self._collect_one(split_output_path(path))
            found.setdefault(out.path, out)
        return list(found.values())

    def _collect_one(self, parts: list[str]) -> OutputFile:
        shown = "/".join(parts)
        fd = os.open(self.out_dir, _DIR_FLAGS)
        try:
            for name in parts[:-1]:
                nxt = _open_dir_at(fd, name, shown)
                os.close(fd)
                fd = nxt
            st = _lstat_at(fd, parts[-1], shown)
            if stat.S_ISDIR(st.st_mode):
                return self._store_dir(fd, parts[-1], shown)
            if not stat.S_ISREG(st.st_mode):
                raise OutputRefused(shown, f"is {_kind(st.st_mode)}")
            with _open_regular_at(fd, parts[-1], shown) as f:
                oid, size = self._store_file(f, shown)
            return OutputFile(path=shown, oid=oid, size=size)
        finally:
            os.close(fd)

    def _store_dir(self, parent_fd: int, name: str, shown: str) -> OutputFile:
        """The directory as one tree, stored bottom-up once every file below it is."""
        builder = TreeBuilder(self.store)
        try:
            self._walk_dir(builder, parent_fd, name, shown, "", 0)
            stored = builder.finish()
        except TreeRefused as exc:  # a name or a width the tree format does not take
            raise OutputRefused(f"{shown}/{exc.path}", exc.reason) from None
        return OutputFile(path=shown, oid=stored.oid, size=stored.size, kind=DIR)

    def _walk_dir(self, builder: TreeBuilder, parent_fd: int, name: str, shown: str,
                  prefix: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise OutputRefused(shown, f"directories nested deeper than {MAX_DEPTH} levels")
        fd = _open_dir_at(parent_fd, name, shown)
        try:
            if prefix:
                builder.add_dir(prefix)
            for entry in sorted(os.listdir(fd)):
                child = f"{shown}/{_checked_name(entry, shown)}"
                rel = f"{prefix}/{entry}" if prefix else entry
                st = _lstat_at(fd, entry, child)
                if stat.S_ISDIR(st.st_mode):
                    self._walk_dir(builder, fd, entry, child, rel, depth + 1)
                elif stat.S_ISREG(st.st_mode):
                    with _open_regular_at(fd, entry, child) as f:
                        self._count(child)
                        builder.add_file(rel, f, executable=bool(st.st_mode & stat.S_IXUSR))
                else:
                    raise OutputRefused(child, f"is {_kind(st.st_mode)}")
        finally:
            os.close(fd)

    def _store_file(self, f: BinaryIO, shown: str) -> tuple[str, int]:
        self._count(shown)
        return self.store.put_stream(f)

    def _count(self, shown: str) -> None:
        self.count += 1
        if self.count > MAX_FILES:
            raise OutputRefused(shown, f"more than {MAX_FILES} output files")


def _checked_name(name: str, parent: str) -> str:
    """A directory entry name as recorded; names that are not UTF-8 are refused."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise OutputRefused(parent, f"holds a file name that is not UTF-8: {name!r}") from None
    return name


def read_vars(folder: str, filename: str, declared: list[str]) -> dict[str, str]:
    """The declared vars from the `name=value` lines of folder/filename (last line wins).

    Undeclared names are ignored; a missing declared name raises MissingVar."""
    if not declared:
        return {}
    text = _read_vars_file(folder, filename)
    seen: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() in declared:
            seen[name.strip()] = value
    for name in declared:
        if name not in seen:
            raise MissingVar(name)
    return {name: seen[name] for name in declared}


def _read_vars_file(folder: str, filename: str) -> str:
    dir_fd = os.open(folder, _DIR_FLAGS)
    try:
        st = os.stat(filename, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return ""
    else:
        if not stat.S_ISREG(st.st_mode):
            raise OutputRefused("$WFOBJ_VARS", f"is {_kind(st.st_mode)}")
        with _open_regular_at(dir_fd, filename, "$WFOBJ_VARS") as f:
            data = f.read(MAX_VARS_BYTES + 1)
    finally:
        os.close(dir_fd)
    if len(data) > MAX_VARS_BYTES:
        raise OutputRefused("$WFOBJ_VARS", f"larger than {MAX_VARS_BYTES} bytes")
    return data.decode("utf-8", errors="replace")
