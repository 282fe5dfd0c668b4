"""The states of runs, tasks and attempts, their terminal sets and allowed transitions.

Each state is a `StrEnum`, so stored objects, index keys and JSON carry the same plain
strings as before; this module is the one list of them (the API, its OpenAPI document,
the UI and the CLI read it from here).
"""

from __future__ import annotations

from enum import StrEnum

from .errors import IllegalTransition


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    KILLED = "killed"


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    KILLED = "killed"


class AttemptStatus(StrEnum):
    """How one attempt (one container or job) ended."""

    SUCCESS = "success"
    FAILED = "failed"
    KILLED = "killed"


RUN_TERMINAL = frozenset({RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.KILLED})
TASK_TERMINAL = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.SKIPPED,
                           TaskStatus.KILLED})
TASK_LIVE = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})
RUN_LIVE = frozenset(RunStatus) - RUN_TERMINAL

# A run is claimed (pending -> running) or ended before a worker got to it (killed, or
# failed when its worker died between claim and start); a running run ends once.
RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.KILLED}),
    RunStatus.RUNNING: RUN_TERMINAL,
    **{state: frozenset() for state in RUN_TERMINAL},
}
# A task starts (or is skipped when the run ends first); a running attempt ends the task
# or, when it failed with retries left, puts it back to pending.
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.RUNNING, TaskStatus.SKIPPED}),
    TaskStatus.RUNNING: frozenset({TaskStatus.PENDING, TaskStatus.SUCCESS, TaskStatus.FAILED,
                                   TaskStatus.KILLED}),
    **{state: frozenset() for state in TASK_TERMINAL},
}


def run_transition(old: str, new: str) -> str:
    """`new` as the plain string stored objects hold, if a run may move to it from `old`;
    else IllegalTransition."""
    return _checked("run", RUN_TRANSITIONS, old, new)


def task_transition(old: str, new: str) -> str:
    """`new` as the plain string stored objects hold, if a task may move to it from
    `old`; else IllegalTransition."""
    return _checked("task", TASK_TRANSITIONS, old, new)


def _checked(kind: str, allowed: dict[StrEnum, frozenset], old: str, new: str) -> str:
    # a StrEnum hashes and compares as its string: plain strings look up directly
    targets = allowed.get(old)
    if targets is None or new not in targets:
        raise IllegalTransition(kind, old, new)
    return str(new)


def attempt_task_status(state: str) -> TaskStatus:
    """The task state an attempt's outcome leads to: success and killed carry over,
    anything else is a failure."""
    if state == AttemptStatus.SUCCESS:
        return TaskStatus.SUCCESS
    return TaskStatus.KILLED if state == AttemptStatus.KILLED else TaskStatus.FAILED
