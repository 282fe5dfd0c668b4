"""Errors of the engine, all under wfobj's one root so the API and CLI translate them once."""

from __future__ import annotations

import reprlib

from wfobj.objstore import WfobjError

from .bounds import EXCERPT_CHARS

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


def one_line(text: str, limit: int | None = None) -> str:
    """A message on one line (Docker's and click's often span several), cut to `limit`."""
    text = " ".join(text.split())
    return text if limit is None else clip(text, limit)


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


class ConditionError(EngineError, ValueError):
    """A `when` expression that cannot be parsed (`position`: 1-based character) or
    whose values do not fit an operator at run time (`position` None)."""

    def __init__(self, position: int | None, problem: str):
        self.position = position
        self.problem = problem
        super().__init__(f"at character {position}: {problem}" if position else problem)


class CwlStepFailed(EngineError):
    """A registered CWL step that cannot run, or whose outputs cannot be collected;
    `problem` says why on one line (the task fails with it)."""

    def __init__(self, problem: str):
        self.problem = problem
        super().__init__(problem)


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


class IllegalTransition(EngineError):
    """A run or task state change the state machine does not allow (an engine bug)."""

    def __init__(self, kind: str, old: str, new: str):
        self.kind = kind
        self.old = str(old)
        self.new = str(new)
        super().__init__(f"a {kind} cannot go from {self.old!r} to {self.new!r}")


class InvalidStoredObject(EngineError, ValueError):
    """A stored object that is not the type a reader expects, or has fields its type does
    not know or lacks fields it requires; names the object's hash."""

    def __init__(self, oid: str, type_name: str, problem: str):
        self.oid = oid
        self.type_name = type_name
        self.problem = problem
        super().__init__(f"object {oid} is not a valid {type_name}: {problem}")


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


class UnknownFile(EngineError, KeyError):
    """A file hash that is neither a blob in the store nor named by any run."""

    def __init__(self, oid: str):
        self.oid = oid
        super().__init__(oid)

    def __str__(self) -> str:
        return f"no file {self.oid} in this store"


class NothingToRepeat(EngineError):
    """Resume or reproduce of a run that is not over yet (its evidence is still coming)."""

    def __init__(self, run_id: str, state: str, verb: str):
        self.run_id, self.state, self.verb = run_id, state, verb
        super().__init__(f"run {run_id} is {state}: only an ended run can be {verb}d")


class TokenError(EngineError):
    """Root of token errors."""


class InvalidTokenRequest(TokenError, ValueError):
    """A user name or role that cannot be given a token."""

    def __init__(self, field: str, value: object, reason: str):
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"invalid {field} {value!r}: {reason}")


class TokenNotFound(TokenError, KeyError):
    """No token with this id (or id prefix)."""

    def __init__(self, token_id: str):
        self.token_id = token_id
        super().__init__(token_id)

    def __str__(self) -> str:
        return f"no token with id {self.token_id!r}"


class OutputRefused(EngineError):
    """A declared output or the vars file cannot be collected; `reason` says why."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"output {path!r}: {reason}")


class MissingVar(EngineError):
    """A declared var was not written to $WFOBJ_VARS."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"declared var {name!r} was not written to $WFOBJ_VARS")


class BadInputName(EngineError):
    """An input name that cannot be a file name directly under /in."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"input name {name!r} is not a plain file name")


class ContainerNotCreated(EngineError):
    """The daemon refused to create the container (bad limits, image gone…)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"container could not be created: {reason}")


class FrameError(EngineError, ValueError):
    """The multiplexed log stream ended inside a frame or named an unknown stream."""


class OutputTooLarge(EngineError):
    """A task wrote more than the executor's cap to one of its streams."""

    def __init__(self, stream: str, cap: int) -> None:
        self.stream, self.cap = stream, cap
        super().__init__(f"{stream} passed the cap of {cap} bytes per stream "
                         f"(--docker-max-output); the task was killed, its first {cap} bytes kept")


