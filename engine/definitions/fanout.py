"""Fan-out in a definition (docs/workflow-format.md, "Fan-out"): which collection a task's
`for_each` names, the rules tying it to the task's inputs and references, and the names
its instances get (`TASK[KEY]`).

Checked at registration, with the whole task table at hand: a collection that is not one
(a `string` param, an output that is not declared), an item input where the items are not
files, the vars of a fanned-out task read by a task not paired with it. What can only be
known at run time (the entries of a directory a task produced, the JSON of a var, the
number of items against the server's bound) is checked by the scheduler
(engine/scheduling/fanout.py) and fails the task with a message naming it.
"""

from __future__ import annotations

import re

from wfobj.engine.definitions.conditions import condition_tasks
from wfobj.engine.definitions.templates import references
from wfobj.engine.errors import DefinitionError, excerpt
from wfobj.engine.model import ForEach, ItemInput, ParamDefinition, TaskDefinition, TaskFileInput

# the written forms of `for_each`, as sets of keys
FOR_EACH_FORMS = ({"param"}, {"task", "file"}, {"task", "var"})
# an instance's KEY: an entry name or a list index; what may sit between the brackets of
# TASK[KEY] and name a folder of /in/<input>/<KEY>/ (no /, no spaces, not . or ..)
KEY_RE = re.compile(r"^[A-Za-z0-9_+=,@%-][A-Za-z0-9_.+=,@%-]{0,254}$")
COLLECTION_PARAM_TYPES = ("dir", "list")


def instance_name(task: str, key: str) -> str:
    return f"{task}[{key}]"


def base_task(name: str) -> str:
    """The task an instance name `TASK[KEY]` belongs to (a task name is itself)."""
    return name.split("[", 1)[0]


def instance_key(name: str) -> str | None:
    """KEY of `TASK[KEY]`; None for a task name."""
    if not name.endswith("]") or "[" not in name:
        return None
    return name.split("[", 1)[1][:-1]


def key_problem(key: str) -> str | None:
    """Why `key` cannot name an instance, or None."""
    if KEY_RE.match(key):
        return None
    return (f"{excerpt(key)} cannot name an instance: use letters, digits and _.+=,@%- "
            "(at most 255, not starting with a dot)")


def declares_file(declared: list[str], path: str) -> bool:
    """`path` is a declared output or lies inside one."""
    return any(path == d or path.startswith(d + "/") for d in declared)


def paired(task: TaskDefinition, other: TaskDefinition) -> bool:
    """Both fan out over the same collection: instance KEY of one reads instance KEY of
    the other (any other reader of a fanned-out task's file gathers every instance)."""
    return task.for_each is not None and task.for_each == other.for_each


def check_fanout(tname: str, task: TaskDefinition, tasks: dict[str, TaskDefinition],
                 params: dict[str, ParamDefinition]) -> None:
    """DefinitionError naming the place when `task`'s fan-out does not fit the rest."""
    place = f"tasks.{tname}"
    item_places = item_uses(task)
    if task.for_each is None:
        if task.parallelism is not None:
            what = "child runs" if task.workflow is not None else "instances"
            raise DefinitionError(f"{place}.parallelism", f"needs for_each: it caps how many "
                                  f"{what} of a fanned-out task run at once")
        if item_places:
            raise DefinitionError(f"{place}.{item_places[0]}", "{item: true} needs "
                                  "for_each: only an instance has an item")
    else:
        files = check_collection(place, tname, task.for_each, tasks, params)
        if item_places and not files:
            what = "passes" if task.workflow is not None else "mounts"
            raise DefinitionError(f"{place}.{item_places[0]}", f"{{item: true}} {what} "
                                  f"a directory's entry; the items of {task.for_each.describe()} "
                                  "are values, not files (use {{item}})")
    check_fanned_vars(place, task, tasks)
    check_fanned_params(place, task, tasks)


