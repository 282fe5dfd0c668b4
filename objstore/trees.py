"""Trees: directories as structured objects, as in git (docs/object-model.md, "tree").

A `tree` lists its entries in name order; a file entry links its blob and keeps its size
and whether it is executable (the only mode kept), a directory entry links its tree and
keeps the total size of the files below it. The same content has one hash everywhere.

    {"type": "tree", "entries": [
        {"name": "a.txt", "kind": "file", "blob": <link>, "size": 12, "executable": false},
        {"name": "sub", "kind": "dir", "tree": <link>, "size": 3400}]}

Trees are built bottom-up once every file below them is stored, so nothing links to a
half-stored directory (the closure rule): an upload cut short leaves only unreferenced
blobs, which gc removes after its grace period. Small files are written many to one
transaction, large ones streamed in chunks (chunking.py); memory holds the names and
hashes of the entries, never their bytes.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import blake3

from . import chunking
from .batch import WriteBatch
from .codec import Link
from .errors import ChecksumMismatch, InvalidObject, NotATree, PathNotInTree, TreeRefused
from .ids import ObjectId

if TYPE_CHECKING:
    from .records import Bytes
    from .store import ObjectStore

TREE_TYPE = "tree"
FILE, DIR = "file", "dir"
MAX_ENTRIES = 100_000  # entries in one directory
MAX_DEPTH = 64  # directories below the root
MAX_NAME_BYTES = 255  # one entry name, UTF-8
MAX_PATH_BYTES = 4096  # a path from the root, UTF-8
MAX_UPLOAD_ENTRIES = 1_000_000  # files and directories in one stored tree
BATCH_BYTES = 8 << 20  # small-file bytes written per transaction
BATCH_FILES = 2000  # small files written per transaction
BLOCK = 512  # tar's record unit
MAX_HEADER_BYTES = 64 << 10  # one pax or GNU long-name header of an uploaded tar
PIECE = 1 << 20  # bytes read from a file at a time


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a tree: a file (blob) or a directory (tree) by its hash."""

    name: str
    kind: str  # FILE or DIR
    oid: ObjectId
    size: int  # a file's bytes; a directory's total file bytes
    executable: bool = False

    def to_value(self) -> dict:
        if self.kind == FILE:
            return {"name": self.name, "kind": FILE, "blob": Link.blob(self.oid),
                    "size": self.size, "executable": self.executable}
        return {"name": self.name, "kind": DIR, "tree": Link.obj(self.oid), "size": self.size}


@dataclass(frozen=True)
class Tree:
    """A directory: its entries in name order."""

    entries: tuple[TreeEntry, ...]

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def to_value(self) -> dict:
        return {"type": TREE_TYPE, "entries": [e.to_value() for e in self.entries]}

    def get(self, name: str) -> TreeEntry | None:
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None

    @classmethod
    def of(cls, entries: list[TreeEntry]) -> Tree:
        return cls(tuple(sorted(entries, key=lambda e: e.name.encode())))

    @classmethod
    def from_value(cls, oid: str, value: object) -> Tree:
        """The tree `value` holds, every field checked (InvalidObject naming `oid`)."""
        if not isinstance(value, dict) or value.get("type") != TREE_TYPE:
            found = value.get("type") if isinstance(value, dict) else type(value).__name__
            raise NotATree(oid, str(found))
        if set(value) != {"type", "entries"} or not isinstance(value["entries"], list):
            raise InvalidObject("a tree has exactly `type` and a list of `entries`", oid)
        entries = tuple(_entry(oid, raw) for raw in value["entries"])
        names = [e.name.encode() for e in entries]
        if names != sorted(set(names)):
            raise InvalidObject("tree entries are not in name order, or repeat a name", oid)
        return cls(entries)


_FILE_KEYS = {"name", "kind", "blob", "size", "executable"}
_DIR_KEYS = {"name", "kind", "tree", "size"}


