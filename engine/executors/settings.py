"""Which executor a worker uses and its options, as one typed object.

`wfobj serve` and `wfobj worker` build an ExecutorSettings from their flags (declared once,
from these fields, in cli/executor_flags.py), whose values may also come from the config
file (cli/config.py, docs/config.md); executors/factory.py makes the executors from them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from wfobj.engine.values import PULL_POLICIES

from .caps import DEFAULT_LIMITS, ContainerLimits

__all__ = ["DEFAULT_NODE_STORE", "DEFAULT_PULL", "EXECUTOR_KINDS", "PULL_POLICIES",
           "DockerSettings", "ExecutorSettings", "SlurmSettings"]

EXECUTOR_KINDS = ("local", "slurm")
DEFAULT_PULL = "missing"  # the image pull policy of tasks that set none
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
    wfobj_command: tuple[str, ...] = (sys.executable, "-m", "wfobj.cli.main")
    job_output: str = "/dev/null"
    poll: float = 1.0



@dataclass(frozen=True)
class DockerSettings:
    """Options of the local (Docker) executor (docs/executors.md): network_mode: what a
    task's `network: true` means (None: Docker's default bridge; "host" on a daemon
    without one); grace: seconds between SIGTERM and SIGKILL when an attempt is
    cancelled; work_root: where attempt folders go (None: the system temp dir);
    max_output: bytes each of a task's stdout and stderr may reach (0: no cap); past it
    the container is killed and the attempt fails, its first max_output bytes kept."""

    network_mode: str | None = None
    grace: float = 10.0
    work_root: str | None = None
    max_output: int = 1 << 30



@dataclass(frozen=True)
class ExecutorSettings:
    """kind: local or slurm; limits: default caps of task containers; pull: the image pull
    policy of tasks that set none (local executor); docker and slurm: each executor's
    own options."""

    kind: str = "local"
    limits: ContainerLimits = DEFAULT_LIMITS
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
    pull: str = DEFAULT_PULL
    docker: DockerSettings = field(default_factory=DockerSettings)

    def __post_init__(self) -> None:
        if self.kind not in EXECUTOR_KINDS:
            raise ValueError(f"executor {self.kind!r} is not one of {', '.join(EXECUTOR_KINDS)}")
        if self.pull not in PULL_POLICIES:
            raise ValueError(f"pull policy {self.pull!r} is not one of {', '.join(PULL_POLICIES)}")


