"""Secrets: values tasks may use but no stored or served byte may hold (SPEC §16).

They live beside the store, never in it: one AEAD-sealed document (`secrets.enc`,
AES-256-GCM from `cryptography`) in the store folder, next to `data.mdb`, sealed with a key
kept in `secrets-key` (mode 0600, refused when open to other users, like the signing key).
Neither file is an object, so sync, exports and every API read leave them behind.

Each secret keeps, besides its value, a **fingerprint**: BLAKE3 of the value keyed with a
second key from `secrets-key`. Runs record it to prove which value they used; without the
key file, a copy of the store cannot test guesses against it.

Writers take an exclusive lock on `secrets.lock`, read the document, change it, write a new
one to a temporary file (fsync) and rename it over the old (then fsync the folder), so a
reader sees the old document or the new one, never half of one, and two processes setting
secrets at once both land. Readers take no lock.

`SecretStore(folder, document=...)` keeps another document under the same key, for other
values of the same kind (a name per document file; see engine/layout.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hmac
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wfobj.engine.clock import Clock
from wfobj.engine.errors import InvalidSecret, SecretNotFound, SecretStoreUnusable
from wfobj.engine.layout import SECRETS_FILE, SECRETS_KEY_FILE, SECRETS_LOCK

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"  # whole names only: NAME_RE.fullmatch
NAME_RE = re.compile(NAME_PATTERN)
SECRET_NAME_PATTERN = NAME_PATTERN  # as the engine's face names it
NAME_RULE = "1-128 characters: letters, digits, '_', '.', '-', starting with a letter or '_'"
MAX_VALUE_BYTES = 64 * 1024
MASK_MIN_BYTES = 6  # values this long or longer are masked in task streams
KEY_HEADER = b"wfobj-secrets-key 1\n"
DOC_MAGIC = b"wfobj-secrets 1\n"
NONCE_BYTES = 12


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: never its value."""

    name: str
    fingerprint: str
    set_by: str
    set_at: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SecretKeys:
    """The two keys of one secret store: sealing the document, keying fingerprints."""

    seal: bytes
    fingerprint: bytes

    def fingerprint_of(self, value: bytes) -> str:
        return blake3.blake3(value, key=self.fingerprint).hexdigest()


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidSecret("name", f"{name!r} is not a secret name ({NAME_RULE})")
    return name


def check_value(name: str, value: object) -> bytes:
    if not isinstance(value, bytes):
        raise InvalidSecret("value", "must be bytes", name)
    if not value:
        raise InvalidSecret("value", "is empty", name)
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidSecret("value", f"is {len(value)} bytes, over the limit of "
                                     f"{MAX_VALUE_BYTES} bytes", name)
    return value


def secret_store_of(store: object) -> SecretStore | None:
    """The secret store beside `store`'s folder (an LMDB store); None for a store without
    a folder (memory), which keeps no secrets."""
    folder = getattr(store, "path", None)
    return SecretStore(folder) if isinstance(folder, Path) else None