def _entry(oid: str, raw: object) -> TreeEntry:
    if type(raw) is not dict:
        raise InvalidObject("a tree entry is not a map", oid)
    kind = raw.get("kind")
    if kind == FILE:
        link, executable = raw.get("blob"), raw.get("executable")
        good = raw.keys() == _FILE_KEYS and type(executable) is bool
    else:
        link, executable = raw.get("tree"), False
        good = kind == DIR and raw.keys() == _DIR_KEYS
    if not good or type(link) is not Link or link.is_blob != (kind == FILE):
        raise InvalidObject(f"bad tree entry {sorted(map(str, raw))} of kind {kind!r}", oid)
    size = raw["size"]
    if type(size) is not int or size < 0:  # a bool is no size either
        raise InvalidObject("a tree entry's size is not a non-negative integer", oid)
    name = raw["name"]
    if type(name) is not str or name_problem(name):
        raise InvalidObject(f"bad tree entry name {name!r}", oid)
    return TreeEntry(name, kind, link.oid, size, executable)


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a tree entry, or None."""
    if name in ("", ".", ".."):
        return "is empty, `.` or `..`"
    if "/" in name or "\0" in name:
        return "holds `/` or NUL"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not UTF-8"
    return f"is over {MAX_NAME_BYTES} bytes" if size > MAX_NAME_BYTES else None


def split_path(path: str) -> list[str]:
    """A relative path's parts (`./` and a trailing `/` allowed), each a valid name
    (TreeRefused naming the path)."""
    if path.startswith("/"):
        raise TreeRefused(path, "is absolute")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise TreeRefused(path[:200], f"is over {MAX_PATH_BYTES} bytes")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for part in parts:
        problem = name_problem(part)
        if problem:
            raise TreeRefused(path, f"part {part!r} {problem}")
    if len(parts) > MAX_DEPTH + 1:
        raise TreeRefused(path, f"is more than {MAX_DEPTH} directories deep")
    return parts


# ---- writing --------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredTree:
    """What storing a directory gave: its tree hash, file count and total size."""

    oid: ObjectId
    files: int
    size: int

    def to_json(self) -> dict:
        return {"hash": self.oid, "files": self.files, "size": self.size}


class TreeBuilder:
    """Collects files by path, storing their bytes as they come; finish() writes the
    trees, bottom-up, and returns the root. Paths may come in any order; a directory
    named by no file is added with add_dir. Refuses duplicates and over-wide or
    over-deep input (TreeRefused) before anything links to what was stored. Without a
    store (None) it only hashes: files come by add_hashed, the root by hashed()."""

    def __init__(self, store: ObjectStore | None):
        self.store = store
        self.root: dict = {}
        self.batch = WriteBatch()
        self.pending_bytes = self.pending_files = 0
        self.count = 0

    def add_dir(self, path: str) -> None:
        parts = split_path(path)
        if len(parts) > MAX_DEPTH:  # split_path allows one more part: a file's name
            raise TreeRefused(path, f"is more than {MAX_DEPTH} directories deep")
        self._folder(parts, path)

    def add_file(self, path: str, stream: BinaryIO, *, executable: bool = False) -> None:
        self.add_hashed(path, lambda: self._store_bytes(stream), executable=executable)

    def add_hashed(self, path: str, write: Callable[[], tuple[ObjectId, int]], *,
                   executable: bool = False) -> None:
        """A file whose bytes go elsewhere (a checkout, an upload): `write()` is called
        once `path` is accepted and returns the hash and size of what it wrote."""
        parts = split_path(path)
        if not parts:
            raise TreeRefused(path, "names no file")
        folder = self._folder(parts[:-1], path)
        self._claim(folder, parts[-1], path)
        oid, size = write()
        folder[parts[-1]] = TreeEntry(parts[-1], FILE, oid, size, executable)

    def add_stored(self, path: str, kind: str, oid: ObjectId, size: int, *,
                   executable: bool = False) -> None:
        """A file (blob) or a whole directory (tree) already in the store, placed at
        `path` by its hash: nothing is read (a directory counts as one entry here)."""
        parts = split_path(path)
        if not parts:
            raise TreeRefused(path, "names no entry")
        folder = self._folder(parts[:-1], path)
        self._claim(folder, parts[-1], path)
        folder[parts[-1]] = TreeEntry(parts[-1], kind, oid, size, executable and kind == FILE)

    def finish(self) -> StoredTree:
        self._flush()
        batch = WriteBatch()
        stored = self._trees(batch)
        self.store.commit(batch)
        return stored

    def hashed(self) -> StoredTree:
        """The tree finish() would store, hashed, storing nothing: for files written
        elsewhere (add_hashed), as by a builder with no store."""
        return self._trees(WriteBatch())

    def _trees(self, batch: WriteBatch) -> StoredTree:
        files = sum(1 for _ in _leaves(self.root))
        entry = self._write(batch, "", self.root)
        return StoredTree(entry.oid, files, entry.size)

    def _folder(self, parts: list[str], path: str) -> dict:
        folder = self.root
        for part in parts:
            child = folder.get(part)
            if child is None:
                self._claim(folder, part, path)
                child = folder[part] = {}
            elif not isinstance(child, dict):
                raise TreeRefused(path, f"{part!r} is a file, not a directory")
            folder = child
        return folder

    def _claim(self, folder: dict, name: str, path: str) -> None:
        if name in folder:
            raise TreeRefused(path, "is given twice")
        self.count += 1
        _check_counts(path, len(folder) + 1, self.count)

    def _store_bytes(self, stream: BinaryIO) -> tuple[ObjectId, int]:
        head = chunking.read_head(stream, chunking.CHUNK_THRESHOLD)
        if len(head) > chunking.CHUNK_THRESHOLD:  # large: its own chunked transactions
            self._flush()
            return chunking.put_chunked(self.store, chunking.Prefixed(head, stream))
        oid = self.batch.put_blob(head)
        self.pending_bytes += len(head)
        self.pending_files += 1
        if self.pending_bytes >= BATCH_BYTES or self.pending_files >= BATCH_FILES:
            self._flush()
        return oid, len(head)

    def _flush(self) -> None:
        if self.pending_files:
            self.store.commit(self.batch)
        self.batch, self.pending_bytes, self.pending_files = WriteBatch(), 0, 0

    def _write(self, batch: WriteBatch, name: str, folder: dict) -> TreeEntry:
        entries = [self._write(batch, key, value) if isinstance(value, dict) else value
                   for key, value in folder.items()]
        tree = Tree.of(entries)
        return TreeEntry(name, DIR, batch.put_object(tree.to_value()), tree.size)


def _check_counts(path: str, in_folder: int, in_tree: int) -> None:
    """Refuse `path` if it makes its directory or the whole tree wider than allowed."""
    if in_folder > MAX_ENTRIES:
        raise TreeRefused(path, f"its directory has more than {MAX_ENTRIES} entries")
    if in_tree > MAX_UPLOAD_ENTRIES:
        raise TreeRefused(path, f"the tree has more than {MAX_UPLOAD_ENTRIES} entries")


def _leaves(folder: dict) -> Iterator[TreeEntry]:
    for value in folder.values():
        if isinstance(value, dict):
            yield from _leaves(value)
        else:
            yield value


def put_directory(store: ObjectStore, path: str | Path) -> StoredTree:
    """Store the directory at `path`: regular files and directories only (a symlink,
    device, FIFO or socket is refused naming its path); nothing is followed."""
    builder = TreeBuilder(store)
    for item in scan_directory(path):
        if item.is_dir:
            builder.add_dir(item.path)
            continue
        with item.open() as f:
            builder.add_file(item.path, f, executable=item.executable)
    return builder.finish()


@dataclass(frozen=True)
class FolderItem:
    """One entry below a folder on disk: its path from the folder, where it is, and
    whether it is a directory or an (executable) file."""

    path: str
    source: str
    is_dir: bool
    executable: bool = False

    def open(self) -> BinaryIO:
        """The file, opened without following a link put in its place since the scan."""
        try:
            fd = os.open(self.source, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise TreeRefused(self.path, _REFUSED_KIND.format("symbolic link")) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise TreeRefused(self.path, "changed while it was read: no longer a file")
        return os.fdopen(fd, "rb")


def scan_directory(path: str | Path) -> Iterator[FolderItem]:
    """Every entry below the directory at `path`, in name order, a directory before what
    it holds, checked as put_directory checks it (TreeRefused naming a symlink, device,
    FIFO or socket, a bad name, or an entry past a bound) without reading a file."""
    root = Path(path)
    if not root.is_dir() or root.is_symlink():
        raise TreeRefused(str(path), "is not a directory")
    count = 0
    for item in _scan(root, ""):
        count += 1
        _check_counts(item.path, 0, count)
        yield item


def _scan(folder: Path, prefix: str) -> Iterator[FolderItem]:
    with os.scandir(folder) as it:
        items = sorted(it, key=lambda e: e.name)
    if items:  # too wide: refused before anything in it is read
        _check_counts(f"{prefix}{items[-1].name}", len(items), 0)
    for item in items:
        rel = f"{prefix}{item.name}"
        split_path(rel)
        mode = item.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            yield FolderItem(rel, item.path, True)
            yield from _scan(Path(item.path), rel + "/")
        elif stat.S_ISREG(mode):
            yield FolderItem(rel, item.path, False, bool(mode & stat.S_IXUSR))
        else:
            raise TreeRefused(rel, _REFUSED_KIND.format(_kind_of(mode)))


_REFUSED_KIND = "is a {}; only files and directories are stored"


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "symbolic link"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def put_tar(store: ObjectStore, stream: BinaryIO) -> StoredTree:
    """Store the tar archive read from `stream` (streamed, never held): regular files and
    directories only; an absolute name, `..`, a duplicate, a link, a device or a sparse
    file is refused naming the entry (TreeRefused), as is an archive without its end
    (two zero blocks): a cut upload is never taken for a smaller tree."""
    builder = TreeBuilder(store)
    for member, data in _members(stream):
        if data is None:
            builder.add_dir(member.name)
        else:
            builder.add_file(member.name, data, executable=_executable(member))
            data.check_whole(member)
    return builder.finish()


def _members(stream: BinaryIO) -> Iterator[tuple[tarfile.TarInfo, _Counted | None]]:
    """Each member of the tar archive read from `stream`: a directory with None, a regular
    file with its bytes (to be read before the next member). Anything else, or an archive
    without its end (two zero blocks), is refused (TreeRefused)."""
    tape = _Tape(stream)
    try:
        archive = tarfile.open(fileobj=tape, mode="r|", tarinfo=_BoundedInfo)
    except tarfile.TarError as exc:
        raise TreeRefused("(archive)", f"is not a tar archive: {exc}") from None
    try:
        while (member := archive.next()) is not None:
            archive.members.clear()  # the reader would keep every header it saw
            tape.forget_before(member.offset_data)
            if member.isdir():
                yield member, None
            elif member.isreg() and not member.issparse():
                yield member, _Counted(archive.extractfile(member), tape, member.offset_data)
            else:
                raise TreeRefused(member.name, _REFUSED_KIND.format(_member_kind(member)))
    except tarfile.TarError as exc:
        raise TreeRefused("(archive)", f"is cut short or damaged: {exc}") from None
    if tape.block_at(archive.offset, 2 * BLOCK) != bytes(2 * BLOCK):
        raise TreeRefused("(archive)", "is cut short or damaged: no end-of-archive blocks "
                                       f"at byte {archive.offset}")


class _BoundedInfo(tarfile.TarInfo):
    """A tar header that refuses, before reading them, a long-name or pax header over
    MAX_HEADER_BYTES and a sparse map: the reader would hold them whole."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _LONG_HEADERS and self.size > MAX_HEADER_BYTES:
            raise TreeRefused(self.name or "(archive)",
                              f"has a {self.size}-byte extended header, over "
                              f"{MAX_HEADER_BYTES}")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise TreeRefused(self.name, _REFUSED_KIND.format("sparse file"))
        return super()._proc_member(tarfile_)


