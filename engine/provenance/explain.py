"""`run explain`: why a task's attempt was or was not a cache hit (docs/cache.md): the
components of its key and, on a miss, how they differ from the nearest earlier attempt
of the same task (one reverse seek in the cache-task index)."""

from __future__ import annotations

from wfobj.engine.indexes.cache import nearest
from wfobj.engine.model import CacheKey, TaskEvidence, read, row_oid
from wfobj.objstore import ObjectStore


def components(key: CacheKey) -> dict:
    """The key's parts in the user's terms: image_id, command, env.NAME, inputs./in/x…"""
    out: dict = {"image_id": key.image_id, "command": key.command,
                 "workdir": key.workdir, "network": key.network}
    out.update({f"env.{name}": value for name, value in sorted(key.env.items())})
    out.update({f"inputs.{i['path']}": row_oid(i) for i in key.inputs})
    out["outputs.files"] = key.outputs["files"]
    out["outputs.vars"] = key.outputs["vars"]
    out.update(secret_components(key.secrets or []))
    return out


def secret_components(rows: list[dict]) -> dict:
    """secret.NAME: the fingerprint of the value used (a new value is a new key, named
    here); secret.NAME.at: where the task put it."""
    out: dict = {}
    for row in sorted(rows, key=lambda r: r["name"]):
        out[f"secret.{row['name']}"] = row["fingerprint"]
        out.setdefault(f"secret.{row['name']}.at", []).append(row.get("env") or row.get("file"))
    return out


def differs(was: dict, now: dict) -> list[dict]:
    """[{component, was, now}] for every component that changed (absent: null)."""
    names = list(now) + [n for n in was if n not in now]
    return [{"component": n, "was": was.get(n), "now": now.get(n)}
            for n in names if was.get(n) != now.get(n)]


def explain(store: ObjectStore, workflow: str, run_id: str, task: str,
            attempts: list[str]) -> dict:
    """GET /api/runs/{id}/tasks/{task}/cache: the key of the task's last attempt (of
    `attempts`, its evidence hashes), its components, whether it was a hit, and on a miss
    how it differs from the nearest earlier attempt of `task` in `workflow`."""
    ev = read(store, attempts[-1], TaskEvidence) if attempts else None
    link = ev.cache_key if ev else None
    if link is None:
        return {"key": None, "components": None, "hit": False, "cached_from": None,
                "cacheable": False, "reason": explain_no_key(ev), "nearest": None}
    comps = components(read(store, link.oid, CacheKey))
    cached_from = ev.cached_from
    out = {"key": link.oid, "components": comps, "hit": cached_from is not None,
           "cached_from": cached_from.oid if cached_from else None,
           "cacheable": ev.cache_reason is None, "reason": ev.cache_reason,
           "nearest": None}
    if cached_from is None:
        near = nearest(store, workflow, task, run_id)
        if near is not None:
            was = components(read(store, near["key"], CacheKey))
            out["nearest"] = {"run_id": near["run_id"], "key": near["key"],
                              "evidence_hash": near["evidence"], "differs": differs(was, comps)}
    return out


def explain_no_key(ev: TaskEvidence | None) -> str:
    if ev is None:
        return "the task never started"
    if ev.child is not None:
        return (f"a sub-workflow task is never taken from the cache; its child run "
                f"{ev.child['run_id']} looked up each of its own tasks")
    return "the attempt has no cache key (its image could not be resolved, or it predates keys)"
