"""A run as the engine keeps it: record, task table, audit chain and manifest.

Objects (all immutable, Merkle-linked):
  run_record     run_id, workflow, definition link, engine_version, triggered_by,
                 created_at, parameters
  run_tasks      one bucket of up to BUCKET rows: [{name, state, attempts: [evidence…]}]
                 (a fanned-out task's row also: instances [first, count]; a skipped
                 row: skip, its kind)
  run_task_page  up to PAGE bucket links, and each bucket's rows counted by state
  audit_event    seq, at, actor, event, from, to, task, reason, prev (link)
  run_manifest   run (record link), state, started_at, ended_at, pages (page links),
                 task_count, task_states, audit (head link), audit_count, previous
`runs/<run_id>` points at the newest manifest. Only the buckets whose rows changed, and
the pages linking them, are rewritten: a scheduler step costs O(changed rows) plus a
manifest of N / (BUCKET·PAGE) links, so even a run of 100,000 fanned-out instances (25
pages) writes a few small objects per step, never the whole table. (Manifests written
before pages linked every bucket from `tasks`; they are still read.)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from wfobj.engine.definitions.graph import TaskGraph
from wfobj.engine.errors import UnknownRun
from wfobj.engine.indexes import counters
from wfobj.engine.layout import INDEX_NS, RUN_PREFIX, STATE_NS
from wfobj.engine.model import (
    AuditEvent,
    Definition,
    RunManifest,
    RunRecord,
    RunTaskPage,
    RunTasks,
    read,
)
from wfobj.engine.states import RUN_TERMINAL, RunStatus, TaskStatus, run_transition, task_transition
from wfobj.engine.webhooks.events import RunEvent, RunFacts, event_name
from wfobj.engine.webhooks.outbox import announce
from wfobj.objstore import Link, ObjectStore, RefNotFound, WriteBatch

BUCKET = 64  # rows per run_tasks bucket
PAGE = 64  # buckets per run_task_page: 4,096 rows
# run ids by state, keyed "<state>/<run_id>" (empty values): `list_runs(state=…)` reads
# only the runs in that state. Written in the same batch as the INDEX_NS entry.


def run_ref(run_id: str) -> str:
    return RUN_PREFIX + run_id


@dataclass
class TaskEntry:
    state: str = TaskStatus.PENDING.value
    attempts: list[str] = field(default_factory=list)
    instances: tuple[int, int] | None = None  # a fanned-out task's rows: (first, count)
    skip: str | None = None  # a skipped row's skip kind, as on its audit event

    def row(self, name: str) -> dict:
        row = {"name": name, "state": self.state, "attempts": [Link.obj(a) for a in self.attempts]}
        if self.instances is not None:
            row["instances"] = list(self.instances)
        if self.skip is not None:
            row["skip"] = self.skip
        return row

    @classmethod
    def of_row(cls, row: dict) -> TaskEntry:
        spread = row.get("instances")
        return cls(row["state"], [a.oid for a in row["attempts"]],
                   None if spread is None else (spread[0], spread[1]), row.get("skip"))


def pages_for(buckets: int) -> int:
    return (buckets + PAGE - 1) // PAGE


def bucket_links(store: ObjectStore, m: RunManifest) -> list[Link]:
    """Every bucket of the manifest's task table, in order."""
    if m.pages is None:
        return list(m.tasks)
    return [link for page in m.pages for link in read(store, page.oid, RunTaskPage).buckets]


