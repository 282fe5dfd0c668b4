"""Errors of the engine, all under wfobj's one root so the API and CLI translate them once."""

from __future__ import annotations

from objstore import WfobjError


class EngineError(WfobjError):
    """Root of engine errors."""


class DefinitionError(EngineError, ValueError):
    """A workflow definition that cannot be registered; `place` says where (HTTP 400)."""

    def __init__(self, place: str, problem: str):
        self.place = place
        self.problem = problem
        super().__init__(f"{place}: {problem}" if place else problem)


class ParameterError(EngineError, ValueError):
    """Trigger parameters that do not fit the definition's `params` (HTTP 400, no run)."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"parameter {name!r}: {problem}")


class UnknownWorkflow(EngineError, KeyError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown workflow: {self.name}"


class UnknownRun(EngineError, KeyError):
    def __init__(self, run_id: str):
        self.run_id = run_id
        super().__init__(run_id)

    def __str__(self) -> str:
        return f"unknown run: {self.run_id}"


class UnknownTask(EngineError, KeyError):
    def __init__(self, run_id: str, task: str):
        self.run_id = run_id
        self.task = task
        super().__init__(task)

    def __str__(self) -> str:
        return f"run {self.run_id} has no task {self.task!r}"


class NotADefinition(EngineError, KeyError):
    """A hash that names no `definition` object (HTTP 404)."""

    def __init__(self, oid: str, found: str | None = None):
        self.oid = oid
        self.found = found
        super().__init__(oid)

    def __str__(self) -> str:
        what = f" (it is a {self.found})" if self.found else ""
        return f"no workflow definition {self.oid}{what}"


class RunAlreadyTerminal(EngineError):
    """Kill of a run that already ended (HTTP 409); terminal states never change."""

    def __init__(self, run_id: str, state: str):
        self.run_id = run_id
        self.state = state
        super().__init__(f"run {run_id} is already {state}")


class BadCursor(EngineError, ValueError):
    def __init__(self, cursor: str):
        self.cursor = cursor
        super().__init__(f"invalid cursor {cursor!r}")


class LeaseLost(EngineError):
    """Another worker took over this run (our lease expired); stop writing to it."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        super().__init__(f"lease on run {run_id} was lost to another worker")


class ExecutorUnavailable(EngineError):
    """The executor cannot run attempts: `what` (e.g. Docker at its address) and why."""

    def __init__(self, what: str, reason: str):
        self.what = what
        self.reason = reason
        super().__init__(f"{what} is unreachable: {reason}")
