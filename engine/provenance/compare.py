"""Comparing two runs by content: definition, parameters, and per task the state, exit
code, output hashes (by path) and vars of the last attempt (docs/cache.md)."""

from __future__ import annotations

from wfobj.engine.model import TaskEvidence, read, row_oid
from wfobj.engine.runs.state import RunState
from wfobj.objstore import ObjectStore


def last_attempt(store: ObjectStore, run: RunState, task: str) -> TaskEvidence | None:
    entry = run.tasks.get(task)
    if entry is None or not entry.attempts:
        return None
    return read(store, entry.attempts[-1], TaskEvidence)


def side_by_side(a: dict, b: dict, name: str) -> list[dict]:
    """[{name, a, b, same}] over the keys of both maps; a key on one side only is null
    on the other."""
    keys = list(a) + [k for k in b if k not in a]
    return [{name: k, "a": a.get(k), "b": b.get(k), "same": a.get(k) == b.get(k)}
            for k in keys]


def compare_task(store: ObjectStore, ra: RunState, rb: RunState, task: str) -> dict:
    ea, eb = last_attempt(store, ra, task), last_attempt(store, rb, task)

    def outputs(ev: TaskEvidence | None) -> dict:
        return {o["path"]: row_oid(o) for o in ev.outputs} if ev else {}

    state = [ra.tasks[task].state if task in ra.tasks else None,
             rb.tasks[task].state if task in rb.tasks else None]
    exit_code = [ea.exit_code if ea else None, eb.exit_code if eb else None]
    outs = side_by_side(outputs(ea), outputs(eb), "path")
    var_rows = side_by_side(ea.vars if ea else {}, eb.vars if eb else {}, "name")
    same = (state[0] == state[1] and exit_code[0] == exit_code[1]
            and all(r["same"] for r in outs + var_rows))
    return {"task": task, "same": same, "state": state, "exit_code": exit_code,
            "outputs": outs, "vars": var_rows}


def compare_runs(store: ObjectStore, ra: RunState, rb: RunState) -> dict:
    """GET /api/runs/{a}/compare/{b}."""
    names = list(ra.order) + [n for n in rb.order if n not in ra.tasks]
    tasks = [compare_task(store, ra, rb, n) for n in names]
    return {"a": ra.run_id, "b": rb.run_id,
            "same_definition": ra.record.definition.oid == rb.record.definition.oid,
            "same_parameters": ra.record.parameters == rb.record.parameters,
            "identical": all(t["same"] for t in tasks), "tasks": tasks}