class ImageUnavailable(EngineError):
    """The image is not present locally (and pulling was not allowed or failed)."""

    def __init__(self, image: str, reason: str):
        self.image = image
        self.reason = reason
        super().__init__(f"image {image!r} {reason}")


class InputUnavailable(EngineError):
    """A task input that an upstream task did not produce (reported as the attempt's error)."""


class MissingOutput(OutputRefused):
    """A declared output file or directory does not exist in /out."""

    def __init__(self, path: str):
        super().__init__(path, "declared output is missing from /out")


class RunIdUnresolved(EngineError, ValueError):
    """An abbreviated run id (or `latest`) that names no run, or more than one."""

    def __init__(self, text: str, matches: int, problem: str):
        self.text = text
        self.matches = matches
        self.problem = problem
        super().__init__(problem)


class AttemptError(EngineError):
    """Root of the errors of remote attempts."""


class AttemptTokenRefused(AttemptError):
    """A token that does not grant this attempt (unknown, expired, ended, other spec)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class ReportRefused(AttemptError):
    """A report that does not belong to the token's attempt, or a second report."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)



class UploadBudgetSpent(ReportRefused):
    """An attempt token's uploads reached what its attempt can produce."""

    def __init__(self, spec: str, objects: int, size: int):
        self.spec, self.objects, self.size = spec, objects, size
        super().__init__(f"attempt spec {spec} may upload {objects} objects and {size} "
                         "bytes; its budget is spent")

class SlurmError(EngineError):
    """A Slurm command failed: which, and what it said."""

    def __init__(self, command: str, reason: str):
        self.command, self.reason = command, reason
        super().__init__(f"{command} failed: {reason}")


class LogStreamCut(EngineError):
    """A followed log stream ended without its `end` record (the server or the
    connection failed mid-answer)."""

    def __init__(self, run_id: str, task: str):
        self.run_id, self.task = run_id, task
        super().__init__(f"the log stream of task {task!r} of run {run_id} was cut off "
                         "before its end record")


class ExportError(EngineError):
    """Root of the errors of provenance exports and their verification."""


class UnknownExportFormat(ExportError, KeyError):
    """An export format wfobj does not write (HTTP 404)."""

    def __init__(self, name: str, known: tuple[str, ...]):
        self.name, self.known = name, known
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown export format {excerpt(self.name)}: one of {', '.join(self.known)}"


class BadExportOption(ExportError, ValueError):
    """An export option out of its values (HTTP 400)."""

    def __init__(self, option: str, value: str, allowed: tuple[str, ...]):
        self.option, self.value, self.allowed = option, value, allowed
        super().__init__(f"invalid {option} {excerpt(value)}: one of {', '.join(allowed)}")


class RunNotEnded(ExportError):
    """A signed attestation asked of a run still going (HTTP 409): it would not cover
    the outputs to come."""

    def __init__(self, run_id: str, state: str):
        self.run_id, self.state = run_id, state
        super().__init__(f"run {run_id} is {state}: an in-toto attestation is signed "
                         "only once the run has ended")


class SigningKeyError(ExportError, ValueError):
    """A signing or verifying key that cannot be used: where, and why."""

    def __init__(self, where: str, problem: str):
        self.where, self.problem = where, problem
        super().__init__(f"{where}: {problem}")


class ExportsBusy(ExportError):
    """As many exports as a process allows are under way (HTTP 503, Retry-After)."""

    def __init__(self, limit: int, retry_after: int):
        self.limit, self.retry_after = limit, retry_after
        super().__init__(f"{limit} exports are under way in this server process, its limit: "
                         f"try again in {retry_after} s")


class NoSigningKey(ExportError):
    """Signing asked of a service that was given no key (HTTP 409)."""

    def __init__(self) -> None:
        super().__init__("this server has no signing key")


