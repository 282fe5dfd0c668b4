"""Typed stored objects: one small class per object type the engine writes and reads back,
each declaring its `type_name` and how it becomes a structured object (`to_value`) and
back (`from_value`), all registered in TYPES (dulwich's ShaFile family is the model).

Readers get attributes, not `obj["field"]`. A stored object with a field its class does not
know, or without one it requires, fails with InvalidStoredObject naming its hash. Fields
with a default were added after the first objects of their type were written: objects
without them still read. Field layouts: docs/object-model.md.
"""

from __future__ import annotations

import functools
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Self, TypeVar

from wfobj.objstore import Link, ObjectStore

from .errors import InvalidStoredObject


@dataclass(frozen=True)
class StoredObject:
    """Base of the typed objects: checking and converting the structured form."""

    type_name: ClassVar[str]
    # fields left out of the stored form while None (absent on the first of a chain)
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()
    # attribute -> stored field name, where the stored name is a Python keyword
    stored_as: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_value(cls, oid: str, value: Any) -> Self:
        """The typed object of the structured `value` stored under `oid`. (Every run
        read makes several: the checks are set operations, the error is worked out only
        when they fail, and the instance is filled directly, a frozen dataclass's
        __init__ setting each field through object.__setattr__.)"""
        if not isinstance(value, dict) or value.get("type") != cls.type_name:
            found = value.get("type") if isinstance(value, dict) else type(value).__name__
            raise InvalidStoredObject(oid, cls.type_name, f"it is a {found!r}")
        layout = _layout(cls)
        keys = value.keys()
        if not (keys <= layout.known and layout.required <= keys):
            _check_fields(layout, keys, oid, cls.type_name)
        obj = object.__new__(cls)
        fields_ = obj.__dict__
        if layout.defaults:
            fields_.update(layout.defaults)
        fields_.update(value)
        del fields_["type"]
        for stored, attr in layout.renamed:
            fields_[attr] = fields_.pop(stored)
        return obj

    def to_value(self) -> dict:
        """The structured object to store."""
        value = {"type": self.type_name, **self.__dict__}  # the fields, copied at C speed
        for attr in self.omitted_when_none:
            if value[attr] is None:
                del value[attr]
        for attr, stored in self.stored_as.items():
            value[stored] = value.pop(attr)
        return value


@dataclass(frozen=True)
class ImageFacts(StoredObject):
    """What an image reference resolved to; attempts that ran the same image share it."""

    type_name: ClassVar[str] = "image"
    reference: str
    image_id: str | None
    digests: list[str]


@dataclass(frozen=True)
class TaskEvidence(StoredObject):
    """One attempt of one task, whatever its outcome."""

    type_name: ClassVar[str] = "task_evidence"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"secrets", "retry", "child"})
    run_id: str
    task: str
    attempt: int
    state: str
    image: str
    image_facts: Link
    command: list[str]
    env: dict[str, str]
    workdir: str
    inputs: list[dict]
    outputs: list[dict]
    vars: dict[str, str]
    exit_code: int | None
    stdout: dict
    stderr: dict
    started_at: str
    ended_at: str
    duration_s: str
    host: dict[str, str]
    error: str | None
    # added after the first evidence was written
    limits: dict | None = None
    cache_key: Link | None = None
    cached_from: Link | None = None
    cache_reason: str | None = None
    executor: dict | None = None
    # the secrets the task used: [{"name", "env" | "file", "fingerprint"}] (never values)
    secrets: list[dict] | None = None
    # on attempts of a task with `retry`: {"delay_s" (decimal text), "resources"}
    retry: dict | None = None
    # on a sub-workflow task's attempt: {"run_id", "manifest": → the child's manifest}
    child: dict | None = None


@dataclass(frozen=True)
class WorkflowVersion(StoredObject):
    """One registered version of a workflow; `workflows/<name>` points at the newest."""

    type_name: ClassVar[str] = "workflow_version"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"previous"})
    name: str
    version: int
    definition: Link
    registered_by: str
    registered_at: str
    previous: Link | None = None