_LONG_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                 tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


def _executable(member: tarfile.TarInfo) -> bool:
    return bool(member.mode & stat.S_IXUSR)


def _member_kind(member: tarfile.TarInfo) -> str:
    return ("sparse file" if member.issparse() else "symbolic link" if member.issym()
            else "hard link" if member.islnk() else "FIFO" if member.isfifo()
            else "device" if member.isdev() else "special entry")


class _Tape:
    """The raw stream under the tar reader, keeping what was read from the last position
    still needed on (the tar reader reads ahead), so the archive's end can be checked."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.kept, self.kept_at = stream, bytearray(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.kept += data
        return data

    def forget_before(self, offset: int) -> None:
        drop = min(offset - self.kept_at, len(self.kept))
        if drop > 0:
            del self.kept[:drop]
            self.kept_at += drop

    def block_at(self, offset: int, size: int) -> bytes:
        self.forget_before(offset)
        while len(self.kept) < size and self.read(size - len(self.kept)):
            pass
        return bytes(self.kept[:size]) if self.kept_at == offset else b""


class _Counted:
    """A member's bytes, counted as they are read; what is behind them is let go."""

    def __init__(self, stream: BinaryIO, tape: _Tape, start: int):
        self.stream, self.tape, self.start, self.count = stream, tape, start, 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.stream.read(n)
        except tarfile.TarError as exc:
            raise TreeRefused("(archive)", f"is cut short or damaged: {exc}") from None
        self.count += len(data)
        self.tape.forget_before(self.start + self.count)
        return data

    def check_whole(self, member: tarfile.TarInfo) -> None:
        if self.count != member.size:
            raise TreeRefused(member.name, f"is cut short: {self.count} of {member.size} "
                                           "bytes")


