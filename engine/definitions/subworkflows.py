"""Sub-workflow tasks (docs/workflow-format.md "Sub-workflows"): a task `workflow: {name: N}`
or `{hash: H}` with `params: {…}` runs another registered workflow as a child run.

Written form → normalized (`normalize_subworkflow_task`, no store needed); then, at
registration, `resolve_subworkflows` pins each child's definition hash into the parent's
normalized definition (so the parent's hash pins the whole tree of definitions), and
refuses unknown workflows, params that do not fit, outputs the child does not declare,
and cycles (a workflow whose tree of children holds a workflow of its own name).
Outputs of a sub-workflow task are the child's: `outputs.files` as `TASK/PATH`,
`outputs.vars` as `TASK.VAR`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from wfobj.engine.errors import DefinitionError, excerpt
from wfobj.engine.model import Definition, TaskDefinition

from .fanout import paired
from .format import (
    declares_file,
    value_problem,
)
from .templates import REF_RE

MAX_TREE_DEPTH = 16  # nesting of sub-workflows below one workflow
MAX_TREE_DEFINITIONS = 1000  # distinct definitions in one tree

# the newest definition hash of a workflow name (None: unknown), and a definition by hash
NameLookup = Callable[[str], str | None]
DefinitionLookup = Callable[[str], Definition | None]


# ---- registration -----------------------------------------------------------------------
def resolve_subworkflows(definition: Definition, newest: NameLookup,
                         load: DefinitionLookup) -> Definition:
    """`definition` with each sub-workflow task's child pinned as {"name", "hash"}, every
    child checked (DefinitionError naming the task)."""
    tasks = dict(definition.tasks)
    for tname, task in definition.tasks.items():
        if task.workflow is None:
            continue
        place = f"tasks.{tname}.workflow"
        oid = task.workflow.get("hash") or newest(task.workflow["name"])
        child = load(oid) if oid else None
        if child is None:
            what = (f"workflow {excerpt(task.workflow['name'])}" if "name" in task.workflow
                    else f"definition {task.workflow['hash']}")
            raise DefinitionError(place, f"names an unknown {what}")
        check_fit(tname, task, child)
        check_passed_files(tname, task, child, definition.tasks)
        check_tree(definition.name, tname, child, load)
        tasks[tname] = replace(task, workflow={"name": child.name, "hash": oid})
    return replace(definition, tasks=tasks)


def check_fit(tname: str, task: TaskDefinition, child: Definition) -> None:
    """The params the task gives must be the child's and of their types, every required
    one given; its outputs must be outputs the child's tasks declare."""
    place = f"tasks.{tname}"
    for key, value in task.params.items():
        spec = child.params.get(key)
        if spec is None:
            raise DefinitionError(f"{place}.params.{key}", f"workflow {excerpt(child.name)} has no "
                                  f"param {excerpt(key)} (it has: {', '.join(sorted(child.params)) or 'none'})")
        if isinstance(value, dict) or (isinstance(value, str) and (
                REF_RE.search(value) or spec.type == "float")):
            continue  # a template (typed when the child run starts) or a float's text
        problem = value_problem(spec.type, value)
        if problem:
            raise DefinitionError(f"{place}.params.{key}", problem)
    missing = sorted(k for k, spec in child.params.items()
                     if spec.default is None and k not in task.params)
    if missing:
        raise DefinitionError(f"{place}.params", f"missing required param(s) of workflow "
                              f"{excerpt(child.name)}: {', '.join(missing)}")
    for i, path in enumerate(task.outputs.files):
        ctask, _, rest = path.partition("/")
        other = child.tasks.get(ctask)
        if other is None or not declares_file(other.outputs.files, rest):
            raise DefinitionError(f"{place}.outputs.files[{i}]", f"workflow {excerpt(child.name)} "
                                  f"has no task output {excerpt(path)}")
    for i, var in enumerate(task.outputs.vars):
        ctask, _, name = var.partition(".")
        other = child.tasks.get(ctask)
        if other is None or name not in other.outputs.vars:
            raise DefinitionError(f"{place}.outputs.vars[{i}]", f"workflow {excerpt(child.name)} "
                                  f"has no task var {excerpt(var)}")


def check_passed_files(tname: str, task: TaskDefinition, child: Definition,
                       tasks: dict[str, TaskDefinition]) -> None:
    """A param given as `{task: T, file: F}` names an output T declares (or a path under
    one), for a child param of type file or dir."""
    for key, value in task.params.items():
        if not isinstance(value, dict):
            continue
        place = f"tasks.{tname}.params.{key}"
        if "task" not in value:  # {item: true}: fan-out checked it holds files or folders
            if child.params[key].type not in ("file", "dir"):
                raise DefinitionError(place, f"an item passes only to a file or dir param; "
                                      f"{key!r} of workflow {excerpt(child.name)} is of type "
                                      f"{child.params[key].type}")
            continue
        other = tasks.get(value["task"])
        if other is None:
            raise DefinitionError(place, f"names an unknown task {excerpt(value['task'])}")
        if not declares_file(other.outputs.files, value["file"]):
            raise DefinitionError(place, f"task {excerpt(value['task'])} declares no output "
                                  f"{excerpt(value['file'])}")
        if child.params[key].type not in ("file", "dir"):
            raise DefinitionError(place, f"an output passes only to a file or dir param; "
                                  f"{key!r} of workflow {excerpt(child.name)} is of type "
                                  f"{child.params[key].type}")
        if (other.for_each is not None and not paired(task, other)
                and child.params[key].type != "dir"):
            raise DefinitionError(place, f"task {excerpt(value['task'])} is fanned out: this "
                                  "task passes the folder of its instances' files (KEY/PATH), "
                                  f"so {key!r} of workflow {excerpt(child.name)} must be of type "
                                  f"dir, not {child.params[key].type}")


def check_tree(name: str, tname: str, child: Definition, load: DefinitionLookup) -> None:
    """Refuse a child whose tree of sub-workflows holds workflow `name` (a cycle), is
    deeper than MAX_TREE_DEPTH or holds more than MAX_TREE_DEFINITIONS definitions."""
    place = f"tasks.{tname}.workflow"
    seen: set[str] = set()
    stack: list[tuple[Definition, list[str]]] = [(child, [name, child.name])]
    while stack:
        node, path = stack.pop()
        if node.name == name:
            raise DefinitionError(place, "workflow cycle: " + " -> ".join(path))
        if len(path) > MAX_TREE_DEPTH + 1:
            raise DefinitionError(place, f"sub-workflows nest deeper than {MAX_TREE_DEPTH} levels")
        for task in node.tasks.values():
            oid = (task.workflow or {}).get("hash")
            if oid is None or oid in seen:
                continue
            seen.add(oid)
            if len(seen) > MAX_TREE_DEFINITIONS:
                raise DefinitionError(place, f"more than {MAX_TREE_DEFINITIONS} sub-workflow definitions")
            grandchild = load(oid)
            if grandchild is not None:
                stack.append((grandchild, path + [grandchild.name]))
