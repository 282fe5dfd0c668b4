"""Waiting for a run to end: one polling loop for the local service and the HTTP client,
and the state changes a waiting user is shown."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from wfobj.engine.states import RUN_TERMINAL, TaskStatus

Progress = Callable[[dict], None]


@dataclass(frozen=True)
class StateChange:
    """One change seen between two looks at a run: `task` None is the run itself; `old`
    None means first seen."""

    task: str | None
    old: str | None
    new: str


def state_changes(before: dict | None, after: dict) -> list[StateChange]:
    """What changed from run view `before` (None: nothing seen yet) to `after`: each task
    whose state moved, in the run's task order, after the run's own change (before it,
    when the run ended). At the first look the run's state is reported, then the tasks
    that are no longer pending."""
    if before is None:
        return [StateChange(None, None, after["state"])] + [
            StateChange(name, None, state) for name, state in after.get("tasks", {}).items()
            if state != TaskStatus.PENDING]
    old_tasks = before.get("tasks", {})
    tasks = [StateChange(name, old_tasks.get(name), state)
             for name, state in after.get("tasks", {}).items()
             if old_tasks.get(name) != state]
    if before["state"] == after["state"]:
        return tasks
    run = [StateChange(None, before["state"], after["state"])]
    return tasks + run if after["state"] in RUN_TERMINAL else run + tasks


class ChangeWatcher:
    """Calls `on_progress(run)` with each run view that differs in the run's or a task's
    state from the last one it was shown (so several looks report every change once)."""

    def __init__(self, on_progress: Progress | None) -> None:
        self.on_progress = on_progress
        self.last: tuple | None = None

    def see(self, run: dict) -> None:
        seen = (run["state"], tuple(sorted(run.get("tasks", {}).items())))
        if self.on_progress is not None and seen != self.last:
            self.on_progress(run)
        self.last = seen


def poll_run(
    get_run: Callable[[], dict],
    sleep: Callable[[float], None],
    *,
    poll: float,
    timeout: float | None = None,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
    watcher: ChangeWatcher | None = None,
) -> dict:
    """Call `get_run` until the run is terminal (or `timeout` seconds of polling pass, or
    `stop` is set); `on_progress(run)` is called whenever the run or one of its tasks
    changes state (through `watcher`, when the caller already showed some of them)."""
    watcher = watcher or ChangeWatcher(on_progress)
    waited = 0.0
    while True:
        run = get_run()
        watcher.see(run)
        if run["state"] in RUN_TERMINAL or (timeout is not None and waited >= timeout):
            return run
        if stop is not None and stop.is_set():
            return run
        sleep(poll)
        waited += poll
