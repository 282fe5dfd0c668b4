"""The file index across runs and its queries: who produced a blob or tree, who used it,
which run took it as a parameter, and the cross-run lineage graph (docs/cache.md).

Meta namespaces keyed so one prefix scan answers one question (cost grows with the answer,
not the store), newest first because run ids are UUIDv7 (time-ordered):
  file-out    <hash>/<run_id>/<task>/<attempt>/<path>  -> {"evidence", "size", "cached_from"}
  file-in     <hash>/<run_id>/<task>/<input>           -> {"evidence", "size"}
  file-param  <hash>/<run_id>/<param>                  -> ""
  file-tree   <entry hash>/<tree>/<name>               -> ""   (a tree holds the entry)
  tree-indexed <tree>                                  -> ""   (its file-tree entries exist)
`<hash>` is a blob's or a tree's. A file inside a tree is found through the trees that
hold it (file-tree, walked upwards), then those trees' entries in the other three. Each
tree object is indexed once, the first time an attempt or a run names it, and only its
entries not indexed before are written: the cost is one entry per new tree entry, the
same order as storing them. Written in the transaction that records the attempt (or
creates the run), rebuilt from a run's objects by engine/reindex.py (reindex, runs
arriving by sync).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from wfobj.engine.definitions.format import STORED_TYPES
from wfobj.engine.errors import UnknownFile
from wfobj.engine.layout import IN_NS, OUT_NS, PARAM_NS, TREE_DONE_NS, TREE_NS
from wfobj.engine.model import DIR, ParamDefinition, TaskEvidence, read, row_kind, row_oid
from wfobj.objstore import ObjectStore, WriteBatch, is_tree, read_tree

DEFAULT_DEPTH = 10
MAX_DEPTH = 100


def _json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# ---- writing --------------------------------------------------------------------------
def index_attempt(store: ObjectStore, b: WriteBatch, ev: TaskEvidence,
                  evidence_oid: str) -> None:
    """Index one attempt's outputs and inputs by blob or tree hash, and the entries of
    the trees among them."""
    run_id, task = ev.run_id, ev.task
    cached = ev.cached_from
    for out in ev.outputs:
        oid = row_oid(out)
        key = f"{oid}/{run_id}/{task}/{ev.attempt:06d}/{out['path']}"
        b.meta_put(OUT_NS, key, _json({"evidence": evidence_oid, "size": out["size"],
                                       "cached_from": cached.oid if cached else None}))
        if row_kind(out) == DIR:
            index_tree(store, b, oid)
    for inp in ev.inputs:
        oid = row_oid(inp)
        key = f"{oid}/{run_id}/{task}/{inp['name']}"
        b.meta_put(IN_NS, key, _json({"evidence": evidence_oid, "size": inp["size"]}))
        if row_kind(inp) == DIR:
            index_tree(store, b, oid)


def index_parameters(store: ObjectStore, b: WriteBatch, run_id: str,
                     params: dict[str, ParamDefinition], values: dict) -> None:
    """Index a run's `file` and `dir` parameters by hash (at trigger); gc keeps what
    this names (engine/upkeep/gc.py)."""
    for name, spec in params.items():
        if spec.type in STORED_TYPES and values.get(name) is not None:
            b.meta_put(PARAM_NS, f"{values[name]}/{run_id}/{name}", b"")
            if spec.type == DIR and values[name] in store:
                index_tree(store, b, values[name])


def index_tree(store: ObjectStore, b: WriteBatch, oid: str) -> int:
    """Index which tree holds each entry below the tree `oid`, skipping the subtrees
    indexed before (each has a `tree-indexed` mark); returns how many trees were read."""
    todo, seen, read_count = [oid], set(), 0
    while todo:
        tree = todo.pop()
        if tree in seen or store.meta_get(TREE_DONE_NS, tree) is not None:
            continue
        seen.add(tree)
        read_count += 1
        for entry in read_tree(store, tree).entries:
            b.meta_put(TREE_NS, f"{entry.oid}/{tree}/{entry.name}", b"")
            if entry.kind == DIR:
                todo.append(entry.oid)
        b.meta_put(TREE_DONE_NS, tree, b"")
    return read_count


# ---- reading --------------------------------------------------------------------------
def _scan(store: ObjectStore, ns: str, oid: str) -> Iterator[tuple[list[str], dict]]:
    prefix = oid + "/"
    for key, raw in store.meta_scan(ns, prefix, reverse=True):
        yield key[len(prefix):].split("/", 3), (json.loads(raw) if raw else {})


def holders(store: ObjectStore, oid: str) -> Iterator[tuple[str, str]]:
    """(tree, path inside it) of every indexed tree that holds `oid`, at any depth,
    nearest first: one prefix scan per tree on the way up."""
    frontier = [(oid, "")]
    while frontier:
        nxt = []
        for child, below in frontier:
            for key, _ in store.meta_scan(TREE_NS, child + "/"):
                tree, name = key[len(child) + 1:].split("/", 1)
                path = f"{name}/{below}" if below else name
                yield tree, path
                nxt.append((tree, path))
        frontier = nxt


def _places(store: ObjectStore, oid: str) -> Iterator[tuple[str, str | None]]:
    """(hash, path inside it) where `oid` is named: itself (no path), then every tree
    that holds it."""
    yield oid, None
    yield from holders(store, oid)


def _newest_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: r["run_id"], reverse=True)  # stable within a run


def _outputs_holding(store: ObjectStore, oid: str) -> Iterator[tuple[list[str], dict, str | None]]:
    """([run_id, task, attempt, full path], entry, tree) of every output that is `oid` or
    a tree holding it; the path reaches `oid` itself (`<output dir>/<path in tree>`)."""
    for where, inner in _places(store, oid):
        for (run_id, task, attempt, path), v in _scan(store, OUT_NS, where):
            full = path if inner is None else f"{path}/{inner}"
            yield [run_id, task, attempt, full], v, None if inner is None else where


def _inputs_holding(store: ObjectStore, oid: str) -> Iterator[tuple[list[str], dict, str | None, str | None]]:
    """([run_id, task, input], entry, tree, path in it) of every input that is `oid` or
    a tree holding it."""
    for where, inner in _places(store, oid):
        for parts, v in _scan(store, IN_NS, where):
            yield parts, v, None if inner is None else where, inner


def _in_tree(tree: str | None, **where: str | None) -> dict:
    """What an entry found through a tree adds: the tree (and the path inside it);
    entries for the hash itself keep their shape from before trees."""
    return {} if tree is None else {"tree": tree, **where}


def produced_by(store: ObjectStore, oid: str) -> list[dict]:
    """The attempts that wrote `oid`, as an output or inside an output directory (then
    with `tree`, that directory's tree; `path` is the file's full path under /out)."""
    return _newest_first([
        {"run_id": run_id, "task": task, "path": path, "attempt": int(attempt),
         "evidence_hash": v["evidence"], "cached_from": v["cached_from"], **_in_tree(tree)}
        for (run_id, task, attempt, path), v, tree in _outputs_holding(store, oid)])


def used_by(store: ObjectStore, oid: str) -> list[dict]:
    """The attempts that read `oid`, as an input or inside an input directory (then with
    `tree` and the `path` inside it)."""
    return _newest_first([
        {"run_id": run_id, "task": task, "input": name, "evidence_hash": v["evidence"],
         **_in_tree(tree, path=path)}
        for (run_id, task, name), v, tree, path in _inputs_holding(store, oid)])


def parameter_of(store: ObjectStore, oid: str) -> list[dict]:
    """The runs that took `oid` as a parameter, or a `dir` parameter holding it (then
    with `tree` and the `path` inside it)."""
    return _newest_first([
        {"run_id": run_id, "param": name,
         **_in_tree(None if inner is None else where, path=inner)}
        for where, inner in _places(store, oid)
        for (run_id, name), _ in _scan(store, PARAM_NS, where)])


def file_view(store: ObjectStore, oid: str) -> dict:
    """GET /api/files/{hash}: the blob's or tree's `kind` and size, and every run that
    made, used or passed it (or a tree holding it)."""
    out = {"hash": oid, "kind": "file", "size": None, "produced_by": produced_by(store, oid),
           "used_by": used_by(store, oid), "parameter_of": parameter_of(store, oid)}
    if oid in store:
        if is_tree(store, oid):
            out["kind"], out["size"] = DIR, read_tree(store, oid).size
        else:
            out["size"] = store.size_of(oid)
    elif not (out["produced_by"] or out["used_by"] or out["parameter_of"]):
        raise UnknownFile(oid)
    return out


@dataclass
class Graph:
    """Nodes and edges in the shapes of a run's lineage, gathered breadth-first."""

    nodes: dict[str, dict] = field(default_factory=dict)
    edges: list[dict] = field(default_factory=list)
    expanded: set[str] = field(default_factory=set)  # files whose tasks were followed

    def file(self, oid: str, size: int | None, is_dir: bool = False) -> str:
        """A file node (a tree's has `dir` true)."""
        nid = f"file:{oid}"
        self.nodes.setdefault(nid, {"id": nid, "kind": "file", "hash": oid, "size": size,
                                    "dir": is_dir})
        return nid

    def task(self, ev: TaskEvidence, evidence_oid: str) -> tuple[str, bool]:
        """The task node id and whether it is new."""
        nid = f"task:{ev.run_id}/{ev.task}"
        if nid in self.nodes:
            return nid, False
        cached = ev.cached_from
        self.nodes[nid] = {"id": nid, "kind": "task", "run_id": ev.run_id, "name": ev.task,
                           "state": ev.state, "attempt": ev.attempt,
                           "evidence_hash": evidence_oid,
                           "cached_from": cached.oid if cached else None}
        return nid, True

    def view(self) -> dict:
        return {"nodes": list(self.nodes.values()), "edges": self.edges}


