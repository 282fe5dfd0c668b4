"""Errors of the object store, all under one root so callers can translate them at the edges."""

from __future__ import annotations


class WfobjError(Exception):
    """Root of every error wfobj raises on purpose."""


class ObjectStoreError(WfobjError):
    """Root of object-store errors."""


class InvalidHash(ObjectStoreError, ValueError):
    """A string that is not a (possibly abbreviated) lower-case hex BLAKE3 hash."""

    def __init__(self, value: str, reason: str = "not a 64-character lower-case hex hash"):
        self.value = value
        self.reason = reason
        super().__init__(f"invalid hash {value!r}: {reason}")


class ObjectNotFound(ObjectStoreError, KeyError):
    """No object with this hash (or prefix) is in the store."""

    def __init__(self, oid: str):
        self.oid = oid
        super().__init__(oid)

    def __str__(self) -> str:
        return f"not found: {self.oid}"


class AmbiguousPrefix(ObjectStoreError, KeyError):
    """An abbreviated hash matches more than one object."""

    def __init__(self, prefix: str, candidates: list[str]):
        self.prefix = prefix
        self.candidates = candidates
        super().__init__(prefix)

    def __str__(self) -> str:
        return f"ambiguous hash prefix {self.prefix}: " + ", ".join(self.candidates)


class CorruptObject(ObjectStoreError):
    """Stored or received bytes that are not what their hash names: never acted on."""


class ChecksumMismatch(CorruptObject):
    """Bytes whose BLAKE3 hash is not the one they were stored or sent under."""

    def __init__(self, expected: str, got: str):
        self.expected = expected
        self.got = got
        super().__init__(f"checksum mismatch for {expected}: content hashes to {got}")


class InvalidObject(ObjectStoreError, ValueError):
    """Bytes that are not a valid object: truncated, non-canonical, floats, foreign tags…"""

    def __init__(self, reason: str, oid: str | None = None):
        self.reason = reason
        self.oid = oid
        where = f" {oid}" if oid else ""
        super().__init__(f"invalid object{where}: {reason}")


class DamagedRecord(CorruptObject):
    """A stored record whose layout cannot be (an unknown kind byte, a wrong length)."""

    def __init__(self, oid: str, detail: str):
        self.oid = oid
        self.detail = detail
        super().__init__(f"damaged record {oid}: {detail}")


class MissingLinks(ObjectStoreError):
    """An object was offered before everything it links to (closure rule, docs/object-model.md)."""

    def __init__(self, oid: str, missing: list[str]):
        self.oid = oid
        self.missing = missing
        super().__init__(
            f"object {oid} links to {len(missing)} object(s) not in the store: "
            + ", ".join(missing[:5])
            + (" …" if len(missing) > 5 else "")
        )


class InvalidRefName(ObjectStoreError, ValueError):
    """A ref name that breaks the naming rules."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__(f"invalid ref name {name!r}: {reason}")


class RefNotFound(ObjectStoreError, KeyError):
    """No ref with this name."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"ref not found: {self.name}"


class ConflictError(ObjectStoreError):
    """A compare-and-swap lost: the stored value was not the expected one."""

    def __init__(self, key: str, expected: object, actual: object):
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(f"conflict on {key}: expected {expected!r}, found {actual!r}")


class StoreNotFound(ObjectStoreError):
    """A store path that holds no wfobj store."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"no wfobj store at {path} (run `wfobj init` first)")


class InvalidPack(ObjectStoreError, ValueError):
    """A sync pack (CAR stream) that is malformed: bad framing, truncated, oversized block."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"invalid pack: {reason}")


class PackBlockMismatch(ChecksumMismatch, InvalidPack):
    """A received pack block whose bytes are not what its CID names: bad input from the
    sender (the store holds nothing of it), not damage in this store."""

    def __init__(self, expected: str, got: str):
        ChecksumMismatch.__init__(self, expected, got)
        self.reason = str(self)


class RefRefused(ObjectStoreError, ValueError):
    """A ref update the ref policy forbids: a name outside the known namespaces, or a
    target that is not what that ref may point at. Nothing of the update is applied."""

    def __init__(self, name: str, target: str | None, reason: str):
        self.name = name
        self.target = target
        self.reason = reason
        to = f" -> {target}" if target else ""
        super().__init__(f"ref update {name}{to} refused: {reason}")


class GcRefused(ObjectStoreError, ValueError):
    """gc will not run: a grace period too short to be safe, or a damaged object whose
    links cannot be known (removing anything could then break a closure)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"gc refused: {reason}")


class TreeRefused(ObjectStoreError, ValueError):
    """A directory or tar archive that cannot be stored as a tree: a link, device or other
    special entry, an absolute or `..` name, a duplicate, or past a bound (docs/limits.md).
    `path` names the entry; nothing links to what was read before the refusal."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class NotATree(ObjectStoreError, ValueError):
    """A hash that names a blob or another structured object where a tree was asked for."""

    def __init__(self, oid: str, found: str):
        self.oid = oid
        self.found = found
        super().__init__(f"{oid} is not a tree (it is a {found})")


class PathNotInTree(ObjectStoreError, KeyError):
    """A path that names nothing inside a tree."""

    def __init__(self, oid: str, path: str):
        self.oid = oid
        self.path = path
        super().__init__(f"no {path!r} in tree {oid}")

    def __str__(self) -> str:
        return f"no {self.path!r} in tree {self.oid}"


class NotAFile(ObjectStoreError, ValueError):
    """A path inside a tree that names a directory where a file was asked for."""

    def __init__(self, oid: str, path: str):
        self.oid = oid
        self.path = path
        super().__init__(f"{path!r} in tree {oid} is a directory, not a file")
