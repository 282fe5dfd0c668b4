"""Retries that wait and grow (docs/workflow-format.md "Retries"): the delay before each
attempt after the first (`retry.delay` × `retry.backoff`^(n-2), capped by
`retry.max_delay`), memory and CPUs multiplied per attempt, and what each attempt's
evidence records about both.

A task waiting out its delay is `pending` with a not-before time here; the scheduler's
step never blocks on it: when nothing runs it sleeps at most one poll interval on the
injected clock, then looks again (a kill request is noticed within one poll).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import replace

from wfobj.engine.bounds import MAX_CPUS, MAX_GROWN_MEMORY
from wfobj.engine.clock import Clock
from wfobj.engine.definitions.format import decimal_text
from wfobj.engine.executors.base import TaskSpec
from wfobj.engine.model import TaskDefinition
from wfobj.engine.runs.evidence import NO_CACHE, CacheFacts
from wfobj.engine.values import parse_memory

UNITS = ((1 << 30, "g"), (1 << 20, "m"), (1 << 10, "k"))


def retry_delay(task: TaskDefinition, attempt: int) -> float:
    """Seconds to wait before `attempt` (2 or more) of `task`; 0 without a delay."""
    policy = task.retry
    if policy is None or policy.delay is None or attempt < 2:
        return 0.0
    delay = float(policy.delay) * float(policy.backoff or 1) ** (attempt - 2)
    if policy.max_delay is not None:
        delay = min(delay, float(policy.max_delay))
    return delay


def grown_memory(task: TaskDefinition, attempt: int) -> str | None:
    """`resources.memory` grown by `retry.memory_factor` for `attempt`, capped."""
    memory, policy = task.resources.memory, task.retry
    if memory is None or policy is None or policy.memory_factor is None or attempt < 2:
        return memory
    cap = parse_memory(policy.max_memory) if policy.max_memory else MAX_GROWN_MEMORY
    grown = parse_memory(memory) * float(policy.memory_factor) ** (attempt - 1)
    return size_text(int(min(grown, max(cap, parse_memory(memory)))))


def grown_cpus(task: TaskDefinition, attempt: int) -> float | None:
    cpus, policy = task.resources.cpus, task.retry
    if cpus is None:
        return None
    if policy is None or policy.cpus_factor is None or attempt < 2:
        return float(cpus)
    return round(min(float(cpus) * float(policy.cpus_factor) ** (attempt - 1), MAX_CPUS), 6)


def size_text(size: int) -> str:
    """Bytes in the largest unit that holds them exactly: 1073741824 → `1g`."""
    for unit, suffix in UNITS:
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


class Backoff:
    """The retry delays and growth of one run: tasks waiting to retry, and what each
    attempt's evidence says about its delay and resources."""

    def __init__(self, task_of: Callable[[str], TaskDefinition], clock: Clock):
        self.task_of = task_of  # the definition of a task, or of an instance's task
        self.clock = clock
        self.waiting: list[tuple[float, str]] = []  # (not before, task), a heap
        self.delays: dict[str, float] = {}  # task -> the delay before its next attempt

    def retry(self, name: str, failed_attempt: int) -> float:
        """Schedule the attempt after `failed_attempt`; its delay (0: start it now, and
        the caller puts it on the ready list)."""
        delay = retry_delay(self.task_of(name), failed_attempt + 1)
        self.delays[name] = delay
        if delay > 0:
            heapq.heappush(self.waiting, (self.clock.epoch() + delay, name))
        return delay

    def due(self) -> list[str]:
        """Tasks whose delay is over, taken off the waiting list."""
        now, out = self.clock.epoch(), []
        while self.waiting and self.waiting[0][0] <= now:
            out.append(heapq.heappop(self.waiting)[1])
        return out

    def pause(self, longest: float) -> None:
        """Nothing runs: sleep until the next retry is due, at most `longest` seconds."""
        if self.waiting:
            self.clock.sleep(max(0.0, min(longest, self.waiting[0][0] - self.clock.epoch())))

    def grow(self, spec: TaskSpec) -> TaskSpec:
        """The attempt's spec with memory and CPUs grown for its number."""
        task = self.task_of(spec.task)
        if task.retry is None or spec.attempt < 2:
            return spec
        return replace(spec, memory=grown_memory(task, spec.attempt),
                       cpus=grown_cpus(task, spec.attempt))

    def facts(self, spec: TaskSpec, cache: CacheFacts = NO_CACHE) -> dict | None:
        """What the evidence of a task with `retry` records: the delay waited before this
        attempt and the resources it got (None for tasks without `retry`, and for a cache
        hit, which ran nothing: the evidence it reuses says what that attempt got)."""
        task = self.task_of(spec.task)
        if task.retry is None or cache.cached_from is not None:
            return None
        delay = self.delays.get(spec.task, 0.0) if spec.attempt > 1 else 0.0
        return {"delay_s": decimal_text(round(delay, 6)),
                "resources": {"cpus": None if spec.cpus is None else decimal_text(spec.cpus),
                              "memory": spec.memory, "pids": spec.pids}}
