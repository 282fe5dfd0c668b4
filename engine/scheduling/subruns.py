"""Sub-workflow tasks at run time: the child run, driven inline.

A task `workflow: {…}` starts a child run of the definition pinned at registration: a run
of its own (own id, manifest, audit) whose record says `parent: {run_id, task}`. It is
never queued: the parent's scheduler drives it with a nested `RunScheduler` on the same
executor, in one of the parent's attempt threads, so no other worker can take it and a
worker's run slots can never all be held by parents waiting on children (no deadlock).
Killing the parent (or stopping its worker) cancels the attempt, which asks the child to
be killed and waits for it to end. The attempt's result is the child's: success only if
the child succeeded, outputs `TASK/PATH` and vars `TASK.VAR` taken from the child's
tasks; its evidence links the child's manifest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from wfobj.engine.clock import Clock
from wfobj.engine.definitions.params import check_parameters, parse_text
from wfobj.engine.errors import EngineError, InvalidStoredObject, ParameterError
from wfobj.engine.executors.base import AttemptResult, OutputFile, StoredText, TaskSpec
from wfobj.engine.model import (
    DIR,
    FILE,
    Definition,
    TaskDefinition,
    TaskEvidence,
    read,
    row_kind,
    row_oid,
)
from wfobj.engine.runs.lifecycle import create_run, request_kill
from wfobj.engine.runs.state import RunState
from wfobj.engine.states import AttemptStatus, RunStatus, TaskStatus
from wfobj.objstore import Link, ObjectStore, PathNotInTree, entry_at

from .fanout import Item, find_output
from .render import reference_lookup, substitute

PARENT_ACTOR = "parent run"


def child_parameters(task: TaskDefinition, child: Definition, lookup, store: ObjectStore,
                     produced: dict, item: Item | None = None) -> dict:
    """The child run's parameters: the task's `params`, templates substituted and their
    text typed by the child's param types ({{item}} and {{item.key}} an instance's), an
    upstream output or an instance's item ({item: true}) given as its hash, checked like a
    trigger's (ParameterError)."""
    given = {}
    for key, value in (task.params or {}).items():
        if isinstance(value, dict) and "task" not in value:
            given[key] = passed_item(key, child.params[key].type, item)
        elif isinstance(value, dict):
            given[key] = passed_output(store, key, value, produced)
        elif isinstance(value, str) and "{{" in value:
            value = substitute(value, lookup)
            ptype = child.params[key].type
            given[key] = value if ptype in ("string", "file", "dir") else parse_text(ptype, value)
        elif isinstance(value, str) and child.params[key].type == "float":
            given[key] = parse_text("float", value)
        else:
            given[key] = value
    return check_parameters(child.params, given, store)


def passed_item(key: str, ptype: str, item: Item | None) -> str:
    """The hash of an instance's item given for `file` or `dir` param `key` (a folder's
    entry: a file for a `file` param, a folder for a `dir` param)."""
    entry = None if item is None else item.entry
    if entry is None:
        raise ParameterError(key, "the item is not a file or folder")
    if (entry.kind == DIR) != (ptype == DIR):
        what = "a folder" if entry.kind == DIR else "a file"
        raise ParameterError(key, f"item {item.key!r} is {what}, the param is of type {ptype}")
    return entry.oid


def child_file_names(task: TaskDefinition, child: Definition, names: dict | None,
                     item: Item | None = None) -> dict:
    """{child param: name} of the child's `file`/`dir` params passed straight from a named
    param of the parent (`P: "{{params.Q}}"`): the child's file goes by the same name; an
    instance's item (`{item: true}`) goes by its entry's name."""
    out = {}
    for key, value in (task.params or {}).items():
        if isinstance(value, dict) and "task" not in value and item is not None:
            out[key] = item.key
            continue
        if isinstance(value, str) and value.startswith("{{params.") and value.endswith("}}"):
            given = value[len("{{params."):-2].strip()
            if (names or {}).get(given) and child.params[key].type in ("file", "dir"):
                out[key] = names[given]
    return out


