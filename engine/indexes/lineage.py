"""The file index across runs and its queries: who produced a blob, who used it, which
run took it as a parameter, and the cross-run lineage graph (docs/cache.md).

Three meta namespaces, keyed so one prefix scan answers one question (cost grows with the
answer, not the store), newest first because run ids are UUIDv7 (time-ordered):
  file-out    <hash>/<run_id>/<task>/<attempt>/<path>  -> {"evidence", "size", "cached_from"}
  file-in     <hash>/<run_id>/<task>/<input>           -> {"evidence", "size"}
  file-param  <hash>/<run_id>/<param>                  -> ""
Written in the transaction that records the attempt (or creates the run), rebuilt from a
run's objects by engine/upkeep/reindex.py (reindex, runs arriving by sync).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from wfobj.engine.errors import UnknownFile
from wfobj.engine.layout import IN_NS, OUT_NS, PARAM_NS
from wfobj.engine.model import ParamDefinition, TaskEvidence, read
from wfobj.objstore import ObjectStore, WriteBatch

DEFAULT_DEPTH = 10
MAX_DEPTH = 100


def _json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# ---- writing --------------------------------------------------------------------------
def index_attempt(b: WriteBatch, ev: TaskEvidence, evidence_oid: str) -> None:
    """Index one attempt's outputs and inputs by blob hash."""
    run_id, task = ev.run_id, ev.task
    cached = ev.cached_from
    for out in ev.outputs:
        key = f"{out['blob'].oid}/{run_id}/{task}/{ev.attempt:06d}/{out['path']}"
        b.meta_put(OUT_NS, key, _json({"evidence": evidence_oid, "size": out["size"],
                                       "cached_from": cached.oid if cached else None}))
    for inp in ev.inputs:
        key = f"{inp['blob'].oid}/{run_id}/{task}/{inp['name']}"
        b.meta_put(IN_NS, key, _json({"evidence": evidence_oid, "size": inp["size"]}))


def index_parameters(b: WriteBatch, run_id: str, params: dict[str, ParamDefinition],
                     values: dict) -> None:
    """Index a run's `file` parameters by hash (at trigger)."""
    for name, spec in params.items():
        if spec.type == "file" and values.get(name) is not None:
            b.meta_put(PARAM_NS, f"{values[name]}/{run_id}/{name}", b"")


# ---- reading --------------------------------------------------------------------------
def _scan(store: ObjectStore, ns: str, oid: str) -> Iterator[tuple[list[str], dict]]:
    prefix = oid + "/"
    for key, raw in store.meta_scan(ns, prefix, reverse=True):
        yield key[len(prefix):].split("/", 3), (json.loads(raw) if raw else {})


def produced_by(store: ObjectStore, oid: str) -> list[dict]:
    return [{"run_id": run_id, "task": task, "path": path, "attempt": int(attempt),
             "evidence_hash": v["evidence"], "cached_from": v["cached_from"]}
            for (run_id, task, attempt, path), v in _scan(store, OUT_NS, oid)]


def used_by(store: ObjectStore, oid: str) -> list[dict]:
    return [{"run_id": run_id, "task": task, "input": name, "evidence_hash": v["evidence"]}
            for (run_id, task, name), v in _scan(store, IN_NS, oid)]


def parameter_of(store: ObjectStore, oid: str) -> list[dict]:
    return [{"run_id": run_id, "param": name} for (run_id, name), _ in _scan(store, PARAM_NS, oid)]


def file_view(store: ObjectStore, oid: str) -> dict:
    """GET /api/files/{hash}: the blob's size and every run that made, used or passed it."""
    out = {"hash": oid, "size": None, "produced_by": produced_by(store, oid),
           "used_by": used_by(store, oid), "parameter_of": parameter_of(store, oid)}
    if oid in store:
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

    def file(self, oid: str, size: int | None) -> str:
        nid = f"file:{oid}"
        self.nodes.setdefault(nid, {"id": nid, "kind": "file", "hash": oid, "size": size})
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
    graph.file(oid, view["size"])
    frontier = [oid]
    for _ in range(depth):
        frontier = _step_up(store, graph, frontier) if direction == "up" else \
            _step_down(store, graph, frontier)
        if not frontier:
            break
    return graph.view()


def _step_up(store: ObjectStore, graph: Graph, files: list[str]) -> list[str]:
    """Producers of `files` and the inputs of those producers (the next frontier)."""
    nxt = []
    for oid in files:
        for (_run_id, _task, _attempt, path), v in _scan(store, OUT_NS, oid):
            ev = read(store, v["evidence"], TaskEvidence)
            nid, new = graph.task(ev, v["evidence"])
            graph.edges.append({"from": nid, "to": f"file:{oid}", "kind": "output", "path": path})
            if not new:
                continue
            for inp in ev.inputs:
                fid = graph.file(inp["blob"].oid, inp["size"])
                graph.edges.append({"from": fid, "to": nid, "kind": "input",
                                    "input": inp["name"]})
                nxt.append(inp["blob"].oid)
    return _unvisited(graph, nxt, files)


def _step_down(store: ObjectStore, graph: Graph, files: list[str]) -> list[str]:
    """Users of `files` and what those users produced (the next frontier)."""
    nxt = []
    for oid in files:
        for (_run_id, _task, name), v in _scan(store, IN_NS, oid):
            ev = read(store, v["evidence"], TaskEvidence)
            nid, new = graph.task(ev, v["evidence"])
            graph.edges.append({"from": f"file:{oid}", "to": nid, "kind": "input", "input": name})
            if not new:
                continue
            for out in ev.outputs:
                fid = graph.file(out["blob"].oid, out["size"])
                graph.edges.append({"from": nid, "to": fid, "kind": "output", "path": out["path"]})
                nxt.append(out["blob"].oid)
    return _unvisited(graph, nxt, files)


def _unvisited(graph: Graph, nxt: list[str], done: list[str]) -> list[str]:
    """The files of `nxt` not followed yet, once each; marks `done` as followed."""
    graph.expanded.update(done)
    return [oid for oid in dict.fromkeys(nxt) if oid not in graph.expanded]
