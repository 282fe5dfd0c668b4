"""Which task kind (engine/scheduling/kinds.py) a task has: the one table to add a kind to."""

from __future__ import annotations

from wfobj.engine.model import TaskDefinition

from .cwl_steps import CWL_STEPS
from .kinds import TaskKind


def kind_of(task: TaskDefinition) -> TaskKind | None:
    """The kind of `task`, or None for a plain task."""
    if task.cwl is not None:
        return CWL_STEPS
    return None