def passed_output(store: ObjectStore, key: str, value: dict, produced: dict) -> str:
    """The hash of upstream output `value` ({task, file}: a file or directory, or a path
    inside an output directory) given for param `key`."""
    entry = find_output(store, produced[value["task"]], value["file"])
    if entry is not None:
        return entry.oid
    path = value["file"]
    raise ParameterError(key, f"task {value['task']!r} produced no {path!r}")


@dataclass
class ChildRun:
    """One attempt of a sub-workflow task: create the child run, drive it to its end,
    return the parent's AttemptResult. `facts` (for the evidence) once it has a run."""

    store: ObjectStore
    clock: Clock
    parent_run: str
    task: str
    definition_oid: str
    definition: Definition
    parameters: dict
    outputs: TaskDefinition
    engine_version: str
    drive: Callable[[str], object]  # run id -> a RunScheduler for it
    cache: bool | None = None  # the parent's `cache` (off: the child's tasks run too)
    cancel: threading.Event = field(default_factory=threading.Event)
    facts: dict | None = None
    file_names: dict | None = None  # the names of its named file/dir params

    def __call__(self) -> AttemptResult:
        started = self.clock.now()
        run = create_run(self.store, self.clock, definition_oid=self.definition_oid,
                         definition=self.definition, parameters=self.parameters,
                         user=PARENT_ACTOR, engine_version=self.engine_version,
                         origin={"parent": {"run_id": self.parent_run, "task": self.task},
                                 **({} if self.cache is None else {"cache": self.cache}),
                                 **({"file_names": self.file_names} if self.file_names else {})},
                         queue=False)
        self.facts = {"run_id": run.run_id}
        scheduler = self.drive(run.run_id)
        killed = False
        try:
            if scheduler.initialize():
                while scheduler.loop():
                    if self.cancel.is_set() and not killed:
                        request_kill(self.store, self.clock, run.run_id, PARENT_ACTOR)
                        killed = True
        finally:
            scheduler.shutdown()
        ended = RunState.load(self.store, run.run_id)
        self.facts = {"run_id": run.run_id, "manifest": Link.obj(ended.manifest_oid)}
        return child_result(self.store, ended, self.outputs, started, self.clock.now())


def child_result(store: ObjectStore, child: RunState, task: TaskDefinition,
                 started: datetime, ended: datetime) -> AttemptResult:
    """The parent task's result: the child's state, and the declared outputs and vars
    taken from the child's tasks."""
    empty = StoredText(store.put_blob(b""), 0, "")
    state = {RunStatus.SUCCESS: AttemptStatus.SUCCESS,
             RunStatus.KILLED: AttemptStatus.KILLED}.get(child.state, AttemptStatus.FAILED)
    executor = {"kind": "subworkflow", "run_id": child.run_id}
    if state != AttemptStatus.SUCCESS:
        return AttemptResult(state=state, exit_code=None, stdout=empty, stderr=empty,
                             started_at=started, ended_at=ended, executor=executor,
                             error=f"child run {child.run_id} {child.state}")
    evidence: dict[str, TaskEvidence] = {}

    def of(name: str) -> TaskEvidence:
        if name not in evidence:
            evidence[name] = read(store, child.tasks[name].attempts[-1], TaskEvidence)
        return evidence[name]

    outputs, problem = [], None
    for path in task.outputs.files:
        name, _, inner = path.partition("/")
        found = child_output(store, of(name) if child.tasks[name].attempts else None, path, inner)
        if found is None:
            problem = problem or f"child task {name!r} produced no {inner!r}"
        else:
            outputs.append(found)
    values = {}
    for var in task.outputs.vars:
        name, _, key = var.partition(".")
        if child.tasks[name].attempts and key in of(name).vars:
            values[var] = of(name).vars[key]
        else:
            problem = problem or f"child task {name!r} wrote no var {key!r}"
    return AttemptResult(state=AttemptStatus.FAILED if problem else AttemptStatus.SUCCESS,
                         exit_code=None, stdout=empty, stderr=empty, started_at=started,
                         ended_at=ended, outputs=[] if problem else outputs,
                         vars={} if problem else values, executor=executor, error=problem)


