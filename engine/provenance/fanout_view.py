"""A run as a reader sees it without reading all of it: the definition's tasks (a fanned-out
task as one line with its instances counted by state), one page of a task's instances, and
why each skipped task was skipped. The web UI draws from these (docs/ui.md).

What each costs, for a run of N rows whose definition has T tasks (its first T rows):
- `task_outline`: the manifest, the ⌈T/64⌉ buckets of the definition's rows and one
  evidence object per attempted task; the instances of every fanned-out task but the
  largest are counted from their rows (⌈count/64⌉ buckets each), the largest's counts are
  the manifest's `task_states` less everything else, so a run with one fan-out of 100,000
  instances reads none of its instance rows;
- `instance_page`: the same for the task's own counts, then only the rows on the page
  (⌈limit/64⌉ + 1 buckets) and one evidence object per row; asked for one state, the
  pages' counts of each bucket's rows by state (one page per 4,096 rows) tell which
  buckets hold rows in that state and how many, so only the buckets holding the page's
  rows are read, plus the two the fan-out shares at its ends (runs written before pages
  kept counts: the fan-out's rows from its first until the page is full);
- `task_line`: the rows leading to one task or instance (engine/runs/rows.py: an index KEY
  directly, an entry name by bisection) and its evidence;
- skip kinds (engine/scheduling/gates.py): a skipped row keeps its kind (`skip`), so they
  cost nothing. Rows written before rows kept it have it only on the audit event that
  skipped them: for those the chain is walked from its head back until every such row
  shown is found, and a process remembers, per run, how far it walked and what it found
  (events are immutable), so the next view reads only the new events.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from wfobj.engine.definitions.graph import TaskGraph
from wfobj.engine.errors import UnknownTask
from wfobj.engine.model import AuditEvent, RunManifest, TaskEvidence, read, row_kind, row_oid
from wfobj.engine.runs.rows import RunHead
from wfobj.engine.runs.state import BUCKET, TaskEntry
from wfobj.engine.states import TaskStatus
from wfobj.objstore import ObjectStore

MAX_INSTANCE_PAGE = 1000  # rows one instance_page call reads at most
REMEMBERED_RUNS = 32  # runs whose audit walk a process keeps (skip kinds only)


@dataclass(frozen=True)
class InstanceCounts:
    """Where a fanned-out task's instance rows are, and how many are in each state."""

    first: int
    count: int
    states: dict[str, int]


@dataclass(frozen=True)
class TaskLine:
    """One row as a view shows it: state, why it was skipped, its last attempt in brief
    (`evidence`: attempt 0 and no hash before one), and a fanned-out task's counts."""

    name: str
    state: str
    evidence: dict
    skip: str | None = None
    instances: InstanceCounts | None = None
    fans_out: bool = False  # a task with `for_each` (its instances may not exist yet)
    workflow: str | None = None  # a sub-workflow task's child workflow (name, else hash)


@dataclass(frozen=True)
class RunOutline:
    run_id: str
    state: str
    order: list[str]  # the definition's tasks, topological
    edges: list[tuple[str, str]]
    lines: list[TaskLine]
    row_count: int  # every row, instances included


@dataclass(frozen=True)
class InstancePage:
    task: TaskLine  # the fanned-out task itself (its `instances` None until it expands)
    offset: int
    lines: list[TaskLine]


@dataclass
class RunTop:
    """A run's head (engine/runs/rows.py) and its definition's rows, read once per view."""

    head: RunHead
    entries: dict[str, TaskEntry]  # the definition's tasks, in table order

    @classmethod
    def load(cls, store: ObjectStore, run_id: str) -> RunTop:
        head = RunHead.load(store, run_id)
        # a run's first rows are its definition's tasks in this order; instance rows follow
        rows = head.rows.rows(0, len(head.task_order()))
        return cls(head, {row["name"]: TaskEntry.of_row(row) for row in rows})

    def fans_out(self, name: str) -> bool:
        return name in self.entries and self.head.definition.tasks[name].for_each is not None

    def workflow(self, name: str) -> str | None:
        return child_workflow(self.head, name)

    def fanout_counts(self) -> dict[str, InstanceCounts]:
        """Counts by state of every expanded fan-out's instances (see the module's note)."""
        spans = {n: e.instances for n, e in self.entries.items() if e.instances is not None}
        if not spans:
            return {}
        largest = max(spans, key=lambda n: spans[n][1])
        derive = self.head.manifest.task_states is not None
        out: dict[str, InstanceCounts] = {}
        others = Counter(e.state for e in self.entries.values())
        for name, (first, count) in spans.items():
            if name == largest and derive:
                continue
            states = Counter(r["state"] for r in self.head.rows.rows(first, first + count))
            others.update(states)
            out[name] = InstanceCounts(first, count, dict(states))
        if derive:
            first, count = spans[largest]
            rest = Counter(self.head.manifest.task_states)
            rest.subtract(others)
            out[largest] = InstanceCounts(first, count, {s: n for s, n in rest.items() if n > 0})
        return out


