"""Turning a definition's task into the TaskSpec of one attempt: substitution and inputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from wfobj.engine.access.secrets import secret_store_of
from wfobj.engine.bounds import MAX_RENDERED_BYTES
from wfobj.engine.definitions.fanout import base_task
from wfobj.engine.definitions.format import render_value
from wfobj.engine.definitions.templates import REF_RE, rendered_size
from wfobj.engine.errors import (
    InputUnavailable,
    RenderedTooLarge,
    SecretStoreUnusable,
    SecretUnavailable,
)
from wfobj.engine.executors.base import AttemptResult, InputFile, SecretUse, TaskSpec
from wfobj.engine.executors.secret_values import REMOVED
from wfobj.engine.model import (
    DIR,
    FILE,
    Definition,
    ItemInput,
    ParamDefinition,
    ParamInput,
    TaskDefinition,
    TaskInput,
)
from wfobj.objstore import ObjectStore, read_tree

from .fanout import Item, Produced, find_output

# what each upstream task produced, by name, as the task being rendered sees it
Results = Mapping[str, AttemptResult | Produced]

# a run id's length, for sizes computed at trigger, before the run has its id
UNKNOWN_RUN_ID = "00000000-0000-7000-8000-000000000000"


def reference_lookup(run_id: str, params: dict[str, ParamDefinition], values: dict,
                     results: Results, item: Item | None = None) -> Callable[[list[str]], str | None]:
    """What each {{…}} reference (split on dots) stands for; None for the var of a task
    that has not succeeded yet, and for {{item}} before there is an item."""
    def lookup(parts: list[str]) -> str | None:
        if parts[0] == "item":
            return None if item is None else item.key if len(parts) == 2 else item.text
        if parts[0] == "params":
            return param_text(params[parts[1]].type, values[parts[1]])
        if parts[0] == "tasks":
            result = results.get(parts[1])
            return None if result is None else result.vars.get(".".join(parts[3:]))
        return run_id

    return lookup


def substitute(text: str, lookup: Callable[[list[str]], str | None]) -> str:
    """Replace every {{params.X}}, {{tasks.T.vars.V}} and {{run.id}} in `text`."""
    if "{{" not in text:
        return text
    return REF_RE.sub(lambda match: lookup(match.group(1).strip().split(".")) or "", text)


def check_rendered_size(name: str, task: TaskDefinition, lookup: Callable[[list[str]], str | None]) -> None:
    """RenderedTooLarge if the task's command and env would pass MAX_RENDERED_BYTES."""
    size = rendered_size(task, lookup)
    if size > MAX_RENDERED_BYTES:
        raise RenderedTooLarge(name, size, MAX_RENDERED_BYTES)


def check_rendered_sizes(definition: Definition, values: dict) -> None:
    """At trigger: refuse parameters that make any task's command and env pass
    MAX_RENDERED_BYTES (upstream vars, not known yet, count as empty)."""
    lookup = reference_lookup(UNKNOWN_RUN_ID, definition.params, values, {})
    for name, task in definition.tasks.items():
        check_rendered_size(name, task, lookup)


def param_text(ptype: str, value) -> str:
    if ptype == "bool":
        return "true" if value else "false"
    return str(render_value(ptype, value)) if ptype != "float" else value


def number(value) -> float | None:
    return None if value is None else float(value)


def build_spec(store: ObjectStore, run_id: str, name: str, attempt: int,
               definition: Definition, values: dict,
               results: Results, item: Item | None = None) -> tuple[TaskSpec, str | None]:
    """The spec of one attempt of task or instance `name`, and why it cannot start (an
    upstream file missing, a rendered command over the limit) or None. `results` holds
    what each task it needs produced, as this task sees it (for an instance, the paired
    instance of a fanned-out task; for a gather, the gathered directory)."""
    task = definition.tasks[base_task(name)]
    lookup = reference_lookup(run_id, definition.params, values, results, item)
    inputs, problem = [], None
    try:
        check_rendered_size(name, task, lookup)
    except RenderedTooLarge as exc:  # the attempt fails unstarted; record the templates
        problem, lookup = str(exc), None

    def sub(text: str) -> str:
        return text if lookup is None else substitute(text, lookup)

    uses: tuple[SecretUse, ...] = ()
    try:
        uses = secret_uses(store, task)
    except SecretUnavailable as exc:
        problem = problem or str(exc)
    for iname, ispec in task.inputs.items():
        try:
            inputs.append(input_file(store, iname, ispec, definition.params, values, results,
                                     item))
        except InputUnavailable as exc:
            problem = problem or str(exc)
    spec = TaskSpec(
        run_id=run_id, task=name, attempt=attempt, image=task.image,
        command=[sub(item) for item in task.command],
        env={k: sub(v) for k, v in task.env.items()},
        workdir=task.workdir, network=task.network,
        cpus=number(task.resources.cpus), memory=task.resources.memory,
        timeout=number(task.timeout),
        inputs=inputs,
        output_files=list(task.outputs.files), output_vars=list(task.outputs.vars),
        pids=task.resources.pids,
        pull=task.pull,
        secrets=uses,
    )
    return spec, problem


def secret_uses(store: ObjectStore, task: TaskDefinition) -> tuple[SecretUse, ...]:
    """The task's secrets, each with the fingerprint of its value now (the value itself is
    read only by the executor); SecretUnavailable when one is gone."""
    if not task.secrets:
        return ()
    first = next(iter(task.secrets.values()))["secret"]
    secrets = secret_store_of(store)
    if secrets is None:
        raise SecretUnavailable(first, "this store keeps no secrets (it has no folder)")
    try:
        kept = {info.name: info.fingerprint for info in secrets.list()}  # one read
    except SecretStoreUnusable as exc:
        raise SecretUnavailable(first, f"the secret store cannot be read ({exc})") from None
    uses = []
    for place, spec in sorted(task.secrets.items()):
        if spec["secret"] not in kept:
            raise SecretUnavailable(spec["secret"], REMOVED)
        uses.append(SecretUse(spec["secret"], place, kept[spec["secret"]]))
    return tuple(uses)


def input_file(store: ObjectStore, name: str, spec: TaskInput,
               params: dict[str, ParamDefinition], values: dict,
               results: Results, item: Item | None = None) -> InputFile:
    """What input `name` mounts: a param's blob or tree, the instance's item, or an
    upstream output (a file, a directory, or a file or folder inside an output directory)."""
    if isinstance(spec, ItemInput):
        if item is None or item.entry is None:
            raise InputUnavailable(f"input {name!r}: the item is not a file or directory")
        return InputFile(name, item.entry.oid, item.entry.size,
                         DIR if item.entry.kind == DIR else FILE)
    if isinstance(spec, ParamInput):
        oid = values[spec.param]
        if params[spec.param].type == DIR:
            return InputFile(name, oid, read_tree(store, oid).size, DIR)
        return InputFile(name, oid, store.size_of(oid))
    entry = find_output(store, results[spec.task], spec.file)
    if entry is not None:
        return InputFile(name, entry.oid, entry.size, DIR if entry.kind == DIR else FILE)
    raise InputUnavailable(f"input {name!r}: task {spec.task!r} produced no file {spec.file!r}")
