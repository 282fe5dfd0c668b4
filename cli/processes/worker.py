"""The child side of `wfobj worker`: one engine worker on a store until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
from collections.abc import Callable

from wfobj.engine import Executor, RunStepHook, Worker
from wfobj.objstore import open_store

from .lifeline import stop_on_signals

log = logging.getLogger(__name__)


def serve_worker(store_path: str, executor_factory: Callable[[], Executor], *,
                 concurrency: int = 4, on_run_step: RunStepHook | None = None,
                 max_instances: int | None = None) -> None:
    """Run one worker on the store at `store_path` until SIGINT/SIGTERM (several worker
    processes are started and owned by the CLI's supervisor, cli/processes/supervisor.py).
    Its ticker starts the runs of schedules and data triggers."""
    worker = Worker(open_store(store_path), executor_factory, concurrency=concurrency,
                    on_run_step=on_run_step, max_instances=max_instances, ticks=True)
    # a terminal's Ctrl-C and the supervisor's SIGTERM both only ask for the wind-down
    with stop_on_signals(worker.stop, second_raises=False):
        log.info("worker %s serving %s", worker.worker_id, store_path)
        worker.serve()
