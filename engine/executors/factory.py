"""Executors made from settings: what a worker runs its attempts on."""

from __future__ import annotations

import functools
from collections.abc import Callable

from .base import Executor
from .settings import ExecutorSettings


def make_executor(settings: ExecutorSettings) -> Executor:
    if settings.kind == "slurm":
        from .slurm import SlurmExecutor

        return SlurmExecutor(settings.slurm, limits=settings.limits)
    from .docker import DockerExecutor

    docker = settings.docker
    return DockerExecutor(limits=settings.limits, pull=settings.pull, grace=docker.grace,
                          network_mode=docker.network_mode, work_root=docker.work_root,
                          max_output=docker.max_output or None)


def executor_factory(settings: ExecutorSettings) -> Callable[[], Executor]:
    """What a worker calls to make its executor (one per worker)."""
    return functools.partial(make_executor, settings)
