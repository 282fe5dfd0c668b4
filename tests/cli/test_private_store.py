"""`wfobj init` makes a store its owner's only; `serve` and `worker` say, in one line on
stderr, when the store they open is open to other users, and how to fix it. Real LMDB
stores through click's CliRunner; a dead Docker ends each command right after its checks."""

from __future__ import annotations

import os
import stat

import pytest
from click.testing import CliRunner

from tests.objstore.test_private_store import umask
from tests.support_e2e import free_port
from wfobj.cli.main import cli
from wfobj.objstore import init_store


@pytest.fixture
def runner(tmp_path, monkeypatch):
    for name in ("WFOBJ_CONFIG", "WFOBJ_STORE", "WFOBJ_SERVER", "WFOBJ_TOKEN",
                 "WFOBJ_STORE_MODES_CHECKED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    return CliRunner()


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


COMMANDS = {"worker": ["worker"],
            "serve": ["serve", "--bind", "127.0.0.1:{port}", "--engine-workers", "1"]}


def start(runner, store, command: str):
    args = [a.format(port=free_port()) for a in COMMANDS[command]]
    return runner.invoke(cli, ["--store", str(store), *args])


def warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if "warning" in line]


def test_init_makes_the_store_private_under_a_lax_umask(runner, tmp_path):
    path = tmp_path / "store"
    with umask(0o022):
        result = runner.invoke(cli, ["init", str(path)])
    assert result.exit_code == 0, result.output
    assert mode(path) == 0o700
    assert {mode(path / name) for name in os.listdir(path)} == {0o600}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_private_store_gets_no_warning(runner, tmp_path, command):
    store = tmp_path / "store"
    init_store(store).close()
    result = start(runner, store, command)
    assert result.exit_code == 1 and "Docker" in result.output  # stopped after the checks
    assert warnings(result.output) == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_exposed_store_is_named_with_its_mode_and_the_fix(runner, tmp_path, command):
    store = tmp_path / "store"
    init_store(store).close()
    (store / "data.mdb").chmod(0o644)
    result = start(runner, store, command)
    assert result.exit_code == 1 and "Docker" in result.output
    [line] = warnings(result.output)
    assert line.startswith(f"wfobj {command}: warning: ")
    assert f"{store / 'data.mdb'} is mode 0644" in line
    assert f"chmod -R go-rwx {store}" in line


@pytest.mark.parametrize(("name", "exposed_mode"), [
    (".", 0o755), ("lock.mdb", 0o604), ("admin-token", 0o640), ("wfobj.toml", 0o644),
    ("live-logs", 0o755)])
def test_the_folder_and_every_file_in_it_are_looked_at(runner, tmp_path, name, exposed_mode):
    store = tmp_path / "store"
    init_store(store).close()
    path = store / name
    if name == "live-logs":
        path.mkdir()
    elif not path.exists():
        path.write_text("[serve]\n" if name == "wfobj.toml" else "x\n")
    path.chmod(exposed_mode)
    [line] = warnings(start(runner, store, "worker").output)
    shown = store if name == "." else path
    assert f"{shown} is mode {exposed_mode:04o}" in line, line


def test_several_exposed_files_make_one_line(runner, tmp_path):
    store = tmp_path / "store"
    init_store(store).close()
    for path in (store, store / "data.mdb", store / "lock.mdb"):
        path.chmod(0o755 if path == store else 0o644)
    [line] = warnings(start(runner, store, "worker").output)
    assert f"{store} is mode 0755" in line and "and 2 more" in line


# ---- secrets in the store ------------------------------------------------------------

def test_a_stale_admin_token_file_is_rewritten_private(tmp_path):
    from wfobj.cli.serving import ensure_admin_token

    store = tmp_path / "store"
    init_store(store).close()
    stale = store / "admin-token"
    stale.write_text("stale\n")
    stale.chmod(0o644)
    with umask(0o022):
        assert ensure_admin_token(str(store)) == stale
    assert mode(stale) == 0o600 and stale.read_text().startswith("wfo_")


def test_serve_refuses_a_signing_key_open_to_others_and_touches_nothing(runner, tmp_path):
    from wfobj.engine import KeyFile

    store = tmp_path / "store"
    init_store(store).close()
    key = store / "signing-key.pem"
    KeyFile(store).key()
    key.chmod(0o644)
    result = runner.invoke(cli, ["--store", str(store), "serve", "--bind",
                                 f"127.0.0.1:{free_port()}", "--engine-workers", "0"])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: {key}: the signing key is mode 0644, open to other users, so it is not "
        f"used (chmod 600 {key})")  # after the warning naming it too
    assert not (store / "admin-token").exists()
