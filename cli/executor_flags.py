"""The flags of `serve` and `worker` that make an ExecutorSettings, declared once.

Each flag names the field of ExecutorSettings (engine/executors/settings.py) it sets, and
its default is that field's default: the engine declares the settings, this table the
flags, and nothing spells either twice. From the table come the click options, the
settings a command receives, and the argv that gives a `wfobj worker` process the same
settings (cli/serving.py). The --task-* caps go through parse_limits like the server's
own defaults (0 or none: no cap).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from wfobj.engine import ExecutorSettings


@dataclasses.dataclass(frozen=True)
class Flag:
    """One flag: its name, the settings field it sets ("slurm.poll"), and click's kwargs.
    `choices` names the engine constant listing its values."""

    name: str
    field: str
    key: str  # in the config file's [executor] table, "docker.grace" in [executor.docker]
    help: str
    options: dict = dataclasses.field(default_factory=dict)
    choices: str | None = None

    @property
    def dest(self) -> str:
        """The command parameter's name: the flag's, but `executor_kind` for --executor."""
        return "executor_kind" if self.name == "--executor" else \
            self.name.lstrip("-").replace("-", "_")


FLAGS = (
    Flag("--executor", "kind", "kind", "Where tasks run: this machine's Docker, or one Slurm batch "
         "job per attempt running `wfobj exec` on a node (docs/executors.md).",
         choices="EXECUTOR_KINDS"),
    Flag("--pull", "pull", "pull", "Image pull policy of tasks that set no `pull` of their own.",
         choices="PULL_POLICIES"),
    Flag("--docker-network", "docker.network_mode", "docker.network", "Docker network of tasks with `network: "
         "true` (default: the daemon's bridge; e.g. host).", {"metavar": "MODE"}),
    Flag("--docker-grace", "docker.grace", "docker.grace", "Seconds between SIGTERM and SIGKILL when a task "
         "is cancelled.", {"type": click.FloatRange(0, 3600)}),
    Flag("--docker-work-root", "docker.work_root", "docker.work_root", "Where attempt folders go; the daemon "
         "must see the same path (default: the system temp dir).", {"metavar": "DIR"}),
    Flag("--docker-max-output", "docker.max_output", "docker.max_output", "Bytes each of a "
         "task's stdout and stderr may reach; past it the task is killed and fails "
         "(0: no cap).", {"type": click.IntRange(min=0), "metavar": "BYTES"}),
    Flag("--slurm-server-url", "slurm.server_url", "slurm.server_url", "This server's URL as the Slurm nodes "
         "reach it (serve: http://--bind).", {"metavar": "URL"}),
    Flag("--slurm-partition", "slurm.partition", "slurm.partition", "sbatch --partition.", {"metavar": "NAME"}),
    Flag("--slurm-sbatch-arg", "slurm.sbatch_args", "slurm.sbatch_args", "One more sbatch argument, e.g. "
         "--slurm-sbatch-arg=--qos=low (repeatable).", {"metavar": "ARG", "multiple": True}),
    Flag("--slurm-node-store", "slurm.node_store", "slurm.node_store", "The node-local store; %n is the node's "
         "name.", {"metavar": "PATH"}),
    Flag("--slurm-job-output", "slurm.job_output", "slurm.job_output", "sbatch --output on the node (%j: job "
         "id).", {"metavar": "PATH"}),
    Flag("--slurm-poll", "slurm.poll", "slurm.poll", "Seconds between two looks at the queue.",
         {"type": click.FloatRange(0.1, 60)}),
)


LIMIT_KEYS = ("task_memory", "task_pids", "task_cpus")  # [executor] keys of the --task-* caps


def config_keys(table: str) -> dict[str, str]:
    """{config key: parameter name} of the config file's [executor] table ("") or of its
    [executor.docker] / [executor.slurm] table (cli/config.py)."""
    out = {key: key for key in LIMIT_KEYS} if not table else {}
    for flag in FLAGS:
        group, _, key = flag.key.rpartition(".")
        if group == table:
            out[key] = flag.dest
    return out


def _default(settings: Any, field: str) -> Any:
    for part in field.split("."):
        settings = getattr(settings, part)
    return settings


def executor_options() -> list[click.Parameter]:
    """The click options of FLAGS, each defaulting to its settings field's default."""
    import wfobj.engine as engine

    defaults = engine.ExecutorSettings()
    out = []
    for flag in FLAGS:
        default = _default(defaults, flag.field)
        kwargs = dict(flag.options)
        if flag.choices:
            kwargs["type"] = click.Choice(getattr(engine, flag.choices))
        if default not in (None, ()):
            kwargs.update(default=default, show_default=True)
        out.append(click.Option([flag.name, flag.dest], help=flag.help, **kwargs))
    return out


def all_options() -> list[click.Parameter]:
    """The --task-* caps, then FLAGS."""
    return limit_options() + executor_options()


def limit_options() -> list[click.Parameter]:
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


def settings_from(values: dict[str, Any], limits) -> ExecutorSettings:
    """The ExecutorSettings that FLAGS' parsed `values` (by dest) and `limits` give."""
    from wfobj.engine import DockerSettings, ExecutorSettings, SlurmSettings

    parts: dict[str, dict] = {"": {}, "docker": {}, "slurm": {}}
    for flag in FLAGS:
        group, _, name = flag.field.rpartition(".")
        value = values[flag.dest]
        parts[group][name] = tuple(value) if isinstance(value, (list, tuple)) else value
    return ExecutorSettings(**parts[""], limits=limits, docker=DockerSettings(**parts["docker"]),
                            slurm=SlurmSettings(**parts["slurm"]))


def executor_argv(settings: ExecutorSettings) -> list[str]:
    """The flags that give a `wfobj worker` process `settings` (the supervisor's side)."""
    limits = settings.limits
    out = ["--task-memory", str(limits.memory or 0), "--task-pids", str(limits.pids or 0)]
    out += ["--task-cpus", str(limits.cpus)] if limits.cpus else []
    for flag in FLAGS:
        value = _default(settings, flag.field)
        for one in (value if isinstance(value, tuple) else (value,)):
            if one is not None:
                out += [flag.name, repr(one) if isinstance(one, float) else str(one)]
    return out


def with_settings(fn: Callable) -> Callable:
    """`fn` receiving one ExecutorSettings as `executor` in place of the flags' values."""

    @functools.wraps(fn)
    def wrapper(*args: Any, task_memory: str | None, task_pids: int | None,
                task_cpus: float | None, **kwargs: Any) -> Any:
        from wfobj.engine import parse_limits

        try:
            limits = parse_limits(memory=task_memory, pids=task_pids, cpus=task_cpus)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--task-*") from None
        values = {flag.dest: kwargs.pop(flag.dest) for flag in FLAGS}
        return fn(*args, executor=settings_from(values, limits), **kwargs)

    return wrapper
