"""Task kinds: tasks whose attempt is built by code rather than by templates alone
(docs/engine.md "Task kinds").

A plain task's attempt is its definition with `{{…}}` substituted (render.py). A task of
a kind (today one: `cwl`, a task with a `cwl` key, engine/scheduling/cwl_steps.py; which
task has which kind is `kind_table.py`) goes through two hooks the scheduler calls, and
nothing else in the scheduler knows the kind:

- `render(context, spec) -> Prepared`, when the attempt starts (in the scheduler's step):
  the spec the attempt really runs (image, command, inputs, limits: recorded as its
  evidence and keyed by the cache like any other), or why it cannot start; optionally an
  `in_engine` call that produces the attempt's result without an executor (no container);
- `gate(context) -> Verdict | None`, when the graph releases the task and the native
  gates let it run, and for each instance of a fanned-out task of the kind as it is
  about to start (`context.item` set): the kind's own condition (a skip recorded as a
  condition skip, kind `condition` on the audit event; a skipped instance counts as
  ended, not failed, and readers of the task see None in its place) or a problem failing
  it unstarted;
- `Prepared.finish(result) -> result`, after the executor (or `in_engine`) returned, in
  the attempt's thread: what the kind reads out of the attempt's outputs (the CWL output
  object, as a var), or a failed result saying why. `close()` always runs after.

A cache hit reuses the earlier attempt's evidence, vars included, so `finish` does not
run again then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from wfobj.engine.clock import Clock
from wfobj.engine.executors.base import AttemptResult, TaskSpec
from wfobj.engine.model import Definition, TaskDefinition
from wfobj.objstore import ObjectStore

from .fanout import Item, Produced
from .gates import Verdict


@dataclass(frozen=True)
class KindContext:
    """What a kind's render hook may read: the store, the run's definition and parameter
    values, what the tasks this one needs produced (as it sees them) and its item."""

    store: ObjectStore
    definition: Definition
    task: TaskDefinition
    values: dict
    results: dict[str, Produced]
    item: Item | None = None
    # for each fanned-out task this one reads without being paired with it: what each of
    # its instances produced, in item order (None for one skipped by a condition)
    instances: dict[str, list[Produced | None]] = field(default_factory=dict)
    # the tasks it reads that were skipped by a condition (their outputs are absent), a
    # fanned-out task included when the paired instance this one reads was
    skipped: frozenset[str] = frozenset()
    clock: Clock = field(default_factory=Clock)  # the scheduler's (injected)
    # {param: name} the run gave its named `file`/`dir` params (RunRecord.file_names)
    file_names: dict[str, str] = field(default_factory=dict)


def _same(result: AttemptResult) -> AttemptResult:
    return result


def _nothing() -> None:
    return None


@dataclass
class Prepared:
    """One attempt of a kind's task, rendered: what it runs and what happens after."""

    spec: TaskSpec
    problem: str | None = None  # why it cannot start (the attempt fails unstarted)
    in_engine: Callable[[], AttemptResult] | None = None  # instead of the executor
    finish: Callable[[AttemptResult], AttemptResult] = field(default=_same)
    close: Callable[[], None] = field(default=_nothing)


class TaskKind(Protocol):
    def gate(self, context: KindContext) -> Verdict | None:
        """When the graph releases the task and the native gates let it run: a Verdict
        to skip it (a condition of its own, recorded like a `when`) or to fail it
        unstarted (`problem`), or None to run it."""

    def render(self, context: KindContext, spec: TaskSpec) -> Prepared:
        """The attempt `spec` (as render.py built it) of a task of this kind."""


def attempt_call(prepared: Prepared, run: Callable[[], AttemptResult]) -> Callable[[], AttemptResult]:
    """What the attempt's thread calls: the executor's run (or the kind's in-engine
    call), then the kind's finish hook, then its close hook, whatever happened."""
    def call() -> AttemptResult:
        try:
            result = prepared.in_engine() if prepared.in_engine is not None else run()
            return prepared.finish(result)
        finally:
            prepared.close()

    return call
