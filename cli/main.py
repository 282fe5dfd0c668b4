"""The `wfobj` command line: one click group; each concern registers its commands."""

from __future__ import annotations

import sys

import click

from objstore import WfobjError

from . import objects, runs, serving, sync, tokens, workflows
from .context import CliContext


class WfobjGroup(click.Group):
    """Turns library errors into one readable line and a non-zero exit."""

    def invoke(self, ctx: click.Context):  # noqa: D102
        try:
            return super().invoke(ctx)
        except WfobjError as exc:
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:
            sys.exit(1)


@click.group(cls=WfobjGroup)
@click.option("--store", envvar="WFOBJ_STORE", type=click.Path(), help="Local store path.")
@click.option("--server", envvar="WFOBJ_SERVER", help="Server URL for remote commands.")
@click.option("--token", envvar="WFOBJ_TOKEN", help="API token for --server.")
@click.option("--json", "json_", is_flag=True, help="Machine-readable JSON output.")
@click.version_option(package_name="wfobj")
@click.pass_context
def cli(ctx: click.Context, store: str | None, server: str | None, token: str | None,
        json_: bool) -> None:
    """wfobj: a content-addressed workflow store and engine."""
    obj = ctx.ensure_object(CliContext)
    obj.store_path, obj.server, obj.token = store, server, token
    obj.json = obj.json or json_


for module in (objects, workflows, runs, serving, tokens, sync):
    module.register(cli)


def main() -> None:
    cli(obj=CliContext())


if __name__ == "__main__":  # `python -m cli.main`, as the `wfobj` script does
    main()