# ---- reading --------------------------------------------------------------------------
def read_tree(store: ObjectStore, oid: str) -> Tree:
    """The tree `oid`, verified (NotATree for a blob or another object); decoded once."""
    if not store.is_structured(oid):
        raise NotATree(oid, "blob")
    return Tree.from_value(oid, store.get_object(oid))


def is_tree(store: ObjectStore, oid: str) -> bool:
    return store.type_of(oid) == TREE_TYPE


def entry_at(store: ObjectStore, oid: str, path: str) -> TreeEntry:
    """The entry at `path` inside the tree `oid` (the root itself for an empty path)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    entry = TreeEntry("", DIR, ObjectId(oid), 0)
    for i, part in enumerate(parts):
        if entry.kind != DIR:
            break
        found = read_tree(store, entry.oid).get(part)
        if found is None:
            raise PathNotInTree(oid, "/".join(parts[:i + 1]))
        entry = found
    else:
        return entry
    raise PathNotInTree(oid, path)


def walk_tree(store: ObjectStore, oid: str, prefix: str = "") -> Iterator[tuple[str, TreeEntry]]:
    """(path, entry) of every entry below the tree `oid`, depth first in name order,
    a directory before what it holds."""
    for entry in read_tree(store, oid).entries:
        path = f"{prefix}{entry.name}"
        yield path, entry
        if entry.kind == DIR:
            yield from walk_tree(store, entry.oid, path + "/")


def checkout_tree(store: ObjectStore, oid: str, dest: str | Path, *,
                  writers: int | None = None) -> StoredTree:
    """Write the tree `oid` into `dest` (created, or an existing empty directory): every
    file verified against its hash before it gets its name, executable bits restored.
    Names are made relative to their open directory (no path is resolved twice, and a
    link put in place of a directory meanwhile is not followed).

    The trees are read and the files' contents read and verified in this thread, a
    folder's small files in few snapshots, and written as they are verified; with
    `writers` threads (default CHECKOUT_WRITERS, none) those make the files instead, a
    batch at a time, while the next ones are read.
    On an error the files already verified are written, the writers finish what they
    hold, and the error is raised: no file holds other bytes than its blob's, and a
    file that could not be written whole is removed."""
    target = Path(dest)
    _check_empty(target)
    read_tree(store, oid)  # a blob or another object: refused before anything is made
    target.mkdir(parents=True, exist_ok=True)
    out = _Checkout(store, _process_umask(), CHECKOUT_WRITERS if writers is None else writers)
    with out:
        out.write_tree(oid, os.open(target, _DIR_FLAGS))
    return StoredTree(ObjectId(oid), out.files, out.size)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# threads making a checkout's files (file system calls free the GIL); none by default: on
# the shared 2-core VM two writers gave no gain (docs/bench.md, checkout) and, on ext4,
# more system time. The reading thread then writes each file as it is verified.
CHECKOUT_WRITERS = 0
WRITE_BATCH_FILES = 64  # small files handed to a writer at a time …
WRITE_BATCH_BYTES = 1 << 20  # … or fewer, once they hold this many bytes
WRITES_PENDING = 8  # batches handed over and not yet written, at most (bounds memory)


class _Checkout:
    """Writes trees into open directories, counting the files and bytes written.

    Batches of (name, mode, content) go to the writer threads in order; `pending` holds
    each batch's future and, after a folder's last batch, the folder's descriptor, which
    is closed once every batch before it is written (they are waited for in order)."""

    def __init__(self, store: ObjectStore, umask: int | None, writers: int):
        self.store, self.umask = store, umask
        self.files = self.size = 0
        self.pool = ThreadPoolExecutor(writers, "wfobj-checkout") if writers else None
        self.pending: collections.deque[tuple[Future | None, int | None]] = collections.deque()

    def __enter__(self) -> _Checkout:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        """Wait for every batch handed over, close every descriptor still open, stop the
        writers; then raise a writer's first error, unless an error is raised already."""
        error: Exception | None = None
        try:
            while self.pending:
                try:
                    self._settle(raising=exc is None and error is None)
                except Exception as failed:  # noqa: BLE001 - raised below, once all is settled
                    error = failed
        finally:
            if self.pool is not None:
                self.pool.shutdown()
        if error is not None:
            raise error

    def write_tree(self, oid: str, folder: int) -> None:
        """Fill the open directory `folder` (closed once written) with the tree `oid`."""
        try:
            entries = read_tree(self.store, oid).entries
            self._write_small(entries, folder)
            for entry in entries:
                if entry.kind == FILE and entry.size > chunking.CHUNK_THRESHOLD:
                    self._write_large(entry, folder)
            for entry in entries:
                if entry.kind == DIR:
                    os.mkdir(entry.name, dir_fd=folder)
                    self.write_tree(entry.oid, os.open(entry.name, _DIR_FLAGS, dir_fd=folder))
        finally:
            if self.pool is None:
                os.close(folder)
            else:
                self.pending.append((None, folder))  # closed after the batches before it
        self._trim(WRITES_PENDING)

    def _write_small(self, entries: tuple[TreeEntry, ...], folder: int) -> None:
        """The folder's files of blobs kept whole: read in few snapshots, each verified
        against its hash, copied out once and handed to a writer in batches; a blob two
        names share is read once. On a read error the batch verified so far is written."""
        small: dict[str, list[tuple[str, int]]] = {}  # blob -> (name, mode) of its files
        for entry in entries:
            if entry.kind == FILE and entry.size <= chunking.CHUNK_THRESHOLD:
                small.setdefault(entry.oid, []).append(
                    (entry.name, 0o755 if entry.executable else 0o644))
                self.files, self.size = self.files + 1, self.size + entry.size
        if not small:
            return
        batch: list[tuple[str, int, Bytes]] = []
        held = [0]

        def take(blob: ObjectId, content: Bytes) -> None:
            if self.pool is None:  # written here, from where it is stored
                _write_files(folder, [(name, mode, content) for name, mode in small[blob]],
                             self.umask)
                return
            data = bytes(content)  # a view dies with its snapshot; a writer comes later
            for name, mode in small[blob]:
                batch.append((name, mode, data))
            held[0] += len(data)
            if len(batch) >= WRITE_BATCH_FILES or held[0] >= WRITE_BATCH_BYTES:
                ready = batch[:]
                batch.clear()
                held[0] = 0
                self._hand_over(folder, ready)

        try:
            self.store.read_blobs(list(small), take)
        except Exception:
            if batch:  # verified before the error: written, without raising again
                with contextlib.suppress(OSError):
                    self._hand_over(folder, batch, settle=False)
            raise
        if batch:
            self._hand_over(folder, batch)

    def _hand_over(self, folder: int, batch: list[tuple[str, int, Bytes]], *,
                   settle: bool = True) -> None:
        """Write `batch` into `folder` here, or hand it to a writer once fewer than
        WRITES_PENDING batches wait (unless `settle` is false: on an error's way out)."""
        if self.pool is None:
            _write_files(folder, batch, self.umask)
            return
        if settle:
            self._trim(WRITES_PENDING - 1)
        self.pending.append((self.pool.submit(_write_files, folder, batch, self.umask), None))

    def _trim(self, most: int) -> None:
        while len(self.pending) > most:
            self._settle(raising=True)

    def _settle(self, *, raising: bool) -> None:
        """Wait for the oldest batch handed over (its error raised if `raising`), or
        close the folder that waited for it."""
        future, fd = self.pending.popleft()
        try:
            if future is not None:
                if raising:
                    future.result()
                else:
                    future.exception()  # waited for; the error being raised wins
        finally:
            if fd is not None:
                os.close(fd)

    def _write_large(self, entry: TreeEntry, folder: int) -> None:
        """A chunked file is written aside and renamed once its last chunk and its whole
        hash are verified: no file of wrong bytes gets its name."""
        mode = 0o755 if entry.executable else 0o644
        part = f".{entry.name}.wfobj-part"
        try:
            _create(part, folder, mode, self.store.iter_blob(entry.oid), self.umask)
            os.rename(part, entry.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part, dir_fd=folder)
            raise
        self.files, self.size = self.files + 1, self.size + entry.size


