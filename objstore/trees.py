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

import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from . import chunking
from .batch import WriteBatch
from .codec import Link
from .errors import InvalidObject, NotATree, PathNotInTree, TreeRefused
from .ids import ObjectId

if TYPE_CHECKING:
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
    if not isinstance(raw, dict):
        raise InvalidObject("a tree entry is not a map", oid)
    kind, keys = raw.get("kind"), set(raw)
    link = raw.get("blob" if kind == FILE else "tree")
    good = (kind == FILE and keys == _FILE_KEYS and isinstance(raw["executable"], bool)
            or kind == DIR and keys == _DIR_KEYS)
    if not good or not isinstance(link, Link) or link.is_blob != (kind == FILE):
        raise InvalidObject(f"bad tree entry {sorted(keys)} of kind {kind!r}", oid)
    size = raw["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidObject("a tree entry's size is not a non-negative integer", oid)
    name = raw["name"]
    if not isinstance(name, str) or name_problem(name):
        raise InvalidObject(f"bad tree entry name {name!r}", oid)
    return TreeEntry(name, kind, link.oid, size, raw.get("executable", False))


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
    over-deep input (TreeRefused) before anything links to what was stored."""

    def __init__(self, store: ObjectStore):
        self.store = store
        self.root: dict = {}
        self.batch = WriteBatch()
        self.pending_bytes = self.pending_files = 0
        self.count = 0

    def add_dir(self, path: str) -> None:
        self._folder(split_path(path), path)

    def add_file(self, path: str, stream: BinaryIO, *, executable: bool = False) -> None:
        parts = split_path(path)
        if not parts:
            raise TreeRefused(path, "names no file")
        folder = self._folder(parts[:-1], path)
        self._claim(folder, parts[-1], path)
        oid, size = self._store_bytes(stream)
        folder[parts[-1]] = TreeEntry(parts[-1], FILE, oid, size, executable)

    def finish(self) -> StoredTree:
        self._flush()
        files = sum(1 for _ in _leaves(self.root))
        batch = WriteBatch()
        entry = self._write(batch, "", self.root)
        self.store.commit(batch)
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
        if len(folder) >= MAX_ENTRIES:
            raise TreeRefused(path, f"its directory has more than {MAX_ENTRIES} entries")
        self.count += 1
        if self.count > MAX_UPLOAD_ENTRIES:
            raise TreeRefused(path, f"the tree has more than {MAX_UPLOAD_ENTRIES} entries")

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
    root = Path(path)
    if not root.is_dir() or root.is_symlink():
        raise TreeRefused(str(path), "is not a directory")
    _add_folder(builder, root, "")
    return builder.finish()


def _add_folder(builder: TreeBuilder, folder: Path, prefix: str) -> None:
    with os.scandir(folder) as it:
        items = sorted(it, key=lambda e: e.name)
    if not items and prefix:
        builder.add_dir(prefix)
    for item in items:
        rel = f"{prefix}{item.name}"
        mode = item.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            builder.add_dir(rel)
            _add_folder(builder, Path(item.path), rel + "/")
        elif stat.S_ISREG(mode):
            fd = os.open(item.path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                builder.add_file(rel, f, executable=bool(mode & stat.S_IXUSR))
        else:
            raise TreeRefused(rel, f"is a {_kind_of(mode)}; only files and directories "
                                   "are stored")


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
    tape = _Tape(stream)
    try:
        archive = tarfile.open(fileobj=tape, mode="r|")
    except tarfile.TarError as exc:
        raise TreeRefused("(archive)", f"is not a tar archive: {exc}") from None
    try:
        for member in archive:
            _add_member(builder, archive, member, tape)
    except tarfile.TarError as exc:
        raise TreeRefused("(archive)", f"is cut short or damaged: {exc}") from None
    if tape.block_at(archive.offset, 2 * BLOCK) != bytes(2 * BLOCK):
        raise TreeRefused("(archive)", "is cut short or damaged: no end-of-archive blocks "
                                       f"at byte {archive.offset}")
    return builder.finish()


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


def _add_member(builder: TreeBuilder, archive: tarfile.TarFile, member: tarfile.TarInfo,
                tape: _Tape) -> None:
    name = member.name
    if member.isdir():
        builder.add_dir(name)
    elif member.isreg() and not member.issparse():
        data = _Counted(archive.extractfile(member), tape, member.offset_data)
        builder.add_file(name, data, executable=bool(member.mode & stat.S_IXUSR))
        if data.count != member.size:
            raise TreeRefused(name, f"is cut short: {data.count} of {member.size} bytes")
    else:
        kind = ("sparse file" if member.issparse() else "symbolic link" if member.issym()
                else "hard link" if member.islnk() else "FIFO" if member.isfifo()
                else "device" if member.isdev() else "special entry")
        raise TreeRefused(name, f"is a {kind}; only files and directories are stored")


class _Counted:
    """A member's bytes, counted as they are read; what is behind them is let go."""

    def __init__(self, stream: BinaryIO, tape: _Tape, start: int):
        self.stream, self.tape, self.start, self.count = stream, tape, start, 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.count += len(data)
        self.tape.forget_before(self.start + self.count)
        return data


# ---- reading --------------------------------------------------------------------------
def read_tree(store: ObjectStore, oid: str) -> Tree:
    """The tree `oid`, verified (NotATree for a blob or another object)."""
    if store.type_of(oid) == "blob":
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


def checkout_tree(store: ObjectStore, oid: str, dest: str | Path) -> StoredTree:
    """Write the tree `oid` into `dest` (created, or an existing empty directory): every
    file verified against its hash before it gets its name, executable bits restored."""
    target = Path(dest)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise TreeRefused(str(dest), "is not an empty directory")
    read_tree(store, oid)  # a blob or another object: refused before anything is made
    target.mkdir(parents=True, exist_ok=True)
    files = size = 0
    for path, entry in walk_tree(store, oid):
        place = target.joinpath(*PurePosixPath(path).parts)
        if entry.kind == DIR:
            place.mkdir()
            continue
        _write_file(store, entry, place)
        files, size = files + 1, size + entry.size
    return StoredTree(ObjectId(oid), files, size)


def _write_file(store: ObjectStore, entry: TreeEntry, place: Path) -> None:
    part = place.with_name(f".{place.name}.wfobj-part")
    mode = 0o755 if entry.executable else 0o644
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            for piece in store.iter_blob(entry.oid):  # raises on a mismatch, at the end
                f.write(piece)
        os.chmod(part, mode)  # whatever the umask
        os.rename(part, place)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def archive_tree(store: ObjectStore, oid: str) -> Iterator[bytes]:
    """The tree as a tar stream: the same tree always gives the same bytes (names in
    order, owners and times zero, modes 0644/0755); file bytes verified as they go."""
    read_tree(store, oid)
    for path, entry in walk_tree(store, oid):
        info = tarfile.TarInfo(path + ("/" if entry.kind == DIR else ""))
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        if entry.kind == DIR:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")
            continue
        info.size, info.mode = entry.size, 0o755 if entry.executable else 0o644
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")
        yield from store.iter_blob(entry.oid)
        if entry.size % BLOCK:
            yield bytes(BLOCK - entry.size % BLOCK)
    yield bytes(2 * BLOCK)
