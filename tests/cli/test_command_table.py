"""The command table (cli/commands.py) against the modules that make the commands: every
command a module registers has its row, and each row's one-line help is what the command
itself says, so `wfobj --help` reads the same before and after the modules are loaded.
And the lazy loading itself: a command imports its own modules, not the others (checked
on `sys.modules` of a fresh interpreter; no timings)."""

from __future__ import annotations

import importlib

import click
import pytest
from click.testing import CliRunner

from tests.cli.test_startup_imports import loaded, probe
from wfobj.cli.commands import COMMANDS, modules
from wfobj.cli.context import CliContext
from wfobj.cli.main import WfobjGroup, cli

CLI_MODULES = tuple(f"wfobj.cli.{name}" for name in modules())


def fresh_group() -> WfobjGroup:
    """A group like `cli`, nothing loaded yet."""
    return WfobjGroup("wfobj", params=cli.params, callback=cli.callback)


def made_by(module: str) -> dict[str, click.Command]:
    """The commands the cli module `module` registers on a group of its own."""
    group = click.Group("probe")
    importlib.import_module(f"wfobj.cli.{module}").register(group)
    return group.commands


def test_every_registered_command_has_its_row_naming_its_module():
    for module in modules():
        for name in made_by(module):
            assert name in COMMANDS, f"{module} registers {name!r}, which cli/commands.py lacks"
            assert module in COMMANDS[name].modules, (name, module)
    rows = {name for module in modules() for name in made_by(module)}
    assert rows == set(COMMANDS)


def test_every_cli_module_with_commands_is_in_the_table():
    from tests import ROOT

    registering = {path.stem for path in (ROOT / "cli").glob("*.py")
                   if "\ndef register(" in path.read_text(encoding="utf-8")}
    assert registering == set(modules())


@pytest.mark.parametrize("limit", [30, 45, 80, 1000])
def test_each_summary_is_the_commands_own_short_help(limit):
    group = fresh_group()
    commands = group.load_all()
    for name, entry in COMMANDS.items():
        stand_in = click.Command(name, help=entry.summary)
        assert stand_in.get_short_help_str(limit) == commands[name].get_short_help_str(limit), name
        assert not commands[name].hidden, f"{name} is hidden: the table lists every command"


def test_help_reads_the_same_before_and_after_loading():
    before = CliRunner().invoke(fresh_group(), ["--help"], obj=CliContext())
    loaded_group = fresh_group()
    loaded_group.load_all()
    after = CliRunner().invoke(loaded_group, ["--help"], obj=CliContext())
    assert before.exit_code == after.exit_code == 0
    assert before.output == after.output
    assert all(f"  {name} " in before.output for name in COMMANDS)


def test_run_holds_the_verbs_of_both_its_modules():
    group = fresh_group()
    run = group.get_command(click.Context(group), "run")
    verbs = set(run.list_commands(click.Context(run)))
    assert {"trigger", "show", "logs"} <= verbs  # cli/runs.py
    assert {"explain", "resume", "reproduce", "compare"} <= verbs  # cli/history.py


def test_an_unknown_command_is_refused_as_click_does():
    result = CliRunner().invoke(fresh_group(), ["no-such-command"], obj=CliContext())
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_no_command_module(tmp_path, args):
    result = probe(tmp_path, *args)
    assert result["exit_code"] == 0, result["output"]
    assert loaded(result["modules"], CLI_MODULES) == []


def test_checkout_imports_its_own_module_only(tmp_path):
    store = str(tmp_path / "store")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes(b"a\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["--store", store, "init"]).exit_code == 0
    put = runner.invoke(cli, ["--store", store, "put", str(tmp_path / "d")])
    assert put.exit_code == 0, put.output

    result = probe(tmp_path, "--store", store, "checkout", put.output.strip(),
                   str(tmp_path / "out"))
    assert result["exit_code"] == 0, result["output"]
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"a\n"
    assert loaded(result["modules"], CLI_MODULES) == ["wfobj.cli.trees"]


def test_run_help_leaves_unrelated_command_modules_alone(tmp_path):
    result = probe(tmp_path, "run", "--help")
    assert result["exit_code"] == 0, result["output"]
    assert "explain" in result["output"] and "trigger" in result["output"]
    unrelated = ("objects", "exports", "tokens", "sync", "hooks", "schedules", "secrets", "cwl")
    assert loaded(result["modules"], tuple(f"wfobj.cli.{m}" for m in unrelated)) == []
