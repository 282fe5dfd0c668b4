"""Token store (hashed in store metadata) and the `wfobj token` commands."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.engine.access.tokens import TokenStore, role_allows
from wfobj.engine.errors import InvalidTokenRequest, TokenNotFound
from wfobj.objstore import init_store


def test_create_authenticate_list_revoke(store):
    tokens = TokenStore(store)
    assert tokens.is_empty()
    token, info = tokens.create("alice", "runner")
    assert tokens.authenticate(token) == info
    assert (info.user, info.role) == ("alice", "runner")
    assert tokens.authenticate(token + "x") is None and tokens.authenticate("") is None
    other, _ = tokens.create("bob", "reader")
    assert other != token
    assert [i.user for i in tokens.list()] == ["alice", "bob"]
    assert tokens.revoke(info.id[:8]) == info
    assert tokens.authenticate(token) is None
    with pytest.raises(TokenNotFound):
        tokens.revoke(info.id)


def test_token_text_is_never_stored(store):
    token, _ = TokenStore(store).create("alice", "admin")
    stored = b"".join(k + v for k, v in store._meta_scan(b"", None, False))
    assert token.encode() not in stored
    assert token.split("_", 1)[1].encode() not in stored


@pytest.mark.parametrize("user, role", [("alice", "root"), ("", "reader"), ("a/b", "reader"),
                                        ("../x", "admin")])
def test_bad_user_or_role_refused(store, user, role):
    with pytest.raises(InvalidTokenRequest):
        TokenStore(store).create(user, role)
    assert TokenStore(store).is_empty()


def test_role_order():
    assert role_allows("admin", "runner") and role_allows("runner", "reader")
    assert not role_allows("reader", "runner") and not role_allows("runner", "admin")


def _run(path, *args):
    return CliRunner().invoke(cli, ["--store", str(path), *args], obj=CliContext())


def test_cli_token_commands(tmp_path):
    init_store(tmp_path / "s").close()
    created = _run(tmp_path / "s", "token", "create", "alice", "--role", "runner", "--json")
    assert created.exit_code == 0, created.output
    body = json.loads(created.output)
    assert body["user"] == "alice" and body["role"] == "runner"
    assert body["token"].startswith("wfo_")
    listed = _run(tmp_path / "s", "token", "list", "--json")
    rows = json.loads(listed.output)
    assert [(r["user"], r["role"]) for r in rows] == [("alice", "runner")]
    assert body["token"] not in listed.output
    human = _run(tmp_path / "s", "token", "create", "bob", "--role", "reader")
    assert human.exit_code == 0 and "wfo_" in human.output
    revoked = _run(tmp_path / "s", "token", "revoke", rows[0]["id"])
    assert revoked.exit_code == 0 and "alice" in revoked.output
    assert [r["user"] for r in json.loads(_run(tmp_path / "s", "token", "list",
                                                 "--json").output)] == ["bob"]


def test_cli_token_bad_input(tmp_path):
    init_store(tmp_path / "s").close()
    bad_role = _run(tmp_path / "s", "token", "create", "alice", "--role", "root")
    assert bad_role.exit_code != 0 and "root" in bad_role.output
    unknown = _run(tmp_path / "s", "token", "revoke", "abcdef")
    assert unknown.exit_code == 1 and "no token with id 'abcdef'" in unknown.output
    assert json.loads(_run(tmp_path / "s", "token", "list", "--json").output) == []
