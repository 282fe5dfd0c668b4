"""The secret store: values sealed beside the store folder, fingerprints keyed per store,
atomic writes that concurrent processes both land. Real files in a temporary folder."""

from __future__ import annotations

import multiprocessing
import os
import re
from datetime import UTC, datetime

import pytest

from wfobj.engine import SecretInfo, SecretStore
from wfobj.engine.errors import InvalidSecret, SecretNotFound, SecretStoreUnusable

VALUE = b"hunter2-very-secret-token"


class FixedClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC)

    def stamp(self) -> str:
        return self.moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_set_then_read_back_value_fingerprint_and_list(tmp_path):
    store = SecretStore(tmp_path, clock=FixedClock())
    info = store.set("API_TOKEN", VALUE, "alice")
    assert info == SecretInfo("API_TOKEN", info.fingerprint, "alice", "2026-12-06T01:02:03.000000Z")
    assert re.fullmatch(r"[0-9a-f]{64}", info.fingerprint)
    reopened = SecretStore(tmp_path)
    assert reopened.value("API_TOKEN") == VALUE
    assert reopened.fingerprint("API_TOKEN") == info.fingerprint
    assert reopened.list() == [info]
    assert reopened.values(["API_TOKEN"]) == {"API_TOKEN": VALUE}
    assert info.to_json() == {"name": "API_TOKEN", "fingerprint": info.fingerprint,
                              "set_by": "alice", "set_at": "2026-12-06T01:02:03.000000Z"}


def test_files_are_private_and_hold_no_plain_value(tmp_path):
    store = SecretStore(tmp_path)
    store.set("A", VALUE, "alice")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["secrets-key", "secrets.enc", "secrets.lock"]
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
        data = path.read_bytes()
        assert VALUE not in data and VALUE.hex().encode() not in data
        assert b"aHVudGVyMi" not in data  # base64 of the value's start


def test_fingerprint_is_keyed_per_store_and_changes_with_the_value(tmp_path):
    one, two = SecretStore(tmp_path / "one"), SecretStore(tmp_path / "two")
    (tmp_path / "one").mkdir(), (tmp_path / "two").mkdir()
    first = one.set("T", VALUE, "a").fingerprint
    assert two.set("T", VALUE, "a").fingerprint != first  # another store, another key
    assert one.set("U", VALUE, "a").fingerprint == first  # same store, same value
    rotated = one.set("T", b"another-value", "b")
    assert rotated.fingerprint != first and rotated.set_by == "b"
    assert one.fingerprint_of(VALUE) == first
    import hashlib
    assert first not in {hashlib.sha256(VALUE).hexdigest(), hashlib.blake2b(VALUE).hexdigest()}
    import blake3
    assert first != blake3.blake3(VALUE).hexdigest()


def test_remove_and_missing_names(tmp_path):
    store = SecretStore(tmp_path)
    assert store.list() == [] and not (tmp_path / "secrets-key").exists()  # reading makes nothing
    with pytest.raises(SecretNotFound) as info:
        store.value("NOPE")
    assert "no secret 'NOPE'" in str(info.value)
    kept = store.set("K", VALUE, "alice")
    assert store.remove("K") == kept
    assert store.list() == []
    for call in (store.value, store.fingerprint, store.remove):
        with pytest.raises(SecretNotFound):
            call("K")
    with pytest.raises(SecretNotFound):
        store.values(["K"])


def test_holding_finds_a_secret_by_its_value(tmp_path):
    store = SecretStore(tmp_path)
    assert store.holding(VALUE) is None
    store.set("B", VALUE, "alice")
    store.set("C", b"something-else", "alice")
    assert store.holding(VALUE) == "B"
    assert store.holding(VALUE + b"x") is None


@pytest.mark.parametrize("name", ["", "1abc", "a/b", "../x", "a b", "x" * 129, "é", None, 3])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(InvalidSecret) as info:
        SecretStore(tmp_path).set(name, VALUE, "alice")
    assert "invalid name" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("value", "problem"), [
    (b"", "is empty"), ("text", "must be bytes"), (b"x" * 65537, "over the limit")])
def test_bad_values_are_refused_without_quoting_them(tmp_path, value, problem):
    with pytest.raises(InvalidSecret) as info:
        SecretStore(tmp_path).set("NAME", value, "alice")
    assert problem in str(info.value) and "NAME" in str(info.value)
    if value:
        assert str(value[:20]) not in str(info.value) and "xxxxxx" not in str(info.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_open_to_others_is_refused(tmp_path, mode):
    SecretStore(tmp_path).set("A", VALUE, "alice")
    key = tmp_path / "secrets-key"
    key.chmod(mode)
    with pytest.raises(SecretStoreUnusable) as info:
        SecretStore(tmp_path).value("A")
    assert f"mode {mode:04o}, open to other users" in str(info.value)
    assert f"chmod 600 {key}" in str(info.value)


def test_a_missing_key_is_never_replaced_while_secrets_exist(tmp_path):
    SecretStore(tmp_path).set("A", VALUE, "alice")
    (tmp_path / "secrets-key").unlink()
    with pytest.raises(SecretStoreUnusable, match="is missing"):
        SecretStore(tmp_path).set("B", VALUE, "alice")
    assert not (tmp_path / "secrets-key").exists()


def test_a_changed_file_or_another_key_does_not_open(tmp_path):
    SecretStore(tmp_path).set("A", VALUE, "alice")
    path = tmp_path / "secrets.enc"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(SecretStoreUnusable, match="does not open with secrets-key"):
        SecretStore(tmp_path).list()
    path.write_bytes(b"garbage")
    with pytest.raises(SecretStoreUnusable, match="not a wfobj secrets file"):
        SecretStore(tmp_path).list()


def test_another_document_shares_the_key_not_the_entries(tmp_path):
    SecretStore(tmp_path).set("A", VALUE, "alice")
    hooks = SecretStore(tmp_path, document="hook-secrets.enc")
    hooks.set("H", b"hook-hmac-secret", "bob")
    assert [i.name for i in SecretStore(tmp_path).list()] == ["A"]
    assert [i.name for i in hooks.list()] == ["H"]
    assert (tmp_path / "hook-secrets.enc.lock").exists()


def _set_many(folder: str, worker: int, count: int) -> None:
    store = SecretStore(folder)
    for i in range(count):
        store.set(f"W{worker}_{i}", f"value-{worker}-{i}".encode(), f"w{worker}")


def test_concurrent_processes_all_land(tmp_path):
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_set_many, args=(str(tmp_path), w, 15)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    store = SecretStore(tmp_path)
    assert len(store.list()) == 60
    assert store.value("W3_14") == b"value-3-14"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
