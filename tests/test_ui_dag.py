"""The DAG layout (api/ui/dag.py): layers by longest path, edges from the definition."""

from __future__ import annotations

from api.ui import dag
from engine.definition import normalize
from engine.taskgraph import TaskGraph

from .support_engine import task


def definition(**tasks) -> dict:
    return normalize({"tasks": tasks}, "wf")["tasks"]


def test_layers_are_longest_paths_and_edges_come_from_the_definition():
    tasks = definition(a=task(), b=task(after=["a"], outputs={"vars": ["v"]}),
                       c=task(after=["a", "b"]), d=task(command="echo {{tasks.b.vars.v}}"),
                       e=task())
    order = TaskGraph.of(tasks).order()
    layout = dag.layout(order, tasks, {n: "success" for n in order})
    y = {n.name: n.y for n in layout.nodes}
    assert y["a"] == y["e"] < y["b"] < y["c"] == y["d"]  # c waits on b, one past it
    assert sorted((e.source, e.target) for e in layout.edges) == [
        ("a", "b"), ("a", "c"), ("b", "c"), ("b", "d")]
    assert layout.layers == 3


def test_nodes_do_not_overlap_and_fit_the_canvas():
    tasks = definition(**{f"t{i}": task() for i in range(6)},
                       sink=task(after=[f"t{i}" for i in range(6)]))
    order = TaskGraph.of(tasks).order()
    layout = dag.layout(order, tasks, {})
    boxes = [(n.x, n.x + n.width, n.y) for n in layout.nodes]
    for i, (x0, x1, y0) in enumerate(boxes):
        assert 0 <= x0 and x1 <= layout.width and y0 + dag.NODE_H <= layout.height
        for a0, a1, b in boxes[i + 1:]:
            assert b != y0 or x1 <= a0 or a1 <= x0
    assert {n.state for n in layout.nodes} == {"pending"}


def test_barycentre_ordering_uncrosses_two_chains():
    tasks = definition(a=task(), b=task(), x=task(after=["b"]), y=task(after=["a"]))
    order = TaskGraph.of(tasks).order()
    layout = dag.layout(order, tasks, {})
    x = {n.name: n.x for n in layout.nodes}
    assert (x["a"] < x["b"]) == (x["y"] < x["x"])


def test_long_names_are_cut_and_huge_graphs_not_drawn():
    long = "n" * 60
    tasks = definition(**{long: task()})
    node = dag.layout([long], tasks, {}).nodes[0]
    assert node.label.endswith("…") and len(node.label) == dag.MAX_LABEL
    many = definition(**{f"t{i}": task() for i in range(dag.MAX_DRAWN + 1)})
    assert dag.layout(TaskGraph.of(many).order(), many, {}) is None
