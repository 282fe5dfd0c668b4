"""What happens to a task the graph releases: it runs, or it is skipped, and why.

A released task is skipped (docs/workflow-format.md "Conditions", "Failure policy") when
- an upstream task it needs (data or `after`) failed, or was skipped after a failure
  (only under `on_failure: continue`; with `stop` nothing starts after a failure):
  skip kind `failure`;
- a task whose outputs or vars it reads was skipped by a condition: kind `condition`
  (an `after:` on such a task is satisfied, so ordering alone never skips; a CWL task
  reads a CWL step skipped by its `when` as null outputs and runs);
- its own `when` is false: kind `condition`.
A `when` whose values do not fit its operators fails the task instead (`problem`).
Tasks left pending when a run stops (fail-fast, a kill, a stopping worker) are skipped
with kind `stopped` by `end_run`. The kind is stored on the audit event (`skip`), so a
reader tells a condition from a failure without parsing reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wfobj.engine.definitions.conditions import Ref, param_value, parse_condition
from wfobj.engine.definitions.templates import data_dependencies
from wfobj.engine.errors import ConditionError
from wfobj.engine.executors.base import AttemptResult
from wfobj.engine.model import Definition
from wfobj.engine.states import TaskStatus

SKIP_CONDITION = "condition"
SKIP_FAILURE = "failure"
SKIP_STOPPED = "stopped"
SKIP_KINDS = (SKIP_CONDITION, SKIP_FAILURE, SKIP_STOPPED)
CONTINUE = "continue"


@dataclass(frozen=True)
class Verdict:
    skip: str | None = None  # a SKIP_* kind: the task does not run
    reason: str | None = None
    problem: str | None = None  # the task fails without starting (its condition broke)


RUN = Verdict()


class Gates:
    """The skip decisions of one run, kept as it goes (a run is driven by one scheduler
    from start to end, so memory is enough)."""

    def __init__(self, definition: Definition, values: dict):
        self.definition = definition
        self.values = values
        self.keep_going = definition.on_failure == CONTINUE
        self.skipped: dict[str, str] = {}  # task -> skip kind
        self.failed: set[str] = set()
        self._data: dict[str, set[str]] = {}

    def data_needs(self, name: str) -> set[str]:
        if name not in self._data:
            self._data[name] = data_dependencies(self.definition.tasks[name])
        return self._data[name]

    def verdict(self, name: str, needs: frozenset[str],
                results: Mapping[str, AttemptResult]) -> Verdict:
        """Whether task `name` (needing `needs`) runs now that the graph released it."""
        for dep in sorted(needs):
            if dep in self.failed:
                return Verdict(SKIP_FAILURE, f"skipped: upstream {dep!r} failed")
            if self.skipped.get(dep) == SKIP_FAILURE:
                return Verdict(SKIP_FAILURE, f"skipped: upstream {dep!r} was skipped after a failure")
        for dep in sorted(self.data_needs(name)):
            if self.skipped.get(dep) == SKIP_CONDITION and not self.reads_null(name, dep):
                return Verdict(SKIP_CONDITION, f"skipped: needs the outputs of {dep!r}, "
                               "skipped by a condition")
        when = self.definition.tasks[name].when
        if when is None:
            return RUN
        try:
            if parse_condition(when).evaluate(self.lookup(results)):
                return RUN
        except ConditionError as exc:
            return Verdict(problem=f"condition {when!r}: {exc}")
        return Verdict(SKIP_CONDITION, f"skipped: condition false: {when}")

    def lookup(self, results: Mapping[str, AttemptResult]):
        params = self.definition.params

        def value(ref: Ref):
            if ref.parts[0] == "params":
                return param_value(params[ref.parts[1]].type, self.values[ref.parts[1]])
            return results[ref.parts[1]].vars[".".join(ref.parts[3:])]

        return value

    def reads_null(self, name: str, dep: str) -> bool:
        """Whether `name` reads a `dep` skipped by a condition as null outputs instead of
        being skipped too: a CWL task reading another, or a sub-workflow task (a CWL
        subworkflow step) it names in its `cwl.reads` (CWL's semantics for a step whose
        `when` is false, docs/cwl.md)."""
        reader, other = self.definition.tasks[name], self.definition.tasks[dep]
        if reader.cwl is None:
            return False
        return other.cwl is not None or (other.workflow is not None
                                         and dep in reader.cwl.get("reads", []))

    def note_skip(self, name: str, kind: str) -> None:
        self.skipped[name] = kind

    def note_failure(self, name: str) -> bool:
        """Record a failed task; True if the run keeps going (`on_failure: continue`)."""
        self.failed.add(name)
        return self.keep_going

    def spoils_success(self, name: str, state: str) -> bool:
        """Whether a task ending in `state` keeps the run from `success`: anything but
        success or a skip by condition."""
        if state == TaskStatus.SUCCESS:
            return False
        return not (state == TaskStatus.SKIPPED and self.skipped.get(name) == SKIP_CONDITION)
