"""What every command shares: where the store is, which server, output format."""

from __future__ import annotations

import functools
import json as jsonlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from wfobj.engine import DEFAULT_LIMITS, ContainerLimits, Service, parse_limits
from wfobj.objstore import ObjectStore, open_store


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


def docker_executor_factory(limits: ContainerLimits = DEFAULT_LIMITS):
    from wfobj.engine import DockerExecutor

    return DockerExecutor(limits=limits)


def limit_options(fn: Callable) -> Callable:
    """--task-memory, --task-pids, --task-cpus: the caps of every task container whose
    `resources` do not set them; the command receives them as `limits`."""

    @functools.wraps(fn)
    def with_limits(*args: Any, task_memory: str | None, task_pids: int | None,
                    task_cpus: float | None, **kwargs: Any) -> Any:
        try:
            limits = parse_limits(memory=task_memory, pids=task_pids, cpus=task_cpus)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--task-*") from None
        return fn(*args, limits=limits, **kwargs)

    options = [
        click.option("--task-memory", metavar="SIZE",
                     help=f"Memory cap per task container, swap included (default "
                          f"{DEFAULT_LIMITS.memory >> 30}g; 0 or none: no cap)."),
        click.option("--task-pids", type=click.IntRange(min=0),
                     help=f"Process cap per task container (default {DEFAULT_LIMITS.pids};"
                          " 0: no cap)."),
        click.option("--task-cpus", type=float, help="CPU cap per task container (default: none)."),
    ]
    for option in reversed(options):
        with_limits = option(with_limits)
    return with_limits


def executor_options(fn: Callable) -> Callable:
    """--executor and its --slurm-* options, with the --task-* caps: the command receives
    one ExecutorSettings as `executor` (engine/executor_settings.py)."""
    from wfobj.engine import (
        DEFAULT_NODE_STORE,
        DEFAULT_PULL,
        EXECUTOR_KINDS,
        PULL_POLICIES,
        DockerSettings,
        ExecutorSettings,
        SlurmSettings,
    )

    @functools.wraps(fn)
    def with_executor(*args: Any, executor_kind: str, pull: str, slurm_server_url: str | None,
                      slurm_partition: str | None, slurm_sbatch_arg: tuple[str, ...],
                      slurm_node_store: str, slurm_job_output: str, slurm_poll: float,
                      docker_network: str | None, docker_grace: float,
                      docker_work_root: str | None, limits: ContainerLimits,
                      **kwargs: Any) -> Any:
        slurm = SlurmSettings(server_url=slurm_server_url, partition=slurm_partition,
                              sbatch_args=tuple(slurm_sbatch_arg), node_store=slurm_node_store,
                              job_output=slurm_job_output, poll=slurm_poll)
        docker = DockerSettings(network_mode=docker_network, grace=docker_grace,
                                work_root=docker_work_root)
        settings = ExecutorSettings(kind=executor_kind, limits=limits, slurm=slurm, pull=pull,
                                    docker=docker)
        return fn(*args, executor=settings, **kwargs)

    options = [
        click.option("--executor", "executor_kind", type=click.Choice(EXECUTOR_KINDS),
                     default="local", show_default=True,
                     help="Where tasks run: this machine's Docker, or one Slurm batch job per "
                          "attempt running `wfobj exec` on a node (docs/executors.md)."),
        click.option("--pull", type=click.Choice(PULL_POLICIES), default=DEFAULT_PULL,
                     show_default=True,
                     help="Image pull policy of tasks that set no `pull` of their own."),
        click.option("--docker-network", metavar="MODE",
                     help="Docker network of tasks with `network: true` (default: the "
                          "daemon's bridge; e.g. host)."),
        click.option("--docker-grace", type=click.FloatRange(0, 3600), default=10.0,
                     show_default=True,
                     help="Seconds between SIGTERM and SIGKILL when a task is cancelled."),
        click.option("--docker-work-root", metavar="DIR",
                     help="Where attempt folders go; the daemon must see the same path "
                          "(default: the system temp dir)."),
        click.option("--slurm-server-url", metavar="URL",
                     help="This server's URL as the Slurm nodes reach it (serve: "
                          "http://--bind)."),
        click.option("--slurm-partition", metavar="NAME", help="sbatch --partition."),
        click.option("--slurm-sbatch-arg", metavar="ARG", multiple=True,
                     help="One more sbatch argument, e.g. --slurm-sbatch-arg=--qos=low "
                          "(repeatable)."),
        click.option("--slurm-node-store", metavar="PATH", default=DEFAULT_NODE_STORE + "/%n",
                     show_default=True, help="The node-local store; %n is the node's name."),
        click.option("--slurm-job-output", metavar="PATH", default="/dev/null",
                     show_default=True, help="sbatch --output on the node (%j: job id)."),
        click.option("--slurm-poll", type=click.FloatRange(0.1, 60), default=1.0,
                     show_default=True, help="Seconds between two looks at the queue."),
    ]
    for option in reversed(options):
        with_executor = option(with_executor)
    return limit_options(with_executor)


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


def default_store_path() -> str | None:
    return os.environ.get("WFOBJ_STORE")
