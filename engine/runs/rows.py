"""A run read for a view, without its whole task table: the manifest, the record and the
definition at once, rows only as asked (engine/runs/state.py stores them in pages of
buckets). What a view of a run of 100,000 instances costs: the manifest, a page and the
buckets of the rows it shows; finding one instance `TASK[KEY]` reads its task's row and
then about log2(instances / 64) buckets (instances are rows in item order, so an index
KEY is looked up directly and an entry name by bisection).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wfobj.engine.definitions.fanout import base_task, instance_key
from wfobj.engine.definitions.graph import TaskGraph
from wfobj.engine.errors import UnknownRun
from wfobj.engine.model import DIR, Definition, RunManifest, RunRecord, RunTaskPage, RunTasks, read
from wfobj.objstore import ObjectStore, RefNotFound

from .state import BUCKET, PAGE, TaskEntry, run_ref

CACHED_BUCKETS = 64  # buckets one reader keeps (a page of a listing reads a few)


@dataclass
class RunRows:
    """The rows of a run's task table, read bucket by bucket as asked."""

    store: ObjectStore
    manifest: RunManifest
    _pages: dict[int, list[str]] = field(default_factory=dict)
    _page_states: dict[int, list[dict] | None] = field(default_factory=dict)
    _buckets: dict[int, list[dict]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.manifest.task_count or 0

    def bucket_oid(self, index: int) -> str:
        if self.manifest.pages is None:  # a manifest from before pages
            return self.manifest.tasks[index].oid
        return self._page(index // PAGE)[index % PAGE]

    def _page(self, number: int) -> list[str]:
        page = self._pages.get(number)
        if page is None:
            stored = read(self.store, self.manifest.pages[number].oid, RunTaskPage)
            page = self._pages[number] = [b.oid for b in stored.buckets]
            self._page_states[number] = stored.states
        return page

    def bucket_states(self, index: int) -> dict[str, int] | None:
        """Bucket `index`'s rows by state, from its page (no bucket read), or None when
        its page does not keep them (written before pages did)."""
        if self.manifest.pages is None:
            return None
        self._page(index // PAGE)
        states = self._page_states.get(index // PAGE)
        return None if states is None else states[index % PAGE]

    def bucket(self, index: int) -> list[dict]:
        rows = self._buckets.get(index)
        if rows is None:
            if len(self._buckets) >= CACHED_BUCKETS:
                self._buckets.clear()
            rows = self._buckets[index] = read(self.store, self.bucket_oid(index), RunTasks).tasks
        return rows

    def row(self, position: int) -> dict:
        return self.bucket(position // BUCKET)[position % BUCKET]

    def rows(self, start: int, stop: int) -> list[dict]:
        """Rows start ≤ position < stop (clipped to the table)."""
        stop = min(stop, self.count)
        out: list[dict] = []
        position = max(0, start)
        while position < stop:
            bucket = self.bucket(position // BUCKET)
            offset = position % BUCKET
            take = bucket[offset:offset + stop - position]
            out.extend(take)
            position += len(take)
        return out


@dataclass
class RunHead:
    """A run as a view reads it: manifest, record, definition, and its rows on demand."""

    run_id: str
    manifest_oid: str
    manifest: RunManifest
    record: RunRecord
    definition: Definition
    rows: RunRows
    _order: list[str] | None = None

    @classmethod
    def load(cls, store: ObjectStore, run_id: str) -> RunHead:
        try:
            oid = store.get_ref(run_ref(run_id))
        except (RefNotFound, ValueError):
            raise UnknownRun(run_id) from None
        m = read(store, oid, RunManifest)
        record = read(store, m.run.oid, RunRecord)
        definition = read(store, record.definition.oid, Definition)
        return cls(m.run_id, oid, m, record, definition, RunRows(store, m))

    @property
    def state(self) -> str:
        return self.manifest.state

    def task_order(self) -> list[str]:
        """The definition's tasks in the order of the table's first rows."""
        if self._order is None:
            self._order = TaskGraph.of(self.definition.tasks).order()
        return self._order

    def states(self) -> dict[str, int]:
        """Rows by state: from the manifest, or counted for one written before it kept them."""
        if self.manifest.task_states is not None:
            return dict(self.manifest.task_states)
        counts: dict[str, int] = {}
        for row in self.rows.rows(0, self.rows.count):
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        return counts

    def find(self, name: str) -> TaskEntry | None:
        """The row of task or instance `name`, or None."""
        key = instance_key(name)
        task = base_task(name)
        if task not in self.definition.tasks:
            return None
        position = self.task_order().index(task)
        if key is None:
            return self._entry(position, name)
        parent = TaskEntry.of_row(self.rows.row(position))
        if parent.instances is None:
            return None
        first, count = parent.instances
        return self._entry(self._instance_position(task, key, first, count), name)

    def _entry(self, position: int | None, name: str) -> TaskEntry | None:
        if position is None or not 0 <= position < self.rows.count:
            return None
        row = self.rows.row(position)
        return TaskEntry.of_row(row) if row["name"] == name else None

    def _instance_position(self, task: str, key: str, first: int, count: int) -> int | None:
        each = self.definition.tasks[task].for_each
        by_name = each.file is not None or (
            each.param is not None and self.definition.params[each.param].type == DIR)
        if not by_name:  # list and var items: KEY is the index
            return first + int(key) if key.isdigit() and int(key) < count else None
        lo, hi, wanted = first, first + count, key.encode()
        while lo < hi:  # entry names in byte order, as trees keep them
            mid = (lo + hi) // 2
            if instance_key(self.rows.row(mid)["name"]).encode() < wanted:
                lo = mid + 1
            else:
                hi = mid
        return lo