def item_uses(task: TaskDefinition) -> list[str]:
    """Where `task` takes its instance's item as a file or folder: inputs `{item: true}`
    and, on a sub-workflow task, params `{item: true}` (place suffixes)."""
    places = [f"inputs.{n}" for n, spec in task.inputs.items() if isinstance(spec, ItemInput)]
    places += [f"params.{k}" for k, v in (task.params or {}).items()
               if isinstance(v, dict) and v.get("item") is True]
    return places


def check_file_pairing(place: str, task: TaskDefinition, source: str,
                       tasks: dict[str, TaskDefinition]) -> None:
    """Two fanned-out tasks pass files only when paired (fanned out over the same
    collection: the same KEY's file); a task without for_each takes the gathered folder."""
    other = tasks.get(source)
    if (other is not None and other.for_each is not None and task.for_each is not None
            and not paired(task, other)):
        raise DefinitionError(place, f"task {excerpt(source)} is fanned out over "
                              f"{other.for_each.describe()}, this task over "
                              f"{task.for_each.describe()}: a fanned-out task reads another's "
                              "files only over the same collection (or gather them in a task "
                              "without for_each)")


def check_fanned_params(place: str, task: TaskDefinition, tasks: dict[str, TaskDefinition]) -> None:
    """A fanned-out sub-workflow task passing a file of another fanned-out task must be
    paired with it (the same KEY's file); without for_each it passes the gathered folder."""
    for key, value in (task.params or {}).items():
        if not isinstance(value, dict) or "task" not in value:
            continue
        check_file_pairing(f"{place}.params.{key}", task, value["task"], tasks)


def check_collection(place: str, tname: str, each: ForEach, tasks: dict[str, TaskDefinition],
                     params: dict[str, ParamDefinition]) -> bool:
    """Check the collection `each` names; True when its items are files or folders."""
    where = f"{place}.for_each"
    if each.param is not None:
        param = params.get(each.param)
        if param is None:
            raise DefinitionError(where, f"names an unknown param {excerpt(each.param)}")
        if param.type not in COLLECTION_PARAM_TYPES:
            raise DefinitionError(where, f"param {excerpt(each.param)} is of type {param.type}, "
                                  "not a collection (dir or list)")
        return param.type == "dir"
    other = tasks.get(each.task)
    if other is None or each.task == tname:
        what = "itself" if each.task == tname else f"an unknown task {excerpt(each.task)}"
        raise DefinitionError(where, f"names {what}")
    if other.for_each is not None:
        raise DefinitionError(where, f"task {excerpt(each.task)} is itself fanned out: fan out "
                              "over its collection (pairing) or gather it in a task first")
    if each.file is not None:
        if not declares_file(other.outputs.files, each.file):
            raise DefinitionError(where, f"task {excerpt(each.task)} declares no output "
                                  f"{excerpt(each.file)}")
        return True
    if each.var not in other.outputs.vars:
        raise DefinitionError(where, f"task {excerpt(each.task)} declares no var {excerpt(each.var)}")
    return False


def check_fanned_vars(place: str, task: TaskDefinition, tasks: dict[str, TaskDefinition]) -> None:
    """A var of a fanned-out task has one value per instance: only a task paired with it
    (fanned out over the same collection) can read it."""
    for where, parts in references(task):
        if parts[0] == "tasks" and len(parts) == 4:
            other = tasks.get(parts[1])
            if other is not None and other.for_each is not None and not paired(task, other):
                raise DefinitionError(f"{place}.{where}", f"task {excerpt(parts[1])} is fanned out "
                                      f"over {other.for_each.describe()}: only a task fanned out "
                                      "over the same collection can read its vars")
    for dep in sorted(condition_tasks(task.when)):
        other = tasks.get(dep)
        if other is not None and other.for_each is not None:
            raise DefinitionError(f"{place}.when", f"task {excerpt(dep)} is fanned out over "
                                  f"{other.for_each.describe()}: a condition cannot read the vars "
                                  "of its instances (gather them in a task and read that one's)")
    for iname, spec in task.inputs.items():
        if isinstance(spec, TaskFileInput):
            check_file_pairing(f"{place}.inputs.{iname}", task, spec.task, tasks)