@dataclass(frozen=True)
class RunRecord(StoredObject):
    """What a run is: written once, at trigger."""

    type_name: ClassVar[str] = "run_record"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset(
        {"cache", "resumes", "reproduces", "image_pins", "trigger", "parent", "file_names"})
    run_id: str
    workflow: str
    definition: Link
    engine_version: str
    triggered_by: str
    created_at: str
    parameters: dict
    # present only on runs that asked for them (docs/cache.md)
    cache: bool | None = None
    resumes: str | None = None
    reproduces: str | None = None
    image_pins: dict[str, str] | None = None
    # runs that started themselves: {"kind": "schedule", "schedule", "slot"} or
    # {"kind": "data", "ref", "hash", "param", "content": file|dir}
    # (docs/schedules-and-triggers.md)
    trigger: dict | None = None
    # a sub-workflow's run: {"run_id", "task"} of the parent run and its task
    parent: dict | None = None
    # {param: name} of the `file`/`dir` params given with a name (`{"hash", "name"}` at
    # trigger, `-p P=@./reads.fq`): what a task that names its inputs calls them (CWL's
    # `basename`); docs/workflow-format.md "Named files"
    file_names: dict[str, str] | None = None


@dataclass(frozen=True)
class RunTasks(StoredObject):
    """One bucket of a run's task table: [{"name", "state", "attempts": [→ evidence]}];
    a fanned-out task's row also has "instances": [first position, count], a skipped row
    written since skip kinds were kept "skip" (the kind on its audit event)."""

    type_name: ClassVar[str] = "run_tasks"
    run_id: str
    first: int
    tasks: list[dict]


@dataclass(frozen=True)
class RunTaskPage(StoredObject):
    """One page of a run's task table: up to PAGE bucket links (engine/runs/state.py)."""

    type_name: ClassVar[str] = "run_task_page"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"states"})
    run_id: str
    first: int  # the index of its first bucket
    buckets: list[Link]
    # each bucket's rows by state ({state: count}), in bucket order: a filtered view of a
    # fan-out's instances skips the buckets without the state asked (absent before kept)
    states: list[dict] | None = None


@dataclass(frozen=True)
class AuditEvent(StoredObject):
    """One entry of a run's hash-chained audit trail; `prev` links the one before."""

    type_name: ClassVar[str] = "audit_event"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"skip"})
    stored_as: ClassVar[dict[str, str]] = {"from_": "from"}
    run_id: str
    seq: int
    at: str
    actor: str
    event: str
    from_: str | None
    to: str | None
    task: str | None
    reason: str | None
    prev: Link | None
    # on a task's move to `skipped`: why, for machines (engine/scheduling/skips.py)
    skip: str | None = None


@dataclass(frozen=True)
class RunManifest(StoredObject):
    """The newest state of a run; `runs/<run_id>` points at it."""

    type_name: ClassVar[str] = "run_manifest"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"previous", "pages", "task_states"})
    run_id: str
    run: Link
    state: str
    tasks: list[Link]
    workflow: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    task_count: int | None = None
    audit: Link | None = None
    audit_count: int = 0
    updated_at: str | None = None
    previous: Link | None = None
    # the task table in pages of buckets (`tasks` then empty); older manifests link
    # their buckets from `tasks` directly
    pages: list[Link] | None = None
    task_states: dict[str, int] | None = None  # how many rows are in each state



@dataclass(frozen=True)
class AttemptSpec(StoredObject):
    """One attempt to run elsewhere (`wfobj exec`): its TaskSpec and the server's default
    caps; `inputs[].blob` links the input blobs, so its closure is all a node needs."""

    type_name: ClassVar[str] = "attempt_spec"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"secrets"})
    run_id: str
    task: str
    attempt: int
    image: str
    command: list[str]
    env: dict[str, str]
    workdir: str | None
    network: bool
    cpus: str | None  # decimal text
    memory: str | None  # docker-style size, e.g. "512m"
    timeout: str | None  # decimal text, seconds
    pids: int | None
    inputs: list[dict]  # [{"name", "blob": → blob, "size"}]
    output_files: list[str]
    output_vars: list[str]
    default_limits: dict  # {"memory", "pids", "cpus" (decimal text)}
    # the secrets to place: [{"name", "env" | "file", "fingerprint"}]; the node asks the
    # server for their values over the attempt's token, they are never objects
    secrets: list[dict] | None = None


