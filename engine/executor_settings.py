"""Which executor a worker uses and its options, as one typed object.

`wfobj serve` and `wfobj worker` build an ExecutorSettings from their flags, whose values
may come from a TOML file keyed by flag name (read_config, `--executor-config`);
`factory()` makes the executors, `argv()` passes the same settings on to the `wfobj
worker` processes that `serve` starts.
"""

from __future__ import annotations

import functools
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field

from .container_limits import DEFAULT_LIMITS, ContainerLimits, limits_argv
from .errors import ExecutorConfigError
from .executor import Executor

EXECUTOR_KINDS = ("local", "slurm")
# the keys of an executor config file: the names of the `serve`/`worker` flags it stands
# in for, and the TOML types each takes
CONFIG_KEYS: dict[str, tuple[type, ...]] = {
    "executor": (str,), "task-memory": (str, int), "task-pids": (int,),
    "task-cpus": (int, float), "slurm-server-url": (str,), "slurm-partition": (str,),
    "slurm-sbatch-arg": (list,), "slurm-node-store": (str,), "slurm-job-output": (str,),
    "slurm-poll": (int, float),
}
TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", list: "a list of strings"}
DEFAULT_NODE_STORE = "/tmp/wfobj-node-store"


@dataclass(frozen=True)
class SlurmSettings:
    """Options of the slurm executor (docs/executors.md).

    server_url: the URL of this server as the nodes reach it (`wfobj exec --server`);
    partition: sbatch --partition (None: the cluster's default); sbatch_args: more sbatch
    arguments, as given; node_store: the node-local store folder, `%n` standing for the
    node's name; wfobj_command: how a node runs wfobj; job_output: the batch job's own
    output file on the node (sbatch --output, `%j` the job id); poll: seconds between two
    looks at the queue (one squeue call for every job followed)."""

    server_url: str | None = None
    partition: str | None = None
    sbatch_args: tuple[str, ...] = ()
    node_store: str = DEFAULT_NODE_STORE + "/%n"
    wfobj_command: tuple[str, ...] = (sys.executable, "-m", "cli.main")
    job_output: str = "/dev/null"
    poll: float = 1.0

    def argv(self) -> list[str]:
        out = []
        if self.server_url:
            out += ["--slurm-server-url", self.server_url]
        if self.partition:
            out += ["--slurm-partition", self.partition]
        for arg in self.sbatch_args:
            out += ["--slurm-sbatch-arg", arg]
        out += ["--slurm-node-store", self.node_store, "--slurm-job-output", self.job_output,
                "--slurm-poll", repr(self.poll)]
        return out


@dataclass(frozen=True)
class ExecutorSettings:
    kind: str = "local"
    limits: ContainerLimits = DEFAULT_LIMITS
    slurm: SlurmSettings = field(default_factory=SlurmSettings)

    def __post_init__(self) -> None:
        if self.kind not in EXECUTOR_KINDS:
            raise ValueError(f"executor {self.kind!r} is not one of {', '.join(EXECUTOR_KINDS)}")

    def factory(self) -> Callable[[], Executor]:
        return functools.partial(make_executor, self)

    def argv(self) -> list[str]:
        """The `wfobj worker` flags that give a worker these settings."""
        out = ["--executor", self.kind, *limits_argv(self.limits)]
        return out + self.slurm.argv() if self.kind == "slurm" else out


def make_executor(settings: ExecutorSettings) -> Executor:
    if settings.kind == "slurm":
        from .slurm_executor import SlurmExecutor

        return SlurmExecutor(settings.slurm, limits=settings.limits)
    from .docker_executor import DockerExecutor

    return DockerExecutor(limits=settings.limits)


def read_config(path: str) -> dict[str, object]:
    """The flag values an executor config file (TOML, docs/executors.md) sets, by flag
    name; ExecutorConfigError for an unreadable file, an unknown key or a wrong type.
    The values are checked again as the flags' own (ranges, choices, sizes)."""
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except OSError as exc:
        raise ExecutorConfigError(path, None, exc.strerror or str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ExecutorConfigError(path, None, f"not valid TOML: {exc}") from None
    for key, value in values.items():
        types = CONFIG_KEYS.get(key)
        if types is None:
            raise ExecutorConfigError(path, key, f"unknown key (allowed: {', '.join(CONFIG_KEYS)})")
        if isinstance(value, bool) or not isinstance(value, types):
            want = " or ".join(TYPE_WORDS[t] for t in types)
            raise ExecutorConfigError(path, key, f"{value!r} is not {want}")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ExecutorConfigError(path, key, "every item must be a string")
    return values