class BadSignature(ExportError, ValueError):
    """An envelope whose signature does not verify, or that is not an envelope."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"signature check failed: {reason}")


class SubjectMismatch(ExportError, ValueError):
    """An attested file whose bytes are missing or differ from the subject's digest."""

    def __init__(self, name: str, algorithm: str, expected: str, got: str | None):
        self.name, self.algorithm, self.expected, self.got = name, algorithm, expected, got
        found = "is not in the store" if got is None else f"has {algorithm} {got}"
        super().__init__(f"subject {excerpt(name)}: expected {algorithm} {expected}, "
                         f"the file {found}")


class SecretError(EngineError):
    """Root of secret errors (engine/access/secrets.py). No message ever quotes a value."""


class InvalidSecret(SecretError, ValueError):
    """A secret name or value that cannot be stored (HTTP 400); the value is never quoted."""

    def __init__(self, field: str, problem: str, name: str | None = None):
        self.field, self.problem, self.name = field, problem, name
        where = f"secret {excerpt(name)}" if name is not None and field != "name" else "secret"
        super().__init__(f"{where}: invalid {field}: {problem}")


class SecretNotFound(SecretError, KeyError):
    """No secret of this name in the server's secret store (HTTP 404)."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return (f"no secret {excerpt(self.name)} in this server's secret store "
                f"(`wfobj secret list` names them; `wfobj secret set` adds one)")


class SecretStoreUnusable(SecretError):
    """The secret store's key or file cannot be used: where, and why (HTTP 500)."""

    def __init__(self, where: str, problem: str):
        self.where, self.problem = where, problem
        super().__init__(f"{where}: {problem}")


class FanOutRefused(EngineError):
    """A fanned-out task's collection cannot be fanned out at run time (not a collection,
    a bad item key, more items than the server's bound); the task fails with this."""

    def __init__(self, task: str, collection: str, reason: str):
        self.task, self.collection, self.reason = task, collection, reason
        super().__init__(f"task {task!r}: for_each over {collection}: {reason}")


class SecretUnavailable(SecretError):
    """A secret an attempt uses cannot be given to it (removed, changed, not placeable):
    the attempt fails unstarted with this message, which names the secret, never its value."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"secret {excerpt(name)}: {reason}")


# --- webhooks (engine/webhooks/) -----------------------------------------------------------
class HookError(EngineError):
    """Root of webhook errors."""


class HookRefused(HookError, ValueError):
    """A hook that cannot be added: `field` names what is wrong (HTTP 400)."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"hook {field}: {problem}")


class UnknownHook(HookError, KeyError):
    """No hook has this id (HTTP 404)."""

    def __init__(self, hook_id: str):
        self.hook_id = hook_id
        super().__init__(f"no hook {excerpt(hook_id)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


# ---- schedules and data triggers (engine/scheduling/schedules.py, data_triggers.py) ----
class ScheduleError(EngineError, ValueError):
    """A schedule that cannot be saved: `field` (cron, timezone, catchup, name, …) names
    what is wrong with `value` (HTTP 400)."""

    def __init__(self, field: str, value: object, problem: str):
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"invalid {field} {excerpt(value)}: {problem}")


class UnknownSchedule(EngineError, KeyError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown schedule: {self.name}"


class DataRefError(EngineError, ValueError):
    """A `data/` ref move or a trigger subscription that is refused (HTTP 400): a ref
    outside `data/`, a target that is not a blob or a tree, a param that takes neither."""

    def __init__(self, ref: str, problem: str):
        self.ref = ref
        self.problem = problem
        super().__init__(f"{excerpt(ref)}: {problem}")


class UnknownDataRef(EngineError, KeyError):
    def __init__(self, ref: str):
        self.ref = ref
        super().__init__(ref)

    def __str__(self) -> str:
        return f"unknown data ref: {self.ref}"


class UnknownTrigger(EngineError, KeyError):
    def __init__(self, ref: str, workflow: str, param: str):
        self.ref, self.workflow, self.param = ref, workflow, param
        super().__init__(ref)

    def __str__(self) -> str:
        return f"no trigger on {self.ref} for workflow {self.workflow} param {self.param}"