@dataclass(frozen=True)
class AttemptReport(StoredObject):
    """What a node sends back for one `attempt_spec`: the attempt's result, linking its
    stdout, stderr and output blobs."""

    type_name: ClassVar[str] = "attempt_report"
    spec: Link
    run_id: str
    task: str
    attempt: int
    state: str
    exit_code: int | None
    stdout: dict  # {"blob": → blob, "size", "text"}
    stderr: dict
    started_at: str
    ended_at: str
    image_id: str | None
    image_digests: list[str]
    outputs: list[dict]  # [{"path", "blob": → blob, "size"}]
    vars: dict[str, str]
    host: dict[str, str]
    workdir: str | None
    error: str | None
    limits: dict | None  # the container's caps, "cpus" as decimal text


@dataclass(frozen=True)
class CacheKey(StoredObject):
    """A `task_key`: exactly what decides an attempt's result; its hash is the cache key."""

    type_name: ClassVar[str] = "task_key"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"secrets"})
    image_id: str
    command: list[str]
    env: dict[str, str]
    workdir: str | None
    inputs: list[dict]  # [{"path": "/in/<name>", "blob": → blob}], sorted by path
    outputs: dict  # {"files": [...], "vars": [...]}
    network: bool
    # [{"name", "env" | "file", "fingerprint"}] of the secrets used; absent when none
    secrets: list[dict] | None = None


@dataclass(frozen=True)
class ScheduleVersion(StoredObject):
    """One version of a schedule; meta `schedules/<name>` names the newest. Every change
    (created, updated, paused, resumed, removed) is a new version linking the `previous`
    one, so the chain is the schedule's audit trail: who, when, and old and new."""

    type_name: ClassVar[str] = "schedule_version"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"previous", "definition"})
    name: str
    version: int
    change: str  # created | updated | paused | resumed | removed
    changed_by: str
    changed_at: str
    cron: str
    timezone: str
    workflow: str
    parameters: dict
    catchup: str  # none | latest | all
    paused: bool
    removed: bool
    since: str  # slots after this time belong to this version
    keeps: list[Link]  # the file and dir values among `parameters`, linked so gc keeps them
    definition: Link | None = None  # pinned: runs use this definition, not the newest
    previous: Link | None = None


# ---- the workflow definition (docs/workflow-format.md) ----------------------------------
@dataclass(frozen=True)
class DefinitionPart:
    """Base of a definition's typed parts (a param, a task and what a task holds): a
    mapping without a `type` field, checked like a stored object. Its stored form holds
    every field except those in `omitted_when_none`, which are left out while None; the
    defaults are the ones registration fills in (engine/definitions/format.py builds parts from
    the keys a user wrote)."""

    omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_value(cls, oid: str, place: str, value: Any) -> Self:
        """The part at `place` of the definition stored under `oid`. (A definition has a
        part or more per task, and every run view reads it: the checks are set
        operations, and the error is worked out only when they fail.)"""
        layout = _part_layout(cls)
        if (not isinstance(value, dict) or not layout.known.issuperset(value)
                or not layout.required.issubset(value)):
            raise _part_problem(cls, oid, place, value)
        optional = cls.omitted_when_none.intersection(value)
        if optional and any(value[k] is None for k in optional):
            raise _part_problem(cls, oid, place, value)
        obj = object.__new__(cls)
        if layout.defaults:
            obj.__dict__.update(layout.defaults)
        obj.__dict__.update(value)
        return obj

    def to_value(self) -> dict:
        return {k: v for k, v in self.__dict__.items()
                if v is not None or k not in self.omitted_when_none}


@dataclass(frozen=True)
class ParamDefinition(DefinitionPart):
    """A declared trigger parameter; `enum` and `default` hold stored values (a `float`
    as its decimal string). No `default`: the param is required at trigger."""

    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"enum", "default", "optional"})
    type: str
    enum: list | None = None
    default: Any = None
    # true: may be left out at trigger (no value, not even a default): only a task kind
    # with a null reads it (CWL's `File?`); a native reference to it is refused
    optional: bool | None = None


