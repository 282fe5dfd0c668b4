"""Bad input to the `wfobj` command line: one readable line and a non-zero exit, never a
traceback, never a huge echo of the input (issue 11, holes 1 and 9)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.api.test_bad_documents import alias_bomb
from wfobj.cli.main import cli


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "store"
    assert CliRunner().invoke(cli, ["--store", str(path), "init"]).exit_code == 0
    return path


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_line_error(result) -> str:
    """The output of a failed command: a single `Error: …` line, no traceback."""
    assert result.exit_code != 0, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output[:500]
    assert "Traceback" not in result.output
    return lines[0]


def test_apply_of_a_yaml_alias_bomb_is_refused_briefly(store_path, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb(6))
    line = one_line_error(run("--store", str(store_path), "workflow", "apply", str(bomb)))
    assert "alias" in line and len(line) < 400


def test_init_where_no_directory_can_be_made(tmp_path):
    line = one_line_error(run("--store", "/nonexistent", "init", "/proc/forbidden"))
    assert "/proc/forbidden" in line
    (tmp_path / "file").write_text("x")
    line = one_line_error(run("init", str(tmp_path / "file" / "store")))
    assert "file" in line


@pytest.mark.parametrize("name, data", [
    ("bad.yaml", b"name: x\xff\ntasks: {}\n"),
    ("bad.json", b'\xff\xfe{"tasks": 1'),
    ("latin1.yaml", "description: caf\xe9\n".encode("latin-1")),
])
def test_apply_of_a_file_that_is_not_utf8(store_path, tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    line = one_line_error(run("--store", str(store_path), "workflow", "apply", str(path)))
    assert "not valid" in line


def test_apply_with_name_of_a_file_that_is_not_utf8(store_path, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"description: \xff\n")
    one_line_error(run("--store", str(store_path), "workflow", "apply", "--name", "wf",
                       str(path)))


def test_put_of_an_unreadable_file(store_path):
    line = one_line_error(run("--store", str(store_path), "put", "/proc/self/mem"))
    assert "/proc/self/mem" in line


def test_a_directory_that_is_not_an_lmdb_store(tmp_path):
    bad = tmp_path / "junk"
    bad.mkdir()
    (bad / "data.mdb").write_bytes(b"\x17" * 20000)
    line = one_line_error(run("--store", str(bad), "ls"))
    assert str(bad) in line
