"""The RUN argument of every run command: a full id, a unique prefix of at least 8
characters, or `latest` (of `--workflow W` if given), resolved before the command runs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from .context import CliContext


def run_id_argument(fn: Callable) -> Callable:
    """Adds RUN and --workflow; the command receives the full id as `run_id`."""

    @functools.wraps(fn)
    def resolved(*args: Any, run_id: str, latest_of: str | None, **kwargs: Any) -> Any:
        from wfobj.engine import resolve_run_id

        ctx = click.get_current_context().find_object(CliContext)
        full = resolve_run_id(ctx.service().list_runs, run_id, strip_workflow_prefix(latest_of))
        return fn(*args, run_id=full, **kwargs)

    resolved = click.option(
        "--workflow", "latest_of", metavar="W",
        help="RUN is `latest` or a prefix among the runs of workflow W.")(resolved)
    return click.argument("run_id", metavar="RUN")(resolved)


def strip_workflow_prefix(name: str | None) -> str | None:
    """Workflow refs may be named with or without their `workflows/` prefix."""
    from wfobj.engine import REF_PREFIX

    if name is not None and name.startswith(REF_PREFIX):
        return name[len(REF_PREFIX):]
    return name
