"""Read-side views of a run in the shapes of docs/api.md: run, tasks, files, lineage, audit."""

from __future__ import annotations

from wfobj.engine.definitions.graph import TaskGraph
from wfobj.engine.definitions.params import render_parameters
from wfobj.engine.definitions.templates import references
from wfobj.engine.errors import UnknownAttempt, UnknownTask
from wfobj.engine.model import DIR, AuditEvent, ParamInput, TaskEvidence, read, row_kind, row_oid
from wfobj.engine.runs.evidence import load_evidence
from wfobj.engine.runs.rows import RunHead
from wfobj.engine.runs.state import RunState, TaskEntry
from wfobj.objstore import ObjectStore, walk_tree

TASKS_IN_VIEW = 1000  # rows a run's view names; the rest are paged at /tasks


def run_view(run: RunState) -> dict:
    return {**record_view(run),
            "parameters": render_parameters(run.definition.params, run.record.parameters)}


def record_view(run: RunState) -> dict:
    """run_view without reading the definition (parameters as stored)."""
    shown = run.order[:TASKS_IN_VIEW]
    return _run_fields(run.run_id, run.record, run.state, run.started_at, run.ended_at,
                       run.manifest_oid, {name: run.tasks[name].state for name in shown},
                       len(run.order), {k: v for k, v in sorted(run.counts.items()) if v})


def head_view(head: RunHead) -> dict:
    """A run's view read lazily: the first TASKS_IN_VIEW rows, whatever the run's size."""
    m = head.manifest
    rows = head.rows.rows(0, TASKS_IN_VIEW)
    view = _run_fields(head.run_id, head.record, m.state, m.started_at, m.ended_at,
                       head.manifest_oid, {r["name"]: r["state"] for r in rows},
                       head.rows.count, head.states())
    view["parameters"] = render_parameters(head.definition.params, head.record.parameters)
    return view


def _run_fields(run_id: str, rec, state: str, started_at, ended_at, manifest_oid, tasks: dict,
                count: int, states: dict) -> dict:
    return {
        "run_id": run_id, "workflow": rec.workflow,
        "definition_hash": rec.definition.oid, "engine_version": rec.engine_version,
        "triggered_by": rec.triggered_by, "created_at": rec.created_at,
        "started_at": started_at, "ended_at": ended_at,
        "parameters": dict(rec.parameters),
        "state": state, "manifest_hash": manifest_oid,
        "tasks": tasks, "task_count": count, "task_states": states,
        "tasks_truncated": count > len(tasks),
        "cache": rec.cache if rec.cache is not None else True, "resumes": rec.resumes,
        "reproduces": rec.reproduces,
        # a run that started itself: which schedule slot or data-ref move
        **({"trigger": rec.trigger} if rec.trigger is not None else {}),
        # a sub-workflow's child run: {"run_id", "task"} of its parent
        "parent": rec.parent,
        # the names its named file/dir params were given with
        **({"file_names": rec.file_names} if rec.file_names else {}),
    }


def tasks_view(store: ObjectStore, head: RunHead, start: int = 0,
               limit: int = TASKS_IN_VIEW) -> list[dict]:
    """The last attempt's evidence of the tasks at positions start… (at most `limit`), in
    the table's order (topological, then instances); tasks never attempted appear with
    their state, attempt 0 and no evidence."""
    return [_last(store, row["name"], TaskEntry.of_row(row))
            for row in head.rows.rows(start, start + limit)]


def _last(store: ObjectStore, name: str, entry: TaskEntry) -> dict:
    if entry.attempts:
        return load_evidence(store, entry.attempts[-1])
    view = {"task": name, "state": entry.state, "attempt": 0, "evidence_hash": None}
    if entry.skip is not None:  # why it was skipped: condition, failure or stopped
        view["skip"] = entry.skip
    return view


def task_view(store: ObjectStore, head: RunHead, task: str) -> dict:
    entry = head.find(task)
    if entry is None:
        raise UnknownTask(head.run_id, task)
    view = _last(store, task, entry)
    view["attempts"] = list(entry.attempts)
    if entry.instances is not None:
        view["instances"] = {"first": entry.instances[0], "count": entry.instances[1]}
    return view


def entry_of(head: RunHead, task: str) -> TaskEntry:
    """The row of task (or instance) `task`, read without the whole table; UnknownTask."""
    entry = head.find(task)
    if entry is None:
        raise UnknownTask(head.run_id, task)
    return entry