@dataclass
class RunState:
    run_id: str
    record_oid: str
    record: RunRecord
    definition: Definition | None  # None when loaded with plan=False
    state: str
    tasks: dict[str, TaskEntry]
    order: list[str]
    bucket_oids: list[str | None]
    page_oids: list[str | None] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # rows by state
    bucket_counts: list[Counter] = field(default_factory=list)  # each bucket's rows by state
    started_at: str | None = None
    ended_at: str | None = None
    audit_head: str | None = None
    audit_count: int = 0
    manifest_oid: str | None = None
    dirty: set[int] = field(default_factory=set)
    state_changed: bool = False
    indexed_state: str | None = None  # the state the list index holds for this run
    _positions: dict[str, int] = field(default_factory=dict, repr=False)
    # webhook events noted by audit() during a change(), put in the outbox as it commits
    _events: list[RunEvent] = field(default_factory=list, repr=False)

    # ---- building ---------------------------------------------------------------
    @classmethod
    def new(cls, run_id: str, record: RunRecord, definition: Definition) -> RunState:
        """A run not stored yet; its first change() puts `record` and sets `record_oid`."""
        order = TaskGraph.of(definition.tasks).order()
        n_buckets = (len(order) + BUCKET - 1) // BUCKET
        pending = TaskStatus.PENDING.value
        return cls(run_id, "", record, definition, RunStatus.PENDING.value,
                   {name: TaskEntry() for name in order}, order, [None] * n_buckets,
                   [None] * pages_for(n_buckets), Counter({pending: len(order)}),
                   [Counter({pending: len(order[i * BUCKET:(i + 1) * BUCKET])})
                    for i in range(n_buckets)],
                   dirty=set(range(n_buckets)), state_changed=True)

    @classmethod
    def load(cls, store: ObjectStore, run_id: str, *, plan: bool = True) -> RunState:
        """The newest state of a run, straight from its ref (works for synced runs).
        With plan=False the definition is not read: enough to end the run, even when
        its definition is damaged."""
        try:
            manifest_oid = store.get_ref(run_ref(run_id))
        except (RefNotFound, ValueError):
            raise UnknownRun(run_id) from None
        return cls.from_manifest(store, manifest_oid, plan=plan)

    @classmethod
    def from_manifest(cls, store: ObjectStore, manifest_oid: str, *,
                      plan: bool = True) -> RunState:
        m = read(store, manifest_oid, RunManifest)
        record = read(store, m.run.oid, RunRecord)
        definition = read(store, record.definition.oid, Definition) if plan else None
        tasks: dict[str, TaskEntry] = {}
        links = bucket_links(store, m)
        bucket_counts = []
        for link in links:
            rows = read(store, link.oid, RunTasks).tasks
            for row in rows:
                tasks[row["name"]] = TaskEntry.of_row(row)
            bucket_counts.append(Counter(row["state"] for row in rows))
        pages = [p.oid for p in m.pages] if m.pages is not None else [None] * pages_for(len(links))
        return cls(m.run_id, m.run.oid, record, definition, m.state, tasks,
                   list(tasks), [link.oid for link in links], pages,
                   Counter(entry.state for entry in tasks.values()), bucket_counts, m.started_at,
                   m.ended_at, m.audit.oid if m.audit else None,
                   m.audit_count, manifest_oid, indexed_state=m.state)

    # ---- changes ------------------------------------------------------------------
    def set_task(self, name: str, state: str, skip: str | None = None) -> None:
        """Move a task to `state` (to `skipped` with its `skip` kind, kept on its row so a
        view need not search the audit chain); IllegalTransition if its state machine
        forbids it."""
        entry = self.tasks[name]
        old, entry.state = entry.state, task_transition(entry.state, state)
        entry.skip = skip if entry.state == TaskStatus.SKIPPED else None
        self.counts[old] -= 1
        self.counts[entry.state] += 1
        index = self.position(name) // BUCKET
        self.bucket_counts[index][old] -= 1
        self.bucket_counts[index][entry.state] += 1
        self.dirty.add(index)

    def position(self, name: str) -> int:
        if len(self._positions) != len(self.order):
            self._positions = {n: i for i, n in enumerate(self.order)}
        return self._positions[name]

    def add_instances(self, task: str, names: list[str]) -> None:
        """Append pending rows for fanned-out `task`'s instances after the others (only the
        buckets they fill are written) and note where they are on `task`'s own row."""
        first = len(self.order)
        self.tasks[task].instances = (first, len(names))
        self.dirty.add(self.position(task) // BUCKET)
        self.order.extend(names)
        self.counts[TaskStatus.PENDING.value] += len(names)
        for name in names:
            self.tasks[name] = TaskEntry()
        self.bucket_oids.extend([None] * ((len(self.order) + BUCKET - 1) // BUCKET - len(self.bucket_oids)))
        self.bucket_counts.extend(Counter() for _ in range(len(self.bucket_oids) - len(self.bucket_counts)))
        for position in range(first, len(self.order)):
            self.bucket_counts[position // BUCKET][TaskStatus.PENDING.value] += 1
        self.dirty.update(range(first // BUCKET, len(self.bucket_oids)))

    def add_attempt(self, name: str, evidence_oid: str) -> None:
        self.tasks[name].attempts.append(evidence_oid)
        self.dirty.add(self.position(name) // BUCKET)

    def set_state(self, state: str, at: str) -> None:
        """Move the run to `state`; IllegalTransition if its state machine forbids it."""
        self.state = run_transition(self.state, state)
        self.state_changed = True
        if state == RunStatus.RUNNING and self.started_at is None:
            self.started_at = at
        if state in RUN_TERMINAL:
            self.ended_at = at

    def audit(self, b: WriteBatch, *, at: str, actor: str, event: str, old: str | None,
              new: str | None, task: str | None = None, reason: str | None = None,
              skip: str | None = None) -> str:
        """Append one hash-chained audit event (linking the previous one) to `b`."""
        entry = AuditEvent(run_id=self.run_id, seq=self.audit_count + 1, at=at, actor=actor,
                           event=event, from_=None if old is None else str(old),
                           to=None if new is None else str(new), task=task, reason=reason,
                           prev=Link.obj(self.audit_head) if self.audit_head else None,
                           skip=skip)
        self.audit_head = b.put_object(entry.to_value())
        self.audit_count += 1
        if (name := event_name(event, new)) is not None:
            self._events.append(RunEvent(name, self.audit_count, at, task, reason))
        return self.audit_head

    @contextmanager
    def change(self, store: ObjectStore, at: str) -> Iterator[WriteBatch]:
        """A store batch for changes to this run. When the block ends without error the
        run's new manifest (changed buckets, ref move by CAS, index) joins the batch, it is
        written, and only then does the run take the new manifest as its own: the commit
        cannot be half-done. The webhook events of its audit entries join the same batch
        (engine/webhooks/outbox.py), so no committed change loses its event."""
        self._events = []
        with store.batch() as b:
            yield b
            new_oid = self._stage(b, at)
            announce(store, b, RunFacts(self.run_id, self.record.workflow, self.state, new_oid,
                                        self.record.triggered_by), self._events)
        self.dirty.clear()
        self.manifest_oid = new_oid
        self.indexed_state = self.state
        self.state_changed = False

    def _stage(self, b: WriteBatch, at: str) -> str:
        """Add changed buckets, a new manifest, the ref move (CAS) and the index to `b`."""
        for i in sorted(self.dirty):
            names = self.order[i * BUCKET:(i + 1) * BUCKET]
            rows = [self.tasks[n].row(n) for n in names]
            bucket = RunTasks(run_id=self.run_id, first=i * BUCKET, tasks=rows)
            self.bucket_oids[i] = b.put_object(bucket.to_value())
        self.page_oids.extend([None] * (pages_for(len(self.bucket_oids)) - len(self.page_oids)))
        pages = {i // PAGE for i in self.dirty}
        pages.update(p for p, oid in enumerate(self.page_oids) if oid is None)
        for p in sorted(pages):
            links = [Link.obj(o) for o in self.bucket_oids[p * PAGE:(p + 1) * PAGE]]
            states = [{k: v for k, v in sorted(c.items()) if v}
                      for c in self.bucket_counts[p * PAGE:(p + 1) * PAGE]]
            page = RunTaskPage(run_id=self.run_id, first=p * PAGE, buckets=links, states=states)
            self.page_oids[p] = b.put_object(page.to_value())
        manifest = RunManifest(
            run_id=self.run_id, run=Link.obj(self.record_oid), workflow=self.record.workflow,
            state=self.state, started_at=self.started_at, ended_at=self.ended_at,
            tasks=[], pages=[Link.obj(o) for o in self.page_oids], task_count=len(self.order),
            task_states={k: v for k, v in sorted(self.counts.items()) if v},
            audit=Link.obj(self.audit_head), audit_count=self.audit_count, updated_at=at,
            previous=Link.obj(self.manifest_oid) if self.manifest_oid else None)
        new_oid = b.put_object(manifest.to_value())
        b.set_ref(run_ref(self.run_id), self.manifest_oid, new_oid)
        if self.state_changed:
            put_index(b, self.run_id, self.record, self.state, self.indexed_state)
        return new_oid

    @property
    def terminal(self) -> bool:
        return self.state in RUN_TERMINAL


def put_index(b: WriteBatch, run_id: str, record: RunRecord, state: str,
              old: str | None) -> None:
    """Write a run's list-index entry and move it from `old`'s state key to `state`'s
    (and its count, engine/indexes/counters.py)."""
    b.meta_put(INDEX_NS, run_id, index_entry(record, state))
    if old is not None and old != state:
        b.meta_delete(STATE_NS, state_key(old, run_id))
    b.meta_put(STATE_NS, state_key(state, run_id), b"")
    counters.count_run_state(b, old, state)


def state_key(state: str, run_id: str) -> str:
    return f"{state}/{run_id}"


def index_entry(record: RunRecord, state: str) -> bytes:
    return json.dumps({"workflow": record.workflow, "state": state,
                       "created_at": record.created_at}, separators=(",", ":")).encode()