def file_lineage(store: ObjectStore, oid: str, direction: str = "up",
                 depth: int = DEFAULT_DEPTH) -> dict:
    """GET /api/files/{hash}/lineage: `up` what the file was made from, `down` what was
    made from it, across runs; `depth` counts tasks."""
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be up or down, not {direction!r}")
    view = file_view(store, oid)  # UnknownFile for a hash nobody knows
    graph = Graph()
    graph.file(oid, view["size"], view["kind"] == DIR)
    frontier = [oid]
    for _ in range(depth):
        frontier = _step_up(store, graph, frontier) if direction == "up" else \
            _step_down(store, graph, frontier)
        if not frontier:
            break
    return graph.view()


def _step_up(store: ObjectStore, graph: Graph, files: list[str]) -> list[str]:
    """Producers of `files` (or of a directory holding one) and the inputs of those
    producers (the next frontier)."""
    nxt = []
    for oid in files:
        for (_run_id, _task, _attempt, path), v, _tree in _outputs_holding(store, oid):
            ev = read(store, v["evidence"], TaskEvidence)
            nid, new = graph.task(ev, v["evidence"])
            graph.edges.append({"from": nid, "to": f"file:{oid}", "kind": "output", "path": path})
            if not new:
                continue
            for inp in ev.inputs:
                fid = graph.file(row_oid(inp), inp["size"], row_kind(inp) == DIR)
                graph.edges.append({"from": fid, "to": nid, "kind": "input",
                                    "input": inp["name"]})
                nxt.append(row_oid(inp))
    return _unvisited(graph, nxt, files)


def _step_down(store: ObjectStore, graph: Graph, files: list[str]) -> list[str]:
    """Users of `files` (or of a directory holding one) and what those users produced
    (the next frontier)."""
    nxt = []
    for oid in files:
        for (_run_id, _task, name), v, _tree, path in _inputs_holding(store, oid):
            ev = read(store, v["evidence"], TaskEvidence)
            nid, new = graph.task(ev, v["evidence"])
            edge = {"from": f"file:{oid}", "to": nid, "kind": "input", "input": name}
            graph.edges.append(edge if path is None else {**edge, "input": f"{name}/{path}"})
            if not new:
                continue
            for out in ev.outputs:
                fid = graph.file(row_oid(out), out["size"], row_kind(out) == DIR)
                graph.edges.append({"from": nid, "to": fid, "kind": "output", "path": out["path"]})
                nxt.append(row_oid(out))
    return _unvisited(graph, nxt, files)


def _unvisited(graph: Graph, nxt: list[str], done: list[str]) -> list[str]:
    """The files of `nxt` not followed yet, once each; marks `done` as followed."""
    graph.expanded.update(done)
    return [oid for oid in dict.fromkeys(nxt) if oid not in graph.expanded]