def _write_files(folder: int, batch: list[tuple[str, int, Bytes]], umask: int | None) -> None:
    """New files (never an existing one or a link) in the open directory `folder`, each
    of content already verified; a file not written whole is removed."""
    for name, mode, data in batch:
        fd = os.open(name, _NEW_FILE_FLAGS, mode, dir_fd=folder)
        try:
            if umask is None or mode & umask:
                os.fchmod(fd, mode)  # the mode whatever the umask
            written = os.write(fd, data) if len(data) else 0
            if written < len(data):
                _write_all(fd, memoryview(data)[written:])
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder)
            raise
        os.close(fd)


def _create(name: str, folder: int, mode: int, pieces: Iterable[bytes],
            umask: int | None) -> None:
    """A new file (never an existing one or a link) of `pieces`, `mode` whatever the
    umask (set again only when the umask would take bits off)."""
    fd = os.open(name, _NEW_FILE_FLAGS, mode, dir_fd=folder)
    try:
        if umask is None or mode & umask:
            os.fchmod(fd, mode)
        for piece in pieces:
            _write_all(fd, piece)
    finally:
        os.close(fd)


def _write_all(fd: int, data: Bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _process_umask() -> int | None:
    """This process's umask, read without changing it (Linux); None where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return None


def archive_tree(store: ObjectStore, oid: str) -> Iterator[bytes]:
    """The tree as a tar stream: the same tree always gives the same bytes (names in
    order, owners and times zero, modes 0644/0755); file bytes verified as they go."""
    read_tree(store, oid)
    for path, entry in walk_tree(store, oid):
        yield _tar_header(path, entry.kind, entry.size, entry.executable)
        if entry.kind == FILE:
            yield from store.iter_blob(entry.oid)
            yield _tar_padding(entry.size)
    yield bytes(2 * BLOCK)


def _tar_header(path: str, kind: str, size: int, executable: bool) -> bytes:
    """One entry's tar header, the same for the same entry: owners and times zero, modes
    0644/0755."""
    info = tarfile.TarInfo(path + ("/" if kind == DIR else ""))
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if kind == DIR:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size, info.mode = size, 0o755 if executable else 0o644
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def _tar_padding(size: int) -> bytes:
    return bytes(-size % BLOCK)



# ---- between a folder and a tar -------------------------------------------------------
class DirectoryArchive:
    """The directory at `path` as the tar stream put_tar stores, made as its files are
    read (never whole in memory or on disk); read() it once. Checked as put_directory
    checks a folder; a file that changes while it is read is refused (TreeRefused), which
    leaves the stream without its end, so put_tar refuses it too. Once read to the end,
    `stored` is the tree the stream makes, hashed from the bytes that were read."""

    def __init__(self, path: str | Path):
        self.path = path
        self.stored: StoredTree | None = None
        self._pieces = self._generate()
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece
        taken = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:taken])
        del self._buffer[:taken]
        return data

    def _generate(self) -> Iterator[bytes]:
        hashes = TreeBuilder(None)
        for item in scan_directory(self.path):
            if item.is_dir:
                hashes.add_dir(item.path)
                yield _tar_header(item.path, DIR, 0, False)
                continue
            with item.open() as f:
                size = os.fstat(f.fileno()).st_size
                yield _tar_header(item.path, FILE, size, item.executable)
                hasher = blake3.blake3()
                yield from _read_exactly(f, size, hasher, item.path)
            hashes.add_hashed(item.path, lambda h=hasher, n=size: (ObjectId(h.hexdigest()), n),
                              executable=item.executable)
            yield _tar_padding(size)
        yield bytes(2 * BLOCK)
        self.stored = hashes.hashed()


def _read_exactly(f: BinaryIO, size: int, hasher: blake3.blake3, path: str) -> Iterator[bytes]:
    left = size
    while left and (piece := f.read(min(PIECE, left))):
        hasher.update(piece)
        left -= len(piece)
        yield piece
    if left or f.read(1):
        raise TreeRefused(path, "changed while it was read")


def checkout_archive(stream: BinaryIO, oid: str, dest: str | Path) -> StoredTree:
    """Write the tar archive read from `stream` into `dest` (created, or an existing
    empty directory) if it holds exactly the tree `oid`: unpacked aside under put_tar's
    rules (TreeRefused naming the entry), each file hashed as it is written, the tree's
    hash made from what was written and compared (ChecksumMismatch). Only then do the
    entries get their names; a refusal leaves `dest` as it was."""
    target = Path(dest)
    _check_empty(target)
    made = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=".wfobj-checkout-", dir=target))
    try:
        stored = _unpack(stream, aside)
        if stored.oid != oid:
            raise ChecksumMismatch(oid, stored.oid)
        for child in aside.iterdir():
            child.rename(target / child.name)
        aside.rmdir()
    except BaseException:
        shutil.rmtree(aside, ignore_errors=True)
        if made:
            target.rmdir()
        raise
    return stored


def _check_empty(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise TreeRefused(str(target), "is not an empty directory")


def _unpack(stream: BinaryIO, root: Path) -> StoredTree:
    hashes = TreeBuilder(None)
    for member, data in _members(stream):
        place = root.joinpath(*split_path(member.name))
        if data is None:
            hashes.add_dir(member.name)
            place.mkdir(parents=True, exist_ok=True)
            continue
        executable = _executable(member)
        hashes.add_hashed(member.name, lambda d=data, p=place, x=executable: _write_new(d, p, x),
                          executable=executable)
        data.check_whole(member)
    return hashes.hashed()


def _write_new(stream: BinaryIO, place: Path, executable: bool) -> tuple[ObjectId, int]:
    """Write `stream` to the new file `place`; its hash and size."""
    place.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o755 if executable else 0o644
    hasher, size = blake3.blake3(), 0
    fd = os.open(place, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        while piece := stream.read(PIECE):
            hasher.update(piece)
            size += len(piece)
            f.write(piece)
    os.chmod(place, mode)  # whatever the umask
    return ObjectId(hasher.hexdigest()), size
