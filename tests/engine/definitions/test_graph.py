"""The task graph: order (dependencies first, ties by name), cycles named in the error,
edge queries, and the scheduler's ready-set stepping."""

from __future__ import annotations

import random

import pytest

from wfobj.engine.definitions.graph import TaskGraph
from wfobj.engine.errors import DefinitionError
from wfobj.engine.model import TaskDefinition, TaskFileInput


def graph(**needs: str) -> TaskGraph:
    return TaskGraph({name: deps.split() for name, deps in needs.items()})


def test_order_puts_needs_first_and_breaks_ties_by_name():
    g = graph(d="b c", c="a", b="a", a="", e="")
    assert g.order() == ["a", "b", "c", "d", "e"]
    g = graph(z="", y="z", x="")
    assert g.order() == ["x", "z", "y"]


def test_order_is_the_smallest_valid_order_on_random_graphs():
    rng = random.Random(7)
    for _ in range(50):
        names = [f"t{i:02d}" for i in range(rng.randint(1, 25))]
        rng.shuffle(names)
        needs = {n: [m for m in names[:i] if rng.random() < 0.2] for i, n in enumerate(names)}
        order = TaskGraph(needs).order()
        assert sorted(order) == sorted(names)
        done: set[str] = set()
        for name in order:
            available = [n for n in names if n not in done and set(needs[n]) <= done]
            assert name == min(available)
            done.add(name)


@pytest.mark.parametrize(("needs", "cycle"), [
    ({"a": "b", "b": "c", "c": "a"}, "a -> b -> c -> a"),
    ({"x": "", "b": "a", "a": "b"}, "b -> a -> b"),
    ({"solo": "solo"}, "solo -> solo"),
])
def test_a_cycle_is_named_in_the_error(needs, cycle):
    g = TaskGraph({n: d.split() for n, d in needs.items()})
    with pytest.raises(DefinitionError) as info:
        g.check_acyclic()
    assert info.value.place == "tasks"
    assert str(info.value) == f"tasks: dependency cycle: {cycle}"
    with pytest.raises(DefinitionError):
        g.order()


def test_graph_of_a_definition_counts_inputs_references_and_after():
    tasks = {
        "fetch": TaskDefinition(image="i", command=["true"]),
        "split": TaskDefinition(image="i", command=["cat", "/in/raw"],
                                inputs={"raw": TaskFileInput(task="fetch", file="x")}),
        "count": TaskDefinition(image="i", command=["echo", "{{tasks.split.vars.n}}"],
                                after=["fetch"]),
    }
    g = TaskGraph.of(tasks)
    assert g.upstream("count") == ["fetch", "split"]
    assert g.downstream("fetch") == ["count", "split"]
    assert g.edges() == [("fetch", "count"), ("split", "count"), ("fetch", "split")]
    assert g.order() == ["fetch", "split", "count"]


def test_stepping_releases_a_task_once_all_its_needs_are_done():
    g = graph(a="", b="", c="a b", d="c")
    steps = g.sorter(g.order())
    assert list(steps.get_ready()) == ["a", "b"]
    steps.done("a")
    assert list(steps.get_ready()) == []
    steps.done("b")
    assert list(steps.get_ready()) == ["c"]
    steps.done("c")
    assert list(steps.get_ready()) == ["d"]
