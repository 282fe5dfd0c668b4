"""The `wfobj` command line: one click group; each concern registers its commands."""

from __future__ import annotations

import os
import sys

import click

from objstore import WfobjError

from . import attempt_exec, cache, exports, objects, runs, serving, sync, tokens, workflows
from .context import CliContext

DEBUG_ENV = "WFOBJ_DEBUG"


class WfobjGroup(click.Group):
    """Turns library errors into one readable line and a non-zero exit; anything else
    too, unless WFOBJ_DEBUG=1 asks for the traceback."""

    def invoke(self, ctx: click.Context):  # noqa: D102
        try:
            return super().invoke(ctx)
        except WfobjError as exc:
            raise click.ClickException(one_line(str(exc))) from None
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
                f"{type(exc).__name__}: {one_line(str(exc))} (set {DEBUG_ENV}=1 for the "
                "traceback)") from None


def one_line(text: str, limit: int = 500) -> str:
    """A message on one line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


for module in (objects, workflows, runs, cache, exports, serving, tokens, sync, attempt_exec):
    module.register(cli)


def main() -> None:
    cli(obj=CliContext())


if __name__ == "__main__":  # `python -m cli.main`, as the `wfobj` script does
    main()