@dataclass(frozen=True)
class ParamInput(DefinitionPart):
    """A task input filled by the blob given for a `file` param."""

    param: str


@dataclass(frozen=True)
class TaskFileInput(DefinitionPart):
    """A task input filled by an output file of another task."""

    task: str
    file: str


@dataclass(frozen=True)
class ItemInput(DefinitionPart):
    """A fanned-out task's input filled by its instance's item: the entry of a `dir`
    collection (a file or a directory). Written `{item: true}`."""

    item: bool = True


TaskInput = ParamInput | TaskFileInput | ItemInput


@dataclass(frozen=True)
class ForEach(DefinitionPart):
    """What a fanned-out task runs once per item of (docs/workflow-format.md): a `dir` or
    `list` param, the entries of a directory task T produced (`task` + `file`), or a var of
    T holding a JSON array (`task` + `var`). Only the fields of its form are stored."""

    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"param", "task", "file", "var"})
    param: str | None = None
    task: str | None = None
    file: str | None = None
    var: str | None = None

    def describe(self) -> str:
        """`params.P`, `tasks.T/D` or `tasks.T.vars.V`, as messages name the collection."""
        if self.param is not None:
            return f"params.{self.param}"
        if self.file is not None:
            return f"tasks.{self.task}/{self.file}"
        return f"tasks.{self.task}.vars.{self.var}"


@dataclass(frozen=True)
class TaskOutputs(DefinitionPart):
    """What a task declares it produces: paths under /out and vars."""

    files: list[str] = field(default_factory=list)
    vars: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TaskResources(DefinitionPart):
    """A task's container limits; each stored only when set (`cpus` a decimal string)."""

    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"cpus", "memory", "pids"})
    cpus: str | None = None
    memory: str | None = None
    pids: int | None = None


NO_RESOURCES = TaskResources()


@dataclass(frozen=True)
class TaskRetry(DefinitionPart):
    """How retries of a task wait and grow (docs/workflow-format.md "Retries"): the delay
    before the second attempt (seconds), its growth per attempt and cap, and the factors
    memory and CPUs grow by per attempt (with an optional memory cap). Every number is
    decimal text; each field stored only when set."""

    omitted_when_none: ClassVar[frozenset[str]] = frozenset(
        {"delay", "backoff", "max_delay", "memory_factor", "max_memory", "cpus_factor"})
    delay: str | None = None
    backoff: str | None = None
    max_delay: str | None = None
    memory_factor: str | None = None
    max_memory: str | None = None  # a size like 8g
    cpus_factor: str | None = None