def attempt_view(store: ObjectStore, head: RunHead, task: str, attempt: int) -> dict:
    """Evidence of one attempt (1-based) of `task`, with the task's `attempts` hashes."""
    entry = entry_of(head, task)
    if not 1 <= attempt <= len(entry.attempts):
        raise UnknownAttempt(head.run_id, task, attempt)
    view = load_evidence(store, entry.attempts[attempt - 1])
    view["attempts"] = list(entry.attempts)
    return view


def last_evidence(store: ObjectStore, run: RunState) -> dict[str, TaskEvidence]:
    return {name: read(store, run.tasks[name].attempts[-1], TaskEvidence)
            for name in run.order if run.tasks[name].attempts}


def files_view(store: ObjectStore, run: RunState, recursive: bool = False) -> list[dict]:
    """Every output of each task's last attempt ({"task", "path", "kind", "hash", "size"});
    with `recursive`, after each output directory every file inside it, by its full path
    under /out and the `tree` it sits in (one tree read per directory below it)."""
    rows = []
    for name, ev in last_evidence(store, run).items():
        for out in ev.outputs:
            kind, oid = row_kind(out), row_oid(out)
            rows.append({"task": name, "path": out["path"], "kind": kind, "hash": oid,
                         "size": out["size"]})
            if recursive and kind == DIR:
                rows.extend({"task": name, "path": f"{out['path']}/{path}", "kind": e.kind,
                             "hash": e.oid, "size": e.size, "tree": oid}
                            for path, e in walk_tree(store, oid) if e.kind != DIR)
    return rows


def lineage_view(store: ObjectStore, run: RunState) -> dict:
    """Params, tasks and files as nodes; `input` edges into tasks, `output` edges out."""
    params = run.definition.params
    values = render_parameters(params, run.record.parameters)
    nodes = [{"id": f"param:{n}", "kind": "param", "name": n, "type": params[n].type,
              "value": values[n]} for n in params]
    nodes += [{"id": f"task:{n}", "kind": "task", "name": n, "state": run.tasks[n].state}
              for n in run.order]
    edges: list[dict] = []
    files: dict[str, dict] = {}

    def file_node(row: dict) -> str:
        oid = row_oid(row)
        files.setdefault(oid, {"id": f"file:{oid}", "kind": "file", "hash": oid,
                               "size": row["size"], "dir": row_kind(row) == DIR})
        return f"file:{oid}"

    evidence = last_evidence(store, run)
    graph = TaskGraph.of(run.definition.tasks)
    for name in run.order:
        task = run.definition.tasks[name]
        used = {parts[1] for _, parts in references(task) if parts[0] == "params"}
        used |= {spec.param for spec in task.inputs.values() if isinstance(spec, ParamInput)}
        edges += [{"from": f"param:{p}", "to": f"task:{name}", "kind": "input"} for p in sorted(used)]
        ev = evidence.get(name)
        if ev is None:
            for dep in graph.upstream(name):
                edges.append({"from": f"task:{dep}", "to": f"task:{name}", "kind": "input"})
            continue
        for inp in ev.inputs:
            edges.append({"from": file_node(inp), "to": f"task:{name}", "kind": "input"})
        for out in ev.outputs:
            edges.append({"from": f"task:{name}", "to": file_node(out), "kind": "output",
                          "path": out["path"]})
    return {"nodes": nodes + list(files.values()), "edges": edges}


def audit_view(store: ObjectStore, run: RunState) -> list[dict]:
    """The audit chain oldest first; `prev` is the previous entry's `hash`."""
    entries = []
    oid = run.audit_head
    while oid:
        ev = read(store, oid, AuditEvent)
        prev = ev.prev.oid if ev.prev else None
        entries.append({"seq": ev.seq, "at": ev.at, "actor": ev.actor, "event": ev.event,
                        "from": ev.from_, "to": ev.to, "task": ev.task, "reason": ev.reason,
                        "hash": oid, "prev": prev, "skip": ev.skip})
        oid = prev
    entries.reverse()
    return entries


def logs_view(store: ObjectStore, head: RunHead, task: str) -> dict:
    """Full stdout and stderr of a task's last attempt."""
    entry = entry_of(head, task)
    if not entry.attempts:
        return {"task": task, "attempt": 0, "stdout": "", "stderr": ""}
    ev = read(store, entry.attempts[-1], TaskEvidence)

    def text(stream: dict) -> str:
        return b"".join(store.iter_blob(stream["blob"].oid)).decode("utf-8", errors="replace")

    return {"task": task, "attempt": ev.attempt, "stdout": text(ev.stdout),
            "stderr": text(ev.stderr)}
