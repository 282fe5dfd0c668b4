"""`wfobj secret set|list|rm`: secrets kept beside the store (docs/secrets.md), locally
with --store or on a server with --server (admin token). A value is read from standard
input or a file, never from the command line (where `ps` and shell history would keep it),
and never printed."""

from __future__ import annotations

import sys

import click

from .context import CliContext, json_option, pass_ctx
from .human import table

MAX_READ = 64 * 1024 + 2  # a value at the limit, with its line ending


@click.group("secret")
def secret_group() -> None:
    """Manage secrets tasks use (values go in, never come out)."""


def read_value(from_file: str | None) -> bytes:
    """The value from --from-file (as is) or standard input (one trailing newline
    dropped, so `echo` gives the value itself; typed at a terminal, not echoed)."""
    if from_file is not None:
        try:
            with open(from_file, "rb") as f:
                return f.read(MAX_READ)
        except OSError as exc:
            raise click.ClickException(f"cannot read {from_file}: {exc.strerror}") from None
    if sys.stdin.isatty():  # typed: not echoed, one line
        import getpass

        return getpass.getpass("value (not shown): ", stream=sys.stderr).encode("utf-8")
    data = sys.stdin.buffer.read(MAX_READ)
    if data.endswith(b"\r\n"):
        return data[:-2]
    return data[:-1] if data.endswith(b"\n") else data


@secret_group.command("set")
@click.argument("name")
@click.option("--from-file", type=click.Path(dir_okay=False), default=None,
              help="read the value from this file (its bytes as they are); default: "
                   "standard input")
@json_option
@pass_ctx
def set_secret(ctx: CliContext, name: str, from_file: str | None) -> None:
    """Store secret NAME (new, or a new value). The value comes from standard input or
    --from-file, never from the command line."""
    from .workflows import local_user

    value = read_value(from_file)
    info = ctx.service().set_secret(name, value, user=local_user())
    ctx.emit(info, lambda d: click.echo(f"secret {d['name']} set (fingerprint "
                                        f"{d['fingerprint'][:16]}…)"))


@secret_group.command("list")
@json_option
@pass_ctx
def list_secrets(ctx: CliContext) -> None:
    """List secrets: name, fingerprint, who set it and when (never a value)."""
    rows = ctx.service().list_secrets()

    def human(items: list[dict]) -> None:
        table(f"{'NAME':<24} {'FINGERPRINT':<16}  {'SET_AT':<27}  SET_BY",
              (f"{r['name']:<24} {r['fingerprint'][:16]}  {r['set_at']:<27}  {r['set_by']}"
               for r in items))

    ctx.emit(rows, human)


@secret_group.command("rm")
@click.argument("name")
@json_option
@pass_ctx
def remove_secret(ctx: CliContext, name: str) -> None:
    """Delete secret NAME. Workflows naming it stay registered; their next attempt
    fails, naming it."""
    info = ctx.service().remove_secret(name)
    ctx.emit(info, lambda d: click.echo(f"secret {d['name']} removed"))


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(secret_group)