@dataclass(frozen=True)
class TaskDefinition(DefinitionPart):
    """One task. `timeout` is whole seconds or a decimal string. `cache` and `pull` are
    stored only when written (definitions from before they existed keep their hashes):
    `cache` None means `not network`, `pull` None the server's policy."""

    omitted_when_none: ClassVar[frozenset[str]] = frozenset(
        {"cache", "pull", "when", "for_each", "parallelism", "secrets", "retry", "workflow",
         "params", "cwl"})
    image: str = ""  # empty only on a sub-workflow task (`workflow`)
    command: list[str] = field(default_factory=list)
    inputs: dict[str, TaskInput] = field(default_factory=dict)
    outputs: TaskOutputs = field(default_factory=TaskOutputs)
    env: dict[str, str] = field(default_factory=dict)
    timeout: int | str | None = None
    retries: int = 0
    after: list[str] = field(default_factory=list)
    workdir: str | None = None
    network: bool = False
    resources: TaskResources = field(default_factory=TaskResources)
    cache: bool | None = None
    pull: str | None = None
    when: str | None = None  # a condition (engine/definitions/conditions.py)
    for_each: ForEach | None = None
    parallelism: int | None = None
    # where each secret goes: {ENV_VAR or /run/secrets/FILE: {"secret": NAME}}
    secrets: dict[str, dict] | None = None
    retry: TaskRetry | None = None  # delays and growth between attempts
    # a sub-workflow task: {"name", "hash"} of the child definition, resolved at
    # registration (engine/definitions/subworkflows.py), and its params (templates allowed)
    workflow: dict | None = None
    params: dict | None = None
    # a CWL task (task kind `cwl`, engine/scheduling/cwl_steps.py): {"document": hash of
    # the packed CWL document (a blob the definition pins), "step": the workflow step it
    # runs (absent: the document's process itself), "reads": the tasks whose CWL output
    # objects it reads}
    cwl: dict | None = None

    @classmethod
    def from_value(cls, oid: str, place: str, value: Any) -> Self:
        task = super().from_value(oid, place, value)
        parts = task.__dict__
        if parts["for_each"] is not None:
            parts["for_each"] = ForEach.from_value(oid, place + ".for_each", parts["for_each"])
        if parts["inputs"] != {}:
            parts["inputs"] = {name: _input(oid, f"{place}.inputs.{name}", spec) for name, spec
                               in _mapping(oid, f"{place}.inputs", parts["inputs"]).items()}
        parts["outputs"] = TaskOutputs.from_value(oid, place + ".outputs", parts["outputs"])
        # most tasks set no resources: they share one (immutable) empty part
        parts["resources"] = (NO_RESOURCES if parts["resources"] == {} else
                              TaskResources.from_value(oid, place + ".resources",
                                                       parts["resources"]))
        if parts["retry"] is not None:
            parts["retry"] = TaskRetry.from_value(oid, place + ".retry", parts["retry"])
        return task

    def to_value(self) -> dict:
        value = super().to_value()
        value.update(inputs={name: spec.to_value() for name, spec in self.inputs.items()},
                     outputs=self.outputs.to_value(), resources=self.resources.to_value())
        if self.for_each is not None:
            value["for_each"] = self.for_each.to_value()
        if self.retry is not None:
            value["retry"] = self.retry.to_value()
        return value


@dataclass(frozen=True)
class Definition(StoredObject):
    """A registered workflow as normalized by engine/definitions/format.py; its hash is the
    definition hash, so `to_value()` gives back exactly the object that was stored."""

    type_name: ClassVar[str] = "definition"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"on_failure", "source"})
    name: str
    description: str
    params: dict[str, ParamDefinition]
    tasks: dict[str, TaskDefinition]
    on_failure: str | None = None  # "stop" when unset; stored only when written
    # the document this definition was made from ({"language", "document", "version",
    # "process"}, engine/definitions/format.py normalize_source); stored only when written
    source: dict | None = None

    @classmethod
    def from_value(cls, oid: str, value: Any) -> Self:
        definition = super().from_value(oid, value)
        definition.__dict__.update(
            params={name: ParamDefinition.from_value(oid, f"params.{name}", spec)
                    for name, spec in _mapping(oid, "params", definition.params).items()},
            tasks={name: TaskDefinition.from_value(oid, f"tasks.{name}", spec)
                   for name, spec in _mapping(oid, "tasks", definition.tasks).items()})
        return definition

    @classmethod
    def from_json(cls, oid: str, value: Any) -> Self:
        """The definition `oid` as the API shows it (`as_json()`), typed again."""
        if not isinstance(value, dict):
            raise InvalidStoredObject(oid, cls.type_name, f"it is a {type(value).__name__}")
        return cls.from_value(oid, {**value, "type": cls.type_name})

    def to_value(self) -> dict:
        value = super().to_value()
        value.update(params={name: p.to_value() for name, p in self.params.items()},
                     tasks={name: t.to_value() for name, t in self.tasks.items()})
        return value

    def as_json(self) -> dict:
        """The stored definition as the API shows it: without the object's `type` field."""
        value = self.to_value()
        del value["type"]
        return value


def _part_problem(cls: type[DefinitionPart], oid: str, place: str,
                  value: Any) -> InvalidStoredObject:
    """Why `value` is not a valid `cls` at `place` of the definition `oid`."""
    _mapping(oid, place, value)
    _check_fields(_part_layout(cls), value.keys(), oid, Definition.type_name, place)
    # stored only when set: a null would not survive to_value
    nulls = ", ".join(sorted(k for k in cls.omitted_when_none if k in value and value[k] is None))
    return InvalidStoredObject(oid, Definition.type_name, f"{place}: null field(s) {nulls}")


