"""Task templates: the {{…}} references in command items and env values, the size they
render to, and the dependencies they give a task (the task graph is built from these)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from wfobj.engine.model import TaskDefinition, TaskFileInput

from .conditions import condition_tasks

REF_RE = re.compile(r"\{\{(.*?)\}\}")


def references(task: TaskDefinition) -> Iterator[tuple[str, list[str]]]:
    """(place suffix, reference path parts) of every {{…}} in command items and env values."""
    for i, item in enumerate(task.command):
        for match in REF_RE.finditer(item):
            yield f"command[{i}]", match.group(1).strip().split(".")
    for key, value in task.env.items():
        for match in REF_RE.finditer(value):
            yield f"env.{key}", match.group(1).strip().split(".")
    for key, value in (task.params or {}).items():  # a sub-workflow task's params
        if isinstance(value, str):
            for match in REF_RE.finditer(value):
                yield f"params.{key}", match.group(1).strip().split(".")


Lookup = Callable[[list[str]], str | None]


def rendered_size(task: TaskDefinition, lookup: Lookup) -> int:
    """Bytes of a task's command items and env (NAME=value) once every {{…}} is replaced
    by `lookup(parts)`; a reference it cannot tell yet (None) counts as empty."""
    size = sum(_rendered_text_size(item, lookup) for item in task.command)
    for key, value in task.env.items():
        size += len(key.encode()) + 1 + _rendered_text_size(value, lookup)
    return size


def _rendered_text_size(text: str, lookup: Lookup) -> int:
    size = len(text.encode())
    if "{{" in text:
        for match in REF_RE.finditer(text):
            value = lookup(match.group(1).strip().split("."))
            size += len((value or "").encode()) - len(match.group(0).encode())
    return size


def dependencies(task: TaskDefinition) -> set[str]:
    """Tasks that must end before `task` starts: inputs, var references (in templates and
    in its `when`), `after`, and the task whose output a `for_each` fans out over."""
    return data_dependencies(task) | set(task.after)


def data_dependencies(task: TaskDefinition) -> set[str]:
    """The tasks whose outputs or vars `task` reads, or whose output it fans out over (so
    it cannot run when one of them did not succeed); `after` alone only orders."""
    deps = {spec.task for spec in task.inputs.values() if isinstance(spec, TaskFileInput)}
    deps.update(parts[1] for _, parts in references(task) if parts[0] == "tasks")
    deps.update(condition_tasks(task.when))
    deps.update(v["task"] for v in (task.params or {}).values()
                if isinstance(v, dict) and "task" in v)
    if task.for_each is not None and task.for_each.task is not None:
        deps.add(task.for_each.task)
    if task.cwl is not None:  # a CWL step reads the output objects of the steps it names
        deps.update(task.cwl["reads"])
    return deps
