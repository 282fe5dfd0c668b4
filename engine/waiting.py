"""Waiting for a run to end: one polling loop for the local service and the HTTP client."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .states import RUN_TERMINAL

Progress = Callable[[dict], None]


def poll_run(
    get_run: Callable[[], dict],
    sleep: Callable[[float], None],
    *,
    poll: float,
    timeout: float | None = None,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Call `get_run` until the run is terminal (or `timeout` seconds of polling pass, or
    `stop` is set); `on_progress(run)` is called whenever the run or one of its tasks
    changes state."""
    waited = 0.0
    last: tuple | None = None
    while True:
        run = get_run()
        seen = (run["state"], tuple(sorted(run.get("tasks", {}).items())))
        if on_progress is not None and seen != last:
            on_progress(run)
        last = seen
        if run["state"] in RUN_TERMINAL or (timeout is not None and waited >= timeout):
            return run
        if stop is not None and stop.is_set():
            return run
        sleep(poll)
        waited += poll