def _mapping(oid: str, place: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidStoredObject(oid, Definition.type_name,
                                  f"{place}: is a {type(value).__name__}, not a mapping")
    return value


def _input(oid: str, place: str, value: Any) -> TaskInput:
    """`{param}`, `{item}` or `{task, file}`: told by the `param` or `item` field."""
    kind = TaskFileInput
    if isinstance(value, dict):
        kind = ParamInput if "param" in value else ItemInput if "item" in value else TaskFileInput
    return kind.from_value(oid, place, value)


@dataclass(frozen=True)
class _Layout:
    known: frozenset[str]  # stored field names ("type" included for a StoredObject)
    required: frozenset[str]
    defaults: dict[str, Any]  # by stored name, for fields older objects may lack
    renamed: tuple[tuple[str, str], ...]  # (stored name, attribute)


def _check_fields(layout: _Layout, keys: Any, oid: str, type_name: str, place: str = "") -> None:
    """InvalidStoredObject naming `oid` if `keys` has a field `layout` does not know or
    lacks one it requires (`place`: where in the object, for nested parts)."""
    where = f"{place}: " if place else ""
    if not keys <= layout.known:
        unknown = ", ".join(sorted(keys - layout.known))
        raise InvalidStoredObject(oid, type_name, f"{where}unknown field(s) {unknown}")
    if not layout.required <= keys:
        missing = ", ".join(sorted(layout.required - keys))
        raise InvalidStoredObject(oid, type_name, f"{where}missing field(s) {missing}")


@functools.cache
def _layout(cls: type[StoredObject]) -> _Layout:
    """How a typed class's fields are stored."""
    own = fields(cls)
    stored = {f.name: cls.stored_as.get(f.name, f.name) for f in own}
    return _Layout(
        known=frozenset(stored.values()) | {"type"},
        required=frozenset(stored[f.name] for f in own
                           if f.default is MISSING and f.default_factory is MISSING),
        defaults={stored[f.name]: f.default for f in own if f.default is not MISSING},
        renamed=tuple((s, a) for a, s in stored.items() if s != a))


@functools.cache
def _part_layout(cls: type[DefinitionPart]) -> _Layout:
    """How a definition part's fields are stored: all of them, but those omitted while None."""
    names = frozenset(f.name for f in fields(cls))
    return _Layout(known=names, required=names - cls.omitted_when_none,
                   defaults=dict.fromkeys(cls.omitted_when_none), renamed=())


TYPES: tuple[type[StoredObject], ...] = (WorkflowVersion, ImageFacts, TaskEvidence, RunRecord,
                                         RunTasks, RunTaskPage, AuditEvent, RunManifest, AttemptSpec,
                                         AttemptReport, CacheKey, Definition, ScheduleVersion)
BY_NAME: dict[str, type[StoredObject]] = {cls.type_name: cls for cls in TYPES}


T = TypeVar("T", bound=StoredObject)


def read(store: ObjectStore, oid: str, cls: type[T]) -> T:
    """The object `oid` as a `cls`, read through the store's verifying read path."""
    return cls.from_value(oid, store.get_object(oid))


# ---- what an input or output holds: a file (a blob) or a directory (a tree) -------------
FILE, DIR = "file", "dir"


def content_link(kind: str, oid: str) -> dict:
    """How evidence, task keys, specs and reports link an input's or output's content:
    {"blob": → blob} for a file, {"tree": → tree} for a directory."""
    return {"tree": Link.obj(oid)} if kind == DIR else {"blob": Link.blob(oid)}


def row_kind(row: dict) -> str:
    """`file` or `dir` of an input or output row; rows written before trees were files."""
    return row.get("kind") or (DIR if "tree" in row else FILE)


def row_oid(row: dict) -> str:
    """The hash of a row's content: its blob's or its tree's."""
    return (row["tree"] if "tree" in row else row["blob"]).oid
