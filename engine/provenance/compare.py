"""Comparing two runs by content: definition, parameters, and per task the state, exit
code, output hashes (by path) and vars of the last attempt; for an output directory on
both sides, which paths inside it differ (docs/cache.md)."""

from __future__ import annotations

from collections.abc import Iterator

from wfobj.engine.model import DIR, FILE, TaskEvidence, read, row_kind, row_oid
from wfobj.engine.runs.state import RunState
from wfobj.objstore import ObjectStore, TreeEntry, read_tree


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


def compare_outputs(store: ObjectStore, ea: TaskEvidence | None,
                    eb: TaskEvidence | None) -> list[dict]:
    """A file's row is {path, a, b, same}; a row with a directory on either side adds
    `kind` [a, b] and, when both sides are directories, the `paths` that differ."""
    def outputs(ev: TaskEvidence | None) -> dict[str, dict]:
        return {o["path"]: o for o in ev.outputs} if ev else {}

    rows_a, rows_b = outputs(ea), outputs(eb)
    rows = side_by_side({p: row_oid(r) for p, r in rows_a.items()},
                        {p: row_oid(r) for p, r in rows_b.items()}, "path")
    for row in rows:
        kinds = [row_kind(side[row["path"]]) if row["path"] in side else None
                 for side in (rows_a, rows_b)]
        if DIR in kinds:
            row["kind"] = kinds
        if kinds == [DIR, DIR]:
            row["paths"] = list(tree_changes(store, row["a"], row["b"]))
    return rows


def tree_changes(store: ObjectStore, a: str, b: str, prefix: str = "") -> Iterator[dict]:
    """The paths at which the trees `a` and `b` differ, in name order: {path (inside the
    trees), change, kind [a, b], a, b}. Only directories whose hashes differ are read, two
    tree objects each, so the cost grows with the directories along the differing paths
    (and their widths), not with the whole tree; a directory on one side only is one row,
    its tree hash, not its files."""
    if a == b:
        return
    left = {e.name: e for e in read_tree(store, a).entries}
    right = {e.name: e for e in read_tree(store, b).entries}
    for name in sorted(left.keys() | right.keys(), key=str.encode):
        x, y, path = left.get(name), right.get(name), prefix + name
        if x is not None and y is not None and x.kind == y.kind == DIR:
            yield from tree_changes(store, x.oid, y.oid, path + "/")
        elif x != y:
            yield change_row(path, x, y)


def change_row(path: str, x: TreeEntry | None, y: TreeEntry | None) -> dict:
    """`added`, `removed`, `changed` (content or kind), or `mode` (the same file whose
    executable bit differs, with `executable` [a, b])."""
    if x is None or y is None:
        change = "added" if x is None else "removed"
    else:
        change = "mode" if x.kind == y.kind == FILE and x.oid == y.oid else "changed"
    row = {"path": path, "change": change, "kind": [x.kind if x else None, y.kind if y else None],
           "a": x.oid if x else None, "b": y.oid if y else None}
    if change == "mode":
        row["executable"] = [x.executable, y.executable]
    return row


def compare_task(store: ObjectStore, ra: RunState, rb: RunState, task: str) -> dict:
    ea, eb = last_attempt(store, ra, task), last_attempt(store, rb, task)
    state = [ra.tasks[task].state if task in ra.tasks else None,
             rb.tasks[task].state if task in rb.tasks else None]
    exit_code = [ea.exit_code if ea else None, eb.exit_code if eb else None]
    outs = compare_outputs(store, ea, eb)
    var_rows = side_by_side(ea.vars if ea else {}, eb.vars if eb else {}, "name")
    secret_rows = side_by_side(fingerprints(ea), fingerprints(eb), "name")
    same = (state[0] == state[1] and exit_code[0] == exit_code[1]
            and all(r["same"] for r in outs + var_rows))
    return {"task": task, "same": same, "state": state, "exit_code": exit_code,
            "outputs": outs, "vars": var_rows, "secrets": secret_rows}


def fingerprints(ev: TaskEvidence | None) -> dict[str, str]:
    """{secret name: fingerprint of the value} an attempt used: equal fingerprints (of
    one store) are the same value, without showing it."""
    return {row["name"]: row["fingerprint"] for row in (ev.secrets or [])} if ev else {}


def compare_runs(store: ObjectStore, ra: RunState, rb: RunState) -> dict:
    """GET /api/runs/{a}/compare/{b}."""
    names = list(ra.order) + [n for n in rb.order if n not in ra.tasks]
    tasks = [compare_task(store, ra, rb, n) for n in names]
    return {"a": ra.run_id, "b": rb.run_id,
            "same_definition": ra.record.definition.oid == rb.record.definition.oid,
            "same_parameters": ra.record.parameters == rb.record.parameters,
            "same_secrets": all(r["same"] for t in tasks for r in t["secrets"]),
            "identical": all(t["same"] for t in tasks), "tasks": tasks}
