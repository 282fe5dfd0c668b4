"""`--executor-config FILE` of `wfobj worker` and `wfobj serve`: a TOML file standing in
for the executor and --task-* flags (the cluster end to end: tests/test_slurm_executor.py)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.main import cli
from engine.errors import ExecutorConfigError
from engine.executor_settings import read_config


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "store"
    assert CliRunner().invoke(cli, ["--store", str(path), "init"]).exit_code == 0
    return path


def write(tmp_path, text: str):
    path = tmp_path / "executor.toml"
    path.write_text(text)
    return str(path)


def worker(store_path, *args: str):
    return CliRunner().invoke(cli, ["--store", str(store_path), "worker", *args])


def error_line(result) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    [line] = [ln for ln in result.output.splitlines() if ln.startswith("Error: ")]
    return line


def test_read_config_returns_the_flag_values_it_sets(tmp_path):
    path = write(tmp_path, 'executor = "slurm"\nslurm-sbatch-arg = ["--qos=low", "--account=lab"]\n'
                           'slurm-poll = 2\ntask-memory = "4g"\ntask-pids = 64\n')
    assert read_config(path) == {"executor": "slurm", "slurm-sbatch-arg": ["--qos=low", "--account=lab"],
                                 "slurm-poll": 2, "task-memory": "4g", "task-pids": 64}


@pytest.mark.parametrize("text, key, says", [
    ("colour = 1\n", "colour", "unknown key"),
    ("task-pids = true\n", "task-pids", "is not an integer"),
    ('slurm-sbatch-arg = "--qos=low"\n', "slurm-sbatch-arg", "list of strings"),
    ("slurm-sbatch-arg = [1]\n", "slurm-sbatch-arg", "every item must be a string"),
    ("executor = \n", None, "not valid TOML"),
])
def test_a_bad_file_is_refused_naming_the_key(tmp_path, text, key, says):
    path = write(tmp_path, text)
    with pytest.raises(ExecutorConfigError) as caught:
        read_config(path)
    assert caught.value.key == key and says in str(caught.value) and path in str(caught.value)


def test_the_cli_refuses_a_bad_or_missing_file_in_one_line(store_path, tmp_path):
    line = error_line(worker(store_path, "--executor-config", write(tmp_path, "colour = 1\n")))
    assert "--executor-config" in line and "colour: unknown key" in line
    line = error_line(worker(store_path, "--executor-config", str(tmp_path / "absent.toml")))
    assert "absent.toml" in line


def test_the_files_values_are_the_flags_and_flags_given_win(store_path, tmp_path):
    # the file chooses the executor: slurm, which then wants a server URL
    line = error_line(worker(store_path, "--executor-config", write(tmp_path, 'executor = "slurm"\n')))
    assert "no server URL for the nodes" in line
    # its values are checked as the flags' own ...
    path = write(tmp_path, 'executor = "slurm"\nslurm-poll = 0.05\n')
    assert "--slurm-poll" in error_line(worker(store_path, "--executor-config", path))
    # ... and a flag on the command line replaces the file's value
    line = error_line(worker(store_path, "--executor-config", path, "--slurm-poll", "1"))
    assert "no server URL for the nodes" in line
    bad_size = write(tmp_path, 'task-memory = "lots"\n')
    assert "--task-*" in error_line(worker(store_path, "--executor-config", bad_size))
