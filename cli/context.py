"""What every command shares: where the store is, which server, output format."""

from __future__ import annotations

import functools
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
        With --server: the same methods over HTTP (cli/remote.py), as the --token's user."""
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


def limit_options(fn: Callable) -> Callable:
    """--task-memory, --task-pids, --task-cpus: the caps of every task container whose
    `resources` do not set them; the command receives them as `limits`."""

    @functools.wraps(fn)
    def with_limits(*args: Any, task_memory: str | None, task_pids: int | None,
                    task_cpus: float | None, **kwargs: Any) -> Any:
        from wfobj.engine import parse_limits

        try:
            limits = parse_limits(memory=task_memory, pids=task_pids, cpus=task_cpus)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--task-*") from None
        return fn(*args, limits=limits, **kwargs)

    return late_options(_limit_options)(with_limits)


def _limit_options() -> list[click.Parameter]:
    from wfobj.engine import DEFAULT_LIMITS

    return [
        click.Option(["--task-memory"], metavar="SIZE",
                     help=f"Memory cap per task container, swap included (default "
                          f"{DEFAULT_LIMITS.memory >> 30}g; 0 or none: no cap)."),
        click.Option(["--task-pids"], type=click.IntRange(min=0),
                     help=f"Process cap per task container (default {DEFAULT_LIMITS.pids};"
                          " 0: no cap)."),
        click.Option(["--task-cpus"], type=float,
                     help="CPU cap per task container (default: none)."),
    ]


def executor_options(fn: Callable) -> Callable:
    """--executor and its --slurm-* options, with the --task-* caps: the command receives
    one ExecutorSettings as `executor` (engine/executors/settings.py)."""

    @functools.wraps(fn)
    def with_executor(*args: Any, executor_kind: str, pull: str, slurm_server_url: str | None,
                      slurm_partition: str | None, slurm_sbatch_arg: tuple[str, ...],
                      slurm_node_store: str, slurm_job_output: str, slurm_poll: float,
                      docker_network: str | None, docker_grace: float,
                      docker_work_root: str | None, limits: ContainerLimits,
                      **kwargs: Any) -> Any:
        from wfobj.engine import DockerSettings, ExecutorSettings, SlurmSettings

        slurm = SlurmSettings(server_url=slurm_server_url, partition=slurm_partition,
                              sbatch_args=tuple(slurm_sbatch_arg), node_store=slurm_node_store,
                              job_output=slurm_job_output, poll=slurm_poll)
        docker = DockerSettings(network_mode=docker_network, grace=docker_grace,
                                work_root=docker_work_root)
        settings = ExecutorSettings(kind=executor_kind, limits=limits, slurm=slurm, pull=pull,
                                    docker=docker)
        return fn(*args, executor=settings, **kwargs)

    return limit_options(late_options(_executor_options)(with_executor))


def _executor_options() -> list[click.Parameter]:
    from wfobj.engine import DEFAULT_NODE_STORE, DEFAULT_PULL, EXECUTOR_KINDS, PULL_POLICIES

    return [
        click.Option(["--executor", "executor_kind"], type=click.Choice(EXECUTOR_KINDS),
                     default="local", show_default=True,
                     help="Where tasks run: this machine's Docker, or one Slurm batch job per "
                          "attempt running `wfobj exec` on a node (docs/executors.md)."),
        click.Option(["--pull"], type=click.Choice(PULL_POLICIES), default=DEFAULT_PULL,
                     show_default=True,
                     help="Image pull policy of tasks that set no `pull` of their own."),
        click.Option(["--docker-network"], metavar="MODE",
                     help="Docker network of tasks with `network: true` (default: the "
                          "daemon's bridge; e.g. host)."),
        click.Option(["--docker-grace"], type=click.FloatRange(0, 3600), default=10.0,
                     show_default=True,
                     help="Seconds between SIGTERM and SIGKILL when a task is cancelled."),
        click.Option(["--docker-work-root"], metavar="DIR",
                     help="Where attempt folders go; the daemon must see the same path "
                          "(default: the system temp dir)."),
        click.Option(["--slurm-server-url"], metavar="URL",
                     help="This server's URL as the Slurm nodes reach it (serve: "
                          "http://--bind)."),
        click.Option(["--slurm-partition"], metavar="NAME", help="sbatch --partition."),
        click.Option(["--slurm-sbatch-arg"], metavar="ARG", multiple=True,
                     help="One more sbatch argument, e.g. --slurm-sbatch-arg=--qos=low "
                          "(repeatable)."),
        click.Option(["--slurm-node-store"], metavar="PATH",
                     default=DEFAULT_NODE_STORE + "/%n", show_default=True,
                     help="The node-local store; %n is the node's name."),
        click.Option(["--slurm-job-output"], metavar="PATH", default="/dev/null",
                     show_default=True, help="sbatch --output on the node (%j: job id)."),
        click.Option(["--slurm-poll"], type=click.FloatRange(0.1, 60), default=1.0,
                     show_default=True, help="Seconds between two looks at the queue."),
    ]


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

