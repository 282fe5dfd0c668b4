"""What every command shares: where the store is, which server, output format."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from wfobj.engine import ContainerLimits, Service
    from wfobj.objstore import ObjectStore


@dataclass
class CliContext:
    store_path: str | None = None
    config_path: str | None = None  # the config file read, if any (cli/config.py)
    server: str | None = None
    token: str | None = None
    json: bool = False
    _store: ObjectStore | None = field(default=None, repr=False)

    def store(self) -> ObjectStore:
        """The local store named by --store / WFOBJ_STORE (opened once)."""
        if self._store is None:
            if not self.store_path:
                raise click.UsageError("no store: pass --store PATH or set WFOBJ_STORE")
            from wfobj.objstore import open_store

            self._store = open_store(self.store_path)
        return self._store

    def service(self) -> Service:
        """The Service the workflow/run commands call. Local store mode: an engine
        service on --store whose `wait` runs a run in-process with the Docker executor.
        With --server: the same methods over HTTP (cli/client/service.py), as the --token's user."""
        if self.server:
            from wfobj.cli.client.service import RemoteService

            return RemoteService(self.server, self.token)
        from wfobj.engine import KeyFile, WorkflowService

        return WorkflowService(self.store(), executor_factory=docker_executor_factory,
                               keys=KeyFile(self.store_path))

    def emit(self, data: Any, human: Callable[[Any], None] | None = None) -> None:
        """Print `data` as JSON with --json, else through `human` (default: pretty JSON)."""
        if self.json or human is None:
            click.echo(jsonlib.dumps(data, indent=None if self.json else 2, sort_keys=False))
        else:
            human(data)


def docker_executor_factory(limits: ContainerLimits | None = None):
    """A Docker executor with `limits` (default: DEFAULT_LIMITS)."""
    from wfobj.engine import DEFAULT_LIMITS, DockerExecutor

    return DockerExecutor(limits=DEFAULT_LIMITS if limits is None else limits)


class LateOptions:
    """Stands, among a command's parameters, for the ones `make()` returns (`late_options`)."""

    def __init__(self, make: Callable[[], list[click.Parameter]]) -> None:
        self.make = make


def late_options(make: Callable[[], list[click.Parameter]]) -> Callable[[Callable], Callable]:
    """Decorator: the parameters `make()` returns take this place among the command's,
    made when the command's parameters are first read (to parse its arguments, show its
    help, or check the config file against them), not when the module is imported. For
    choices and defaults that come from engine modules costly to import: `wfobj --help`
    and the other commands do not import them. Goes below `@click.command(cls=Command)`."""

    def add(fn: Callable) -> Callable:
        fn.__dict__.setdefault("__click_params__", []).append(LateOptions(make))
        return fn

    return add


class Command(click.Command):
    """click.Command whose `late_options` are made the first time its parameters are read."""

    @property
    def params(self) -> list[click.Parameter]:
        if any(isinstance(p, LateOptions) for p in self._params):
            self._params = [made for p in self._params
                            for made in (p.make() if isinstance(p, LateOptions) else [p])]
        return self._params

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._params = value


def executor_options(fn: Callable) -> Callable:
    """--executor, --pull, --docker-*, --slurm-* and the --task-* caps, declared once in
    cli/executor_flags.py: the command receives one ExecutorSettings as `executor`."""
    from .executor_flags import all_options, with_settings

    return late_options(all_options)(with_settings(fn))


pass_ctx = click.make_pass_decorator(CliContext)


def json_option(fn: Callable) -> Callable:
    """Per-command --json (the same as the global one)."""

    def set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            ctx.ensure_object(CliContext).json = True

    return click.option(
        "--json", "json_", is_flag=True, expose_value=False, callback=set_json,
        help="Machine-readable JSON output.",
    )(fn)

