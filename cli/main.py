"""The `wfobj` command line: one click group; each concern registers its commands, loaded
only when a command of theirs runs (the table in cli/commands.py)."""

from __future__ import annotations

import importlib
import json
import os
import sys

import click

from wfobj.engine import one_line
from wfobj.objstore import WfobjError

from . import config
from .commands import COMMANDS
from .context import CliContext

DEBUG_ENV = "WFOBJ_DEBUG"
MESSAGE_CHARS = 500  # the longest error line the command line prints


class JsonError(click.ClickException):
    """An error under --json: one JSON line on stderr, {"error": message, "exit_code"}."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:  # noqa: D102 - click's hook
        click.echo(json.dumps({"error": self.format_message(), "exit_code": self.exit_code}),
                   file=file, err=file is None)


def wants_json(ctx: click.Context, args: list[str]) -> bool:
    """--json given globally, or among the command's `args` (maybe not parsed yet)."""
    obj = ctx.find_object(CliContext)
    return bool(obj and obj.json) or "--json" in args[: args.index("--")
                                                        if "--" in args else len(args)]


class LazyGroup(click.Group):
    """A group whose commands are made on first use, by the cli modules COMMANDS names
    (click's lazy-loading pattern): a command imports only its own modules, and the
    command list (`--help`) comes from the table without importing any."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.registered: set[str] = set()  # cli modules whose commands are in the group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            for name in COMMANDS[cmd_name].modules:
                self.register(name)
        return self.commands.get(cmd_name)

    def register(self, name: str) -> None:
        """Add the commands of the cli module `name` (once)."""
        if name not in self.registered:
            importlib.import_module(f"{__package__}.{name}").register(self)
            self.registered.add(name)

    def load_all(self) -> dict[str, click.Command]:
        """Every command, each module imported: for what walks them all (tests, docs)."""
        for name in COMMANDS:
            self.get_command(click.Context(self), name)
        return self.commands

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list as click writes it, the summaries of commands not loaded
        yet taken from the table."""
        rows = [(name, self.commands.get(name) or click.Command(name, help=COMMANDS[name].summary))
                for name in self.list_commands(ctx)]
        rows = [(name, cmd) for name, cmd in rows if not cmd.hidden]
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])


class WfobjGroup(LazyGroup):
    """Turns library errors into one readable line and a non-zero exit; anything else
    too, unless WFOBJ_DEBUG=1 asks for the traceback. Under --json the line is JSON."""

    def invoke(self, ctx: click.Context):  # noqa: D102
        args = list(ctx.args)  # the group's invoke consumes them
        try:
            return self.invoke_plain(ctx)
        except click.ClickException as exc:
            if not wants_json(ctx, args):
                raise
            raise JsonError(one_line(exc.format_message(), MESSAGE_CHARS), exc.exit_code) from None

    def invoke_plain(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except WfobjError as exc:
            raise click.ClickException(one_line(str(exc), MESSAGE_CHARS)) from None
        except BrokenPipeError:
            sys.exit(1)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            raise click.ClickException(
                f"{type(exc).__name__}: {one_line(str(exc), MESSAGE_CHARS)} (set {DEBUG_ENV}=1 for the "
                "traceback)") from None


@click.group(cls=WfobjGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", envvar=config.CONFIG_ENV, type=click.Path(),
              help="Config file (TOML; docs/config.md). Default: <store>/wfobj.toml, then "
                   "~/.config/wfobj/config.toml.")
@click.option("--store", envvar="WFOBJ_STORE", type=click.Path(), help="Local store path.")
@click.option("--server", envvar="WFOBJ_SERVER", help="Server URL for remote commands.")
@click.option("--token", envvar="WFOBJ_TOKEN", help="API token for --server.")
@click.option("--json", "json_", is_flag=True, help="Machine-readable JSON output.")
@click.version_option(package_name="wfobj")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, store: str | None, server: str | None,
        token: str | None, json_: bool) -> None:
    """wfobj: a content-addressed workflow store and engine."""
    obj = ctx.ensure_object(CliContext)
    obj.json = obj.json or json_
    settings = config.load(config.find(config_file, store), cli)
    config.apply(settings)
    ctx.default_map = settings.default_map  # below flags and environment variables
    obj.config_path = settings.path
    obj.store_path = store or settings.globals.get("store")
    obj.server = server or settings.globals.get("server")
    obj.token = token or settings.globals.get("token")


def main() -> None:
    cli(obj=CliContext())


if __name__ == "__main__":  # `python -m wfobj.cli.main`, as the `wfobj` script does
    main()
