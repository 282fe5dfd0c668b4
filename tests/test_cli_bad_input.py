"""Bad input to the `wfobj` command line: one readable line and a non-zero exit, never a
traceback, never a huge echo of the input (issue 11, holes 1 and 9)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.main import cli

from .test_api_bad_documents import alias_bomb


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