def child_workflow(head: RunHead, name: str) -> str | None:
    """The workflow a sub-workflow task `name` runs (its name, else its hash), or None."""
    task = head.definition.tasks.get(name)
    if task is None or not task.workflow:
        return None
    return task.workflow.get("name") or task.workflow.get("hash")


def evidence_brief(store: ObjectStore, name: str, entry: TaskEntry) -> dict:
    """The last attempt's evidence as a table row needs it (one object read)."""
    if not entry.attempts:
        return {"task": name, "attempt": 0, "evidence_hash": None, "outputs": []}
    oid = entry.attempts[-1]
    ev = read(store, oid, TaskEvidence)
    return {"task": name, "attempt": ev.attempt, "evidence_hash": oid, "state": ev.state,
            "exit_code": ev.exit_code, "duration_s": float(ev.duration_s), "error": ev.error,
            "cache_key": ev.cache_key.oid if ev.cache_key else None,
            "cached_from": ev.cached_from.oid if ev.cached_from else None,
            "child": ev.child["run_id"] if ev.child else None,
            "outputs": [{"task": name, "path": o["path"], "kind": row_kind(o),
                         "hash": row_oid(o), "size": o["size"]} for o in ev.outputs]}


def task_outline(store: ObjectStore, run_id: str) -> RunOutline:
    """The run's definition tasks, each with its state, last attempt, skip kind and, when
    fanned out, its instances counted by state."""
    top = RunTop.load(store, run_id)
    counts = top.fanout_counts()
    kinds = skip_kinds(store, top.head.manifest, top.entries.items())
    order = top.head.task_order()
    lines = [TaskLine(n, top.entries[n].state, evidence_brief(store, n, top.entries[n]),
                      kinds.get(n), counts.get(n), top.fans_out(n), top.workflow(n))
             for n in order]
    return RunOutline(run_id, top.head.state, order,
                      TaskGraph.of(top.head.definition.tasks).edges(), lines, top.head.rows.count)


def instance_page(store: ObjectStore, run_id: str, task: str, offset: int,
                  limit: int, state: str | None = None) -> InstancePage:
    """Instances offset ≤ i < offset + limit (at most MAX_INSTANCE_PAGE) of fanned-out
    `task`, in item order, with the task's own line and counts; with `state`, of those in
    that state only (read bucket by bucket from the first instance until the page is full:
    at worst every row of this fan-out, never another's)."""
    top = RunTop.load(store, run_id)
    entry = top.entries.get(task)
    if entry is None:
        raise UnknownTask(run_id, task)
    counts = top.fanout_counts().get(task)
    shown: list[tuple[str, TaskEntry]] = []
    limit, offset = min(limit, MAX_INSTANCE_PAGE), max(offset, 0)
    if counts is not None and state is None:
        start = counts.first + offset
        stop = min(start + limit, counts.first + counts.count)
        if start < stop:
            shown = [(r["name"], TaskEntry.of_row(r)) for r in top.head.rows.rows(start, stop)]
    elif counts is not None and counts.states.get(state, 0) > offset:
        shown = in_state(top.head, counts, state, offset, limit)
    kinds = skip_kinds(store, top.head.manifest, [(task, entry), *shown])
    own = TaskLine(task, entry.state, evidence_brief(store, task, entry), kinds.get(task),
                   counts, top.fans_out(task))
    return InstancePage(own, max(offset, 0),
                        [TaskLine(n, e.state, evidence_brief(store, n, e), kinds.get(n))
                         for n, e in shown])


