"""Errors of the engine, all under wfobj's one root so the API and CLI translate them once."""

from __future__ import annotations

import reprlib

from objstore import WfobjError

from .limits import EXCERPT_CHARS

_EXCERPT = reprlib.Repr()
_EXCERPT.maxstring = _EXCERPT.maxother = _EXCERPT.maxlong = EXCERPT_CHARS
_EXCERPT.maxlist = _EXCERPT.maxtuple = _EXCERPT.maxdict = _EXCERPT.maxset = 4
_EXCERPT.maxlevel = 2


def excerpt(value: object) -> str:
    """repr() of user input, cut to about EXCERPT_CHARS: a message quotes no more of
    what it refuses (the cut never builds the whole repr first)."""
    try:
        return clip(_EXCERPT.repr(value))
    except ValueError:  # an int too long to print
        return f"<{type(value).__name__}>"


def clip(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A message fragment made of user input (a place built from keys) cut to `limit`."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EngineError(WfobjError):
    """Root of engine errors."""


class DocumentError(EngineError, ValueError):
    """A JSON or YAML text that is malformed or outside the limits (HTTP 400)."""

    def __init__(self, kind: str, problem: str):
        self.kind = kind
        self.problem = problem
        super().__init__(f"not valid {kind}: {problem}")


class DefinitionError(EngineError, ValueError):
    """A workflow definition that cannot be registered; `place` says where (HTTP 400)."""

    def __init__(self, place: str, problem: str):
        self.place = place
        self.problem = problem
        super().__init__(f"{clip(place)}: {problem}" if place else problem)


class DefinitionTooLarge(EngineError):
    """A normalized definition over the size limit (HTTP 413)."""

    def __init__(self, size: int, limit: int):
        self.size = size
        self.limit = limit
        super().__init__(f"the normalized definition is {size} bytes, over the limit of "
                         f"{limit} bytes")


class RenderedTooLarge(EngineError, ValueError):
    """A task whose command and env, rendered, would pass the limit (HTTP 400 at trigger;
    the attempt's error when only upstream vars decide it)."""

    def __init__(self, task: str, size: int, limit: int):
        self.task = task
        self.size = size
        self.limit = limit
        super().__init__(f"task {excerpt(task)}: the rendered command and env would be "
                         f"{size} bytes, over the limit of {limit} bytes")


class ParameterError(EngineError, ValueError):
    """Trigger parameters that do not fit the definition's `params` (HTTP 400, no run)."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"parameter {excerpt(name)}: {problem}")


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


class UnknownAttempt(EngineError, KeyError):
    """A task attempt number the run has not recorded (HTTP 404)."""

    def __init__(self, run_id: str, task: str, attempt: int):
        self.run_id, self.task, self.attempt = run_id, task, attempt
        super().__init__(attempt)

    def __str__(self) -> str:
        return f"task {self.task!r} of run {self.run_id} has no attempt {self.attempt}"


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
        super().__init__(f"invalid cursor {excerpt(cursor)}")


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