class SecretStore:
    """The secrets of one store folder: set, read, fingerprint, list, remove."""

    def __init__(self, folder: str | Path, *, clock: Clock | None = None,
                 document: str = SECRETS_FILE) -> None:
        self.folder = Path(folder)
        self.clock = clock or Clock()
        self.key_path = self.folder / SECRETS_KEY_FILE
        self.path = self.folder / document
        self.lock_path = self.folder / (SECRETS_LOCK if document == SECRETS_FILE
                                        else f"{document}.lock")
        self._keys: SecretKeys | None = None

    # reading ----------------------------------------------------------------------------
    def value(self, name: str) -> bytes:
        """The value of secret `name` (SecretNotFound if there is none)."""
        return base64.b64decode(self._entry(name)["value"])

    def values(self, names: Iterable[str]) -> dict[str, bytes]:
        """{name: value} for each of `names`, from one reading of the document
        (SecretNotFound for the first missing name)."""
        entries = self._read()
        out = {}
        for name in names:
            if name not in entries:
                raise SecretNotFound(name)
            out[name] = base64.b64decode(entries[name]["value"])
        return out

    def fingerprint(self, name: str) -> str:
        """The keyed fingerprint of secret `name`'s value."""
        return self._entry(name)["fingerprint"]

    def info(self, name: str) -> SecretInfo:
        return _info(name, self._entry(name))

    def list(self) -> list[SecretInfo]:
        """Every secret's name, fingerprint, who set it and when; by name."""
        return [_info(name, entry) for name, entry in sorted(self._read().items())]

    def exists(self, name: str) -> bool:
        return name in self._read()

    def holding(self, value: bytes) -> str | None:
        """The name of a secret whose value is exactly `value`, or None (compared by
        fingerprint, in constant time per secret)."""
        entries = self._read()
        if not entries:
            return None
        wanted = self.keys().fingerprint_of(value)
        found = None
        for name, entry in sorted(entries.items()):
            if hmac.compare_digest(entry["fingerprint"], wanted) and found is None:
                found = name
        return found

    def fingerprint_of(self, value: bytes) -> str:
        """What a secret holding `value` would be fingerprinted as in this store."""
        return self.keys().fingerprint_of(value)

    # writing ----------------------------------------------------------------------------
    def set(self, name: str, value: bytes, actor: str) -> SecretInfo:
        """Store `value` as secret `name` (a new secret, or a new value for one)."""
        check_name(name)
        check_value(name, value)
        with self._locked():
            entries = self._read(create_key=True)
            entries[name] = {"value": base64.b64encode(value).decode("ascii"),
                             "fingerprint": self.keys().fingerprint_of(value),
                             "set_by": actor, "set_at": self.clock.stamp()}
            self._write(entries)
        return _info(name, entries[name])

    def remove(self, name: str) -> SecretInfo:
        """Delete secret `name`; what it was (SecretNotFound if there is none)."""
        check_name(name)
        with self._locked():
            entries = self._read()
            if name not in entries:
                raise SecretNotFound(name)
            entry = entries.pop(name)
            self._write(entries)
        return _info(name, entry)

    # keys -------------------------------------------------------------------------------
    def keys(self, *, create: bool = False) -> SecretKeys:
        if self._keys is None:
            if create and not self.key_path.exists() and not self.path.exists():
                _create_key(self.key_path)
            self._keys = _load_key(self.key_path)
        return self._keys

    # the document -----------------------------------------------------------------------
    def _entry(self, name: str) -> dict:
        entries = self._read()
        if not isinstance(name, str) or name not in entries:
            raise SecretNotFound(name)
        return entries[name]

    def _read(self, *, create_key: bool = False) -> dict[str, dict]:
        try:
            sealed = self.path.read_bytes()
        except FileNotFoundError:
            if create_key:
                self.keys(create=True)
            return {}
        except OSError as exc:
            raise SecretStoreUnusable(str(self.path), f"cannot be read ({exc.strerror})") \
                from None
        return _open(self.keys(), sealed, self.path)

    def _write(self, entries: dict[str, dict]) -> None:
        plain = json.dumps({"secrets": entries}, sort_keys=True).encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = DOC_MAGIC + nonce + AESGCM(self.keys().seal).encrypt(nonce, plain, DOC_MAGIC)
        _write_atomic(self.path, sealed)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SecretStoreUnusable(str(self.lock_path),
                                      f"cannot be opened ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _info(name: str, entry: dict) -> SecretInfo:
    return SecretInfo(name, entry["fingerprint"], entry["set_by"], entry["set_at"])


def _open(keys: SecretKeys, sealed: bytes, path: Path) -> dict[str, dict]:
    head = len(DOC_MAGIC)
    if not sealed.startswith(DOC_MAGIC) or len(sealed) < head + NONCE_BYTES + 16:
        raise SecretStoreUnusable(str(path), "is not a wfobj secrets file")
    nonce, body = sealed[head:head + NONCE_BYTES], sealed[head + NONCE_BYTES:]
    try:
        plain = AESGCM(keys.seal).decrypt(nonce, body, DOC_MAGIC)
    except InvalidTag:
        raise SecretStoreUnusable(str(path), f"does not open with {SECRETS_KEY_FILE}: the "
                                  "file was changed or the key is not its own") from None
    return json.loads(plain)["secrets"]


def _create_key(path: Path) -> None:
    """Two fresh 256-bit keys at `path`, mode 0600, created exclusively (two processes
    starting at once agree on one)."""
    text = KEY_HEADER + base64.b64encode(os.urandom(64)) + b"\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)


def _load_key(path: Path) -> SecretKeys:
    """The keys at `path`, if only their owner may read them."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_bytes()
    except FileNotFoundError:
        raise SecretStoreUnusable(str(path), "is missing: the secrets file beside it cannot "
                                  "be opened without it") from None
    except OSError as exc:
        raise SecretStoreUnusable(str(path), f"cannot be read ({exc.strerror})") from None
    if mode & 0o077:
        raise SecretStoreUnusable(str(path), f"the secrets key is mode {mode:04o}, open to "
                                  f"other users, so it is not used (chmod 600 {path})")
    try:
        if not text.startswith(KEY_HEADER):
            raise ValueError
        raw = base64.b64decode(text[len(KEY_HEADER):].strip(), validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 64:
        raise SecretStoreUnusable(str(path), "is not a wfobj secrets key")
    return SecretKeys(raw[:32], raw[32:])


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