def in_state(head: RunHead, counts: InstanceCounts, state: str, offset: int,
             limit: int) -> list[tuple[str, TaskEntry]]:
    """Instances in `state`, past the first `offset` of them, at most `limit`. A bucket
    wholly the fan-out's is read only if its page counts rows in `state` that the page
    shows (a bucket it shares with other rows, or one whose page keeps no counts, is read
    and its rows counted)."""
    out: list[tuple[str, TaskEntry]] = []
    position, end, passed = counts.first, counts.first + counts.count, 0
    while position < end and len(out) < limit:
        index = position // BUCKET
        stop = min((index + 1) * BUCKET, end)  # to the end of this bucket
        if position == index * BUCKET and stop == (index + 1) * BUCKET:
            known = head.rows.bucket_states(index)
            here = None if known is None else known.get(state, 0)
            if here is not None and passed + here <= offset:
                passed += here  # none of its rows in `state` is on the page: not read
                position = stop
                continue
        for row in head.rows.rows(position, stop):
            if row["state"] != state:
                continue
            if passed < offset:
                passed += 1
            elif len(out) < limit:
                out.append((row["name"], TaskEntry.of_row(row)))
        position = stop
    return out


def task_line(store: ObjectStore, run_id: str, name: str) -> TaskLine | None:
    """The line of one task or instance `TASK[KEY]` (its last attempt in brief, its skip
    kind, whether it fans out; not its instances' counts), or None if the run has no such
    row. Reads the rows that lead to it (engine/runs/rows.py) and one evidence object."""
    head = RunHead.load(store, run_id)
    entry = head.find(name)
    if entry is None:
        return None
    fans_out = name in head.definition.tasks and head.definition.tasks[name].for_each is not None
    return TaskLine(name, entry.state, evidence_brief(store, name, entry),
                    skip_kinds(store, head.manifest, [(name, entry)]).get(name), None, fans_out,
                    child_workflow(head, name))


def skip_kinds(store: ObjectStore, manifest: RunManifest,
               rows: Iterable[tuple[str, TaskEntry]]) -> dict[str, str]:
    """The skip kind of each skipped row: from the row, else from the audit chain."""
    kinds = {n: e.skip for n, e in rows if e.state == TaskStatus.SKIPPED}
    unknown = {n for n, kind in kinds.items() if kind is None}
    found = SKIP_KINDS.of(store, manifest, unknown) if unknown else {}
    return {n: kind or found.get(n) for n, kind in kinds.items() if kind or n in found}


@dataclass
class _Walked:
    """How far a process has read one run's audit chain: from `newest` back to the event
    whose `prev` is `resume` (None once the chain's first event was read)."""

    newest: str
    resume: str | None
    kinds: dict[str, str]


class SkipKinds:
    """task → skip kind ("condition", "failure", "stopped") from the audit chain, reading
    each event of a run at most once per process (a bounded number of runs kept)."""

    def __init__(self, runs: int = REMEMBERED_RUNS) -> None:
        self.runs = runs
        self._walked: OrderedDict[str, _Walked] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, store: ObjectStore, manifest: RunManifest, wanted: set[str]) -> dict[str, str]:
        head = manifest.audit.oid if manifest.audit else None
        if not wanted or head is None:
            return {}
        with self._lock:
            walked = self._walked.pop(manifest.run_id, None)
            if walked is None:
                walked = _Walked(head, head, {})
            elif walked.newest != head:
                walked = self._newer(store, walked, head)
            missing = set(wanted) - walked.kinds.keys()
            oid = walked.resume
            while missing and oid:
                oid = note(read(store, oid, AuditEvent), walked.kinds, missing)
            walked.resume = oid
            self._walked[manifest.run_id] = walked
            while len(self._walked) > self.runs:
                self._walked.popitem(last=False)
            return {n: walked.kinds[n] for n in wanted if n in walked.kinds}

    @staticmethod
    def _newer(store: ObjectStore, walked: _Walked, head: str) -> _Walked:
        """Read the events appended since `walked.newest`; a chain that no longer leads
        there (a run replaced by sync) is read afresh."""
        kinds: dict[str, str] = {}
        oid: str | None = head
        while oid and oid != walked.newest:
            oid = note(read(store, oid, AuditEvent), kinds, None)
        if oid is None:
            return _Walked(head, None, kinds)
        return _Walked(head, walked.resume, {**walked.kinds, **kinds})


def note(event: AuditEvent, kinds: dict[str, str], missing: set[str] | None) -> str | None:
    """Keep `event`'s skip kind (the newest per task wins); the link to the one before.
    An `instances_state` event is about a fanned-out task's instances, not the task."""
    if (event.skip and event.task and event.task not in kinds
            and event.event != "instances_state"):
        kinds[event.task] = event.skip
        if missing is not None:
            missing.discard(event.task)
    return event.prev.oid if event.prev else None


SKIP_KINDS = SkipKinds()
