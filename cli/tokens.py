"""`wfobj token create|list|revoke`: API tokens kept (hashed) in the local store."""

from __future__ import annotations

import click

from .context import CliContext, Command, json_option, late_options, pass_ctx
from .human import table


@click.group("token")
def token_group() -> None:
    """Manage API tokens (stored only as hashes; a token is shown once)."""


def _role_option() -> list[click.Parameter]:
    from wfobj.engine import ROLES

    return [click.Option(["--role"], type=click.Choice(ROLES), default="reader",
                         show_default=True)]


@token_group.command("create", cls=Command)
@click.argument("user")
@late_options(_role_option)
@json_option
@pass_ctx
def create(ctx: CliContext, user: str, role: str) -> None:
    """Create a token for USER and print it (the only time it is shown)."""
    from wfobj.engine import TokenStore

    token, info = TokenStore(ctx.store()).create(user, role)
    ctx.emit({"user": info.user, "role": info.role, "token": token},
             lambda d: click.echo(f"{d['token']}\n(token {info.id} for {d['user']}, "
                                  f"role {d['role']}; it is not shown again)"))


@token_group.command("list")
@json_option
@pass_ctx
def list_tokens(ctx: CliContext) -> None:
    """List tokens: id, user, role, created_at (never the token)."""
    from wfobj.engine import TokenStore

    infos = [info.to_json() for info in TokenStore(ctx.store()).list()]

    def human(rows: list[dict]) -> None:
        table(f"{'ID':<12}  {'ROLE':<7} {'CREATED':<27}  USER",
              (f"{r['id']}  {r['role']:<7} {r['created_at']}  {r['user']}" for r in rows))

    ctx.emit(infos, human)


@token_group.command("revoke")
@click.argument("token_id")
@json_option
@pass_ctx
def revoke(ctx: CliContext, token_id: str) -> None:
    """Revoke the token whose id (from `token list`) starts with TOKEN_ID."""
    from wfobj.engine import TokenStore

    info = TokenStore(ctx.store()).revoke(token_id)
    ctx.emit(info.to_json(), lambda d: click.echo(f"revoked {d['id']} ({d['user']}, {d['role']})"))


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(token_group)
