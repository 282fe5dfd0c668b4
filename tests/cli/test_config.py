"""The config file through the real command line (click's CliRunner, real LMDB stores):
where it is looked for, precedence flag > environment > file > default, and one-line
errors naming the key and the file."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests import ROOT
from wfobj.cli.config import COMMANDS, DOCKER_KEYS, ENV_KEYS, EXECUTOR_KEYS, GLOBAL_KEYS, SLURM_KEYS
from wfobj.cli.main import cli
from wfobj.objstore import init_store


@pytest.fixture
def runner(tmp_path, monkeypatch):
    """A runner with no config of the user's, no store and no server in its environment."""
    for name in ("WFOBJ_CONFIG", "WFOBJ_STORE", "WFOBJ_SERVER", "WFOBJ_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return CliRunner()


def store_with_ref(path: Path, name: str) -> Path:
    store = init_store(path)
    store.add_ref_if_new(name, store.put_blob(name.encode()))
    store.close()
    return path


def refs(runner, *args, env=None) -> list[str]:
    result = runner.invoke(cli, [*args, "refs"], env=env)
    assert result.exit_code == 0, result.output
    return [line.split()[1] for line in result.output.splitlines()[1:]]  # after the header


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_store_precedence_flag_env_file(runner, tmp_path):
    a = store_with_ref(tmp_path / "a", "in/a")
    b = store_with_ref(tmp_path / "b", "in/b")
    c = store_with_ref(tmp_path / "c", "in/c")
    conf = write(tmp_path / "wfobj.toml", f'store = "{a}"\n')
    assert refs(runner, "--config", str(conf)) == ["in/a"]
    assert refs(runner, "--config", str(conf), env={"WFOBJ_STORE": str(b)}) == ["in/b"]
    assert refs(runner, "--config", str(conf), "--store", str(c),
                env={"WFOBJ_STORE": str(b)}) == ["in/c"]


def test_where_it_is_looked_for(runner, tmp_path):
    a = store_with_ref(tmp_path / "a", "in/a")
    b = store_with_ref(tmp_path / "b", "in/b")
    c = store_with_ref(tmp_path / "c", "in/c")
    user = write(tmp_path / "xdg" / "wfobj" / "config.toml", f'store = "{a}"\n')
    assert refs(runner) == ["in/a"]  # ~/.config/wfobj/config.toml ($XDG_CONFIG_HOME)
    explicit = write(tmp_path / "other.toml", f'store = "{b}"\n')
    assert refs(runner, env={"WFOBJ_CONFIG": str(explicit)}) == ["in/b"]
    # beside the store: read when the store is named, before the user's file
    write(c / "wfobj.toml", '[serve]\nbind = "127.0.0.1:1"\n')
    assert refs(runner, "--store", str(c)) == ["in/c"]
    user.write_text('[serve]\nbind = "nonsense"\n')
    assert refs(runner, "--store", str(c)) == ["in/c"]  # the user's file is not read
    write(c / "wfobj.toml", "[serve]\nbnd = 1\n")
    bad = runner.invoke(cli, ["--store", str(c), "refs"])
    assert bad.exit_code == 1 and f"serve.bnd in {c}/wfobj.toml" in bad.output


def busy_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_serve_options_come_from_the_file_below_flags(runner, tmp_path):
    store = store_with_ref(tmp_path / "s", "in/s")
    with busy_port() as taken, busy_port() as other:
        port, other_port = taken.getsockname()[1], other.getsockname()[1]
        write(store / "wfobj.toml", f'[serve]\nbind = "127.0.0.1:{port}"\nengine_workers = 0\n')
        from_file = runner.invoke(cli, ["--store", str(store), "serve"])
        assert from_file.exit_code == 1
        assert f"cannot listen on 127.0.0.1:{port}" in from_file.output
        flag = runner.invoke(cli, ["--store", str(store), "serve",
                                   "--bind", f"127.0.0.1:{other_port}"])
        assert flag.exit_code == 1
        assert f"cannot listen on 127.0.0.1:{other_port}" in flag.output


def test_executor_section_reaches_worker(runner, tmp_path):
    """[executor] kind = "slurm" makes `wfobj worker` check for Slurm, not Docker; the
    --executor flag wins over it."""
    store = store_with_ref(tmp_path / "s", "in/s")
    write(store / "wfobj.toml", '[executor]\nkind = "slurm"\npull = "never"\n'
                                '[executor.slurm]\npartition = "batch"\n'
                                'server_url = "http://127.0.0.1:9"\n'
                                'sbatch_args = ["--qos=low"]\n')
    dead = {"DOCKER_HOST": f"unix://{tmp_path}/none.sock", "PATH": "/nonexistent"}
    slurm = runner.invoke(cli, ["--store", str(store), "worker"], env=dead)
    assert slurm.exit_code == 1 and "Slurm is unreachable" in slurm.output, slurm.output
    local = runner.invoke(cli, ["--store", str(store), "worker", "--executor", "local"],
                          env=dead)
    assert local.exit_code == 1 and "Docker" in local.output, local.output


def test_server_and_token_from_the_file(runner, tmp_path):
    with busy_port() as closed:
        port = closed.getsockname()[1]
    conf = write(tmp_path / "c.toml", f'server = "http://127.0.0.1:{port}"\ntoken = "wfo_x"\n')
    conf.chmod(0o644)
    shared = runner.invoke(cli, ["--config", str(conf), "run", "list"])
    assert shared.exit_code == 1
    assert shared.output == (f"Error: config token in {conf}: holds a token, so it must be "
                             f"readable by its owner only (chmod 600 {conf})\n")
    conf.chmod(0o600)
    result = runner.invoke(cli, ["--config", str(conf), "run", "list"])
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in result.output and len(result.output.splitlines()) == 1


@pytest.mark.parametrize(("text", "key"), [
    ('server = "https://alice:s3cret@wfobj.example"\n', "server"),
    ('[serve]\nopenlineage_url = "http://alice:s3cret@127.0.0.1:9/"\n', "serve.openlineage_url"),
    ('[worker]\nopenlineage_url = "http://s3cret@127.0.0.1:9/"\n', "worker.openlineage_url"),
    ('[executor.slurm]\nserver_url = "http://alice:s3cret@127.0.0.1:9"\n',
     "executor.slurm.server_url"),
])
def test_a_url_carrying_credentials_needs_a_private_file(runner, tmp_path, text, key):
    """A user:password in a URL is a secret like `token`: the file must be the owner's."""
    conf = write(tmp_path / "c.toml", text)
    conf.chmod(0o644)
    shared = runner.invoke(cli, ["--config", str(conf), "refs"])
    assert shared.exit_code == 1
    assert shared.output == (f"Error: config {key} in {conf}: holds credentials in its URL, "
                             f"so it must be readable by its owner only (chmod 600 {conf})\n")
    conf.chmod(0o600)
    private = runner.invoke(cli, ["--config", str(conf), "refs"])
    assert "config" not in private.output and "no store" in private.output


def test_a_url_without_credentials_is_fine_in_a_shared_file(runner, tmp_path):
    conf = write(tmp_path / "c.toml", 'server = "http://wfobj.example:8080"\n'
                                      '[serve]\nopenlineage_url = "http://127.0.0.1:9/"\n')
    conf.chmod(0o644)
    result = runner.invoke(cli, ["--config", str(conf), "refs"])
    assert "config" not in result.output and "no store" in result.output


@pytest.mark.parametrize(("text", "message"), [
    ("stor = 1\n", "config stor in {f}: unknown key (known: "),
    ("store = 3\n", "config store in {f}: must be a string, not an integer"),
    ("[serve]\nworkers = \"2\"\n", "config serve.workers in {f}: must be an integer, not a string"),
    ("[serve]\nworkers = true\n", "config serve.workers in {f}: must be an integer, not a boolean"),
    ("[serve]\nworkers = 99\n", "config serve.workers in {f}: 99 is not in the range 1<=x<=64."),
    ("[serve]\nclient_timeout = 0.1\n", "config serve.client_timeout in {f}: 0.1 is not in the range"),
    ("[serve]\nmax_upload = -1\n", "config serve.max_upload in {f}: must be a positive integer"),
    ("[worker]\nbind = \"x:1\"\n", "config worker.bind in {f}: unknown key (known: concurrency, hook_deliverer, hook_timeout, max_instances, openlineage_url, workers)"),
    ("[executor]\nkind = \"cloud\"\n", "config executor.kind in {f}: 'cloud' is not one of"),
    ("[executor]\ntask_pids = -1\n", "config executor.task_pids in {f}: -1 is not in the range x>=0."),
    ("[executor.slurm]\nsbatch_args = \"--qos=low\"\n",
     "config executor.slurm.sbatch_args in {f}: must be a list of strings, not a string"),
    ("[executor.slurm]\nnodes = 2\n", "config executor.slurm.nodes in {f}: unknown key"),
    ("[executor.docker]\ngrace = -1\n", "config executor.docker.grace in {f}: -1.0 is not in the range 0<=x<=3600."),
    ("[executor]\ndocker = 1\n", "config executor.docker in {f}: must be a table"),
    ("executor = 1\n", "config executor in {f}: must be a table ([executor]), not an integer"),
    ("[serve\n", "config {f}: not valid TOML:"),
])
def test_bad_files_are_one_line_naming_key_and_file(runner, tmp_path, text, message):
    conf = write(tmp_path / "bad.toml", text)
    result = runner.invoke(cli, ["--config", str(conf), "refs"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: " + message.format(f=conf)), lines


def test_missing_explicit_file(runner, tmp_path):
    result = runner.invoke(cli, ["--config", str(tmp_path / "none.toml"), "refs"])
    assert result.exit_code == 1
    assert result.output == f"Error: config {tmp_path}/none.toml: no such file\n"


def test_docs_name_every_key():
    """docs/config.md documents every key the loader accepts."""
    doc = (ROOT / "docs" / "config.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.MULTILINE))
    ctx = click.Context(cli)
    group_params = {p.name for c in COMMANDS for p in cli.get_command(ctx, c).params}
    tables = (EXECUTOR_KEYS, DOCKER_KEYS, SLURM_KEYS)
    own = group_params - {v for t in tables for v in t.values()} - {"help"}
    keys = (set(GLOBAL_KEYS) | own | {k for t in tables for k in t}
            | {key for _, key in ENV_KEYS})
    assert keys - documented == set()
