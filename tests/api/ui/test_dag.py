"""The DAG layout (api/ui/dag.py): layers by longest path, edges from the definition."""

from __future__ import annotations

from tests.support_engine import task
from wfobj.api.ui import dag
from wfobj.engine.definitions.format import normalize
from wfobj.engine.definitions.graph import TaskGraph
from wfobj.engine.model import TaskDefinition


def definition(**tasks) -> dict[str, TaskDefinition]:
    return normalize({"tasks": tasks}, "wf").tasks


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


def test_boxes_are_wide_enough_for_the_state_line():
    tasks = definition(a=task(), b=task(after=["a"]))
    order = TaskGraph.of(tasks).order()
    layout = dag.layout(order, tasks, {"a": "success", "b": "success"}, frozenset({"a"}))
    line = layout.nodes[0].state_line
    assert line == "✓ success · cached" and layout.nodes[1].state_line == "✓ success"
    assert all(n.width >= len(line) * dag.CHAR_W for n in layout.nodes)


def test_a_lineage_with_a_cycle_is_still_drawn():
    """A task that writes back a byte-identical copy of its input makes a file → task → file
    cycle; the drawing keeps every node and drops only the edge that closes the cycle."""
    from wfobj.api.ui import lineage

    oid = "ab" * 32
    graph = {"nodes": [{"id": f"file:{oid}", "kind": "file", "hash": oid, "size": 3},
                       {"id": "task:r/copy", "kind": "task", "run_id": "r" * 36, "name": "copy",
                        "state": "success", "attempt": 1, "evidence_hash": "e",
                        "cached_from": None}],
             "edges": [{"from": f"file:{oid}", "to": "task:r/copy", "kind": "input",
                        "input": "src"},
                       {"from": "task:r/copy", "to": f"file:{oid}", "kind": "output",
                        "path": "same.txt"}]}
    pic = lineage.picture(graph, oid, "x.txt")
    assert {n.name for n in pic.layout.nodes} == {f"file:{oid}", "task:r/copy"}
    assert len(pic.layout.edges) == 1 and pic.focus == f"file:{oid}"
    assert next(n.label for n in pic.layout.nodes if n.name == pic.focus) == "x.txt"
    assert lineage.picture(None, oid) is None
