"""The task graph of a definition, built once on the standard library's `graphlib`: who
needs whom, cycle detection (the cycle named), the topological order runs store their
task table in, the ready-set stepping the scheduler uses, and edge queries for views."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter

from wfobj.engine.definitions.templates import dependencies
from wfobj.engine.errors import DefinitionError
from wfobj.engine.model import TaskDefinition


class TaskGraph:
    """Tasks and the tasks each needs (inputs, `{{tasks.…}}` references, `after`)."""

    def __init__(self, needs: Mapping[str, Iterable[str]]):
        self.needs: dict[str, frozenset[str]] = {n: frozenset(d) for n, d in needs.items()}

    @classmethod
    def of(cls, tasks: Mapping[str, TaskDefinition]) -> TaskGraph:
        """The graph of a definition's `tasks` mapping."""
        return cls({name: dependencies(task) for name, task in tasks.items()})

    def sorter(self, order: Iterable[str] | None = None) -> TopologicalSorter:
        """A prepared `TopologicalSorter`; with `order` (topological), `get_ready()` hands
        out tasks in that order. Raises DefinitionError naming a cycle."""
        names = self.needs if order is None else order
        sorter: TopologicalSorter = TopologicalSorter()
        for name in names:
            sorter.add(name, *sorted(self.needs[name]))
        try:
            sorter.prepare()
        except CycleError as exc:
            raise DefinitionError(
                "tasks", "dependency cycle: " + self.cycle_text(exc.args[1])) from None
        return sorter

    def cycle_text(self, cycle: list[str]) -> str:
        """`a -> b -> a` (a needs b), starting at the cycle's first task in graph order."""
        path = list(reversed(cycle[1:]))  # graphlib lists it from needed to needing
        position = {name: i for i, name in enumerate(self.needs)}
        start = min(range(len(path)), key=lambda i: position.get(path[i], len(position)))
        path = path[start:] + path[:start]
        return " -> ".join(path + [path[0]])

    def check_acyclic(self) -> None:
        self.sorter()

    def order(self) -> list[str]:
        """Task names, dependencies first, ties in name order (deterministic: a run's
        task table is stored in this order)."""
        sorter = self.sorter()
        ready = list(sorter.get_ready())
        heapq.heapify(ready)
        order = []
        while ready:
            name = heapq.heappop(ready)
            order.append(name)
            sorter.done(name)
            for child in sorter.get_ready():
                heapq.heappush(ready, child)
        return order

    def upstream(self, name: str) -> list[str]:
        """The tasks `name` needs directly, in name order."""
        return sorted(self.needs[name])

    def downstream(self, name: str) -> list[str]:
        """The tasks that need `name` directly, in name order."""
        return sorted(n for n, needs in self.needs.items() if name in needs)

    def edges(self) -> list[tuple[str, str]]:
        """(needed, needing) pairs in a stable order."""
        return [(dep, name) for name in sorted(self.needs) for dep in self.upstream(name)]

