"""A file's lineage across runs as a picture: the engine's graph of files and task attempts
({"nodes", "edges"}, engine/indexes/lineage.py) laid out like a run's DAG (api/ui/dag.py) and drawn
by templates/_lineage.html."""

from __future__ import annotations

from dataclasses import dataclass

from . import dag
from .render import path_part


@dataclass(frozen=True)
class LineagePicture:
    layout: dag.DagLayout
    nodes: dict[str, dict]  # node id -> the engine's node, plus "href" and "caption"
    focus: str  # the node id of the file the page is about


def topological(ids: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Kahn's order of `ids`; nodes caught in a cycle (a task that wrote back a byte-identical
    input) come last, in their given order."""
    indegree = {n: 0 for n in ids}
    children: dict[str, list[str]] = {n: [] for n in ids}
    for a, b in edges:
        indegree[b] += 1
        children[a].append(b)
    ready = [n for n in ids if indegree[n] == 0]
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return order + [n for n in ids if n not in set(order)]


def file_labels(edges: list[dict]) -> dict[str, str]:
    """A file node's name: the path a task wrote it to, or the input it was mounted as."""
    labels: dict[str, str] = {}
    for e in edges:
        if e["kind"] == "output":
            labels.setdefault(e["to"], e["path"])
    for e in edges:
        if e["kind"] == "input":
            labels.setdefault(e["from"], e["input"])
    return labels


def describe(node: dict) -> dict:
    """The node with the link and the second line of text its box shows."""
    if node["kind"] == "file":
        return {**node, "href": f"/ui/files/{node['hash']}",
                "caption": f"file {node['hash'][:8]}"}
    # 13 characters: run ids are time-ordered, so runs made close together share 8
    return {**node, "href": f"/ui/runs/{node['run_id']}/tasks/{path_part(node['name'])}",
            "caption": f"run {node['run_id'][:13]}"}


def picture(graph: dict | None, oid: str, name: str | None = None) -> LineagePicture | None:
    """The drawing of a lineage graph around the file `oid` (labelled `name` if given);
    None for no graph or too big."""
    if graph is None:
        return None
    ids = [n["id"] for n in graph["nodes"]]
    pairs = list(dict.fromkeys((e["from"], e["to"]) for e in graph["edges"]))
    order = topological(ids, pairs)
    place = {n: i for i, n in enumerate(order)}
    forward = [(a, b) for a, b in pairs if place[a] < place[b]]
    nodes = {n["id"]: describe(n) for n in graph["nodes"]}
    labels = {**{n["id"]: n["name"] for n in graph["nodes"] if n["kind"] == "task"},
              **file_labels(graph["edges"]), **({f"file:{oid}": name} if name else {})}
    states = {nid: n.get("state", "file") for nid, n in nodes.items()}
    cached = frozenset(nid for nid, n in nodes.items() if n.get("cached_from"))
    drawn = dag.layout_graph(order, forward, states, cached,
                             {nid: labels.get(nid, nid.split(":", 1)[1][:12]) for nid in ids},
                             ["✓ " + n["caption"] for n in nodes.values()])
    return None if drawn is None else LineagePicture(drawn, nodes, f"file:{oid}")