def child_output(store: ObjectStore, ev: TaskEvidence | None, path: str,
                 inner: str) -> OutputFile | None:
    """The child's output `inner` of the task of `ev` (or a path inside one of its output
    directories) as the parent's output `path`."""
    if ev is None:
        return None
    for out in ev.outputs:
        if out["path"] == inner:
            return OutputFile(path, row_oid(out), out["size"], row_kind(out))
    for out in ev.outputs:
        if row_kind(out) == DIR and inner.startswith(out["path"] + "/"):
            try:
                entry = entry_at(store, row_oid(out), inner[len(out["path"]) + 1:])
            except PathNotInTree:
                return None
            return OutputFile(path, entry.oid, entry.size, DIR if entry.kind == DIR else FILE)
    return None


def child_definition(store: ObjectStore, task: TaskDefinition) -> tuple[str, Definition]:
    oid = task.workflow["hash"]
    return oid, read(store, oid, Definition)



class Children:
    """The child runs of one parent run's scheduler: starting one for a released
    sub-workflow task, and the evidence facts of one that ended."""

    def __init__(self, scheduler):
        self.scheduler = scheduler  # the parent's RunScheduler
        self.runs: dict[str, ChildRun] = {}

    def start(self, b, name: str, at: str) -> tuple | None:
        """Mark task `name` running and prepare its child run: (name, spec, cancel event,
        call) for the scheduler to submit, or None when it failed at once (its params
        did not fit the child once rendered, or its definition is not here)."""
        parent = self.scheduler
        run, task = parent.run, parent.task_def(name)
        attempt = len(run.tasks[name].attempts) + 1
        spec = child_spec(parent.run_id, name, attempt, task)
        run.audit(b, at=at, actor=parent.actor, event="task_state", old=run.tasks[name].state,
                  new=TaskStatus.RUNNING, task=name, reason=f"attempt {attempt}: child run "
                  f"of workflow {task.workflow['name']!r}")
        run.set_task(name, TaskStatus.RUNNING)
        try:  # a definition that arrived by sync may lack its children's definitions
            oid, child = child_definition(parent.store, task)
        except (KeyError, InvalidStoredObject):
            why = f"child definition {task.workflow['hash']} is not in this store"
            parent.record_result(b, name, spec, parent.unstartable(why), at)
            return None
        # a gathered folder is written to the store at once (not with the step's batch):
        # the child's params are checked against the store before the step commits
        produced, item = parent.sees(parent.store, name), parent.item_of(name)
        lookup = reference_lookup(parent.run_id, run.definition.params, run.record.parameters,
                                  produced, item)
        try:
            values = child_parameters(task, child, lookup, parent.store, produced, item)
        except EngineError as exc:
            parent.record_result(b, name, spec, parent.unstartable(f"child params: {exc}"), at)
            return None
        self.runs[name] = ChildRun(
            parent.store, parent.clock, parent.run_id, name, oid, child, values, task,
            run.record.engine_version, self.nested, cache=run.record.cache,
            file_names=child_file_names(task, child, run.record.file_names, item))
        return name, spec, self.runs[name].cancel, self.runs[name]

    def nested(self, run_id: str):
        parent = self.scheduler
        # the parent's actor: a child of a worker that died is recovered like its runs
        return type(parent)(parent.store, run_id, parent.executor, clock=parent.clock,
                            concurrency=parent.concurrency, actor=parent.actor, poll=parent.poll,
                            max_instances=parent.max_instances)

    def done(self, name: str) -> dict | None:
        """The `child` evidence facts of task `name`'s attempt (None if not a child's)."""
        child = self.runs.pop(name, None)
        return None if child is None else child.facts


def child_spec(run_id: str, name: str, attempt: int, task: TaskDefinition) -> TaskSpec:
    """What a sub-workflow task's evidence says it ran: no container, the child workflow."""
    return TaskSpec(run_id=run_id, task=name, attempt=attempt,
                    image=f"workflow:{task.workflow['name']}@{task.workflow['hash']}",
                    command=[], env={}, workdir=None, network=False, cpus=None, memory=None,
                    timeout=None, inputs=[], output_files=list(task.outputs.files),
                    output_vars=list(task.outputs.vars))
