"""Posting a run's OpenLineage events to an HTTP endpoint while it runs.

A worker calls `OpenLineageFeed.step(store, run_id)` at every scheduler step. The feed
keeps, per run, the newest manifest whose events all went out (its cursor); when the
run's manifest has moved on, it posts the events of what changed between the two
(engine/runs/changes.py): the run's START on the first look, a START and an end event for
each attempt recorded since, and the run's end event once it has ended — the events of the
export (engine/provenance/exports/openlineage.py), built by the same functions, with the
`openlineage-python` HTTP transport (`POST <url>/api/v1/lineage`, the endpoint Marquez
serves). A look reads the changed pages, buckets and new attempts only, so a step of a
100,000-instance run costs what that step changed; the run's end event, which names every
output of the run, reads each task's last attempt once, when the run ends.

Best effort: an event the endpoint refuses is logged and the look is tried again at the
next step, never failing the run. The events of a look already posted are remembered
until the look completes (so none is posted twice); the feed remembers the cursors of the
last `KEPT_RUNS` runs it looked at.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wfobj.engine.model import RunManifest, TaskFileInput, read
from wfobj.engine.runs.changes import changed_rows
from wfobj.engine.runs.rows import RunHead
from wfobj.engine.runs.state import run_ref
from wfobj.objstore import ObjectStore, RefNotFound

from .run_stream import Attempt, Content, RunStream, run_stream_of

if TYPE_CHECKING:  # openlineage-python takes about a second to import: only when used
    from openlineage.client.event_v2 import RunEvent

log = logging.getLogger(__name__)
RETRY = {"total": 1, "backoff_factor": 0.1, "status_forcelist": [500, 502, 503, 504]}
KEPT_RUNS = 1024  # runs whose cursor is kept (a worker drives one run at a time)


@dataclass
class Cursor:
    """Where the feed stands on one run: the newest manifest all of whose events went
    out, and the events of the look in progress already posted."""

    manifest: str | None = None
    sent: set[tuple[str, str]] = field(default_factory=set)


class OpenLineageFeed:
    """Sends each (run id, event type) once per worker process. `emit` posts one event
    (default: the openlineage-python HTTP transport to `url`)."""

    def __init__(self, url: str, *, endpoint: str = "api/v1/lineage", timeout: float = 5.0,
                 emit: Callable[[RunEvent], None] | None = None) -> None:
        self.url, self.endpoint, self.timeout = url, endpoint, timeout
        self._transport = None  # made on first use: after a worker process forks
        self._emit = emit
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()

    def transport(self):
        if self._transport is None:
            from openlineage.client.transport.http import HttpConfig, HttpTransport

            self._transport = HttpTransport(HttpConfig(
                url=self.url, endpoint=self.endpoint, timeout=self.timeout, retry=RETRY))
        return self._transport

    def emit(self, event: RunEvent) -> None:
        if self._emit is not None:
            self._emit(event)
        else:
            self.transport().emit(event)

    def step(self, store: ObjectStore, run_id: str) -> None:
        """Post what is new about `run_id` since its cursor (everything on a first look)."""
        cursor = self.cursor(run_id)
        try:
            if store.get_ref(run_ref(run_id)) == cursor.manifest:
                return
        except (RefNotFound, ValueError):
            pass  # RunHead.load names the unknown run
        head = RunHead.load(store, run_id)
        if head.manifest_oid == cursor.manifest:
            return
        old = read(store, cursor.manifest, RunManifest) if cursor.manifest else None
        if self.post(run_id, cursor, events_since(run_stream_of(store, head), old)):
            cursor.manifest, cursor.sent = head.manifest_oid, set()

    def cursor(self, run_id: str) -> Cursor:
        cursor = self.cursors.pop(run_id, None) or Cursor()
        self.cursors[run_id] = cursor  # newest last; the oldest forgotten past KEPT_RUNS
        while len(self.cursors) > KEPT_RUNS:
            self.cursors.popitem(last=False)
        return cursor

    def post(self, run_id: str, cursor: Cursor, events: Iterator[RunEvent]) -> bool:
        """Post the events not sent yet; True when every one went through."""
        for event in events:
            key = (event.run.runId, event.eventType.value)
            if key in cursor.sent:
                continue
            try:
                self.emit(event)
            except Exception as exc:  # noqa: BLE001 - the feed never fails a run
                log.warning("OpenLineage feed to %s: run %s event %s not sent: %s",
                            self.url, run_id, key[1], exc)
                return False
            cursor.sent.add(key)
        return True


def events_since(run: RunStream, old: RunManifest | None) -> Iterator[RunEvent]:
    """The events of what changed since manifest `old` (None: the run's first look):
    the run's START, each new attempt's START and end, the run's end once it has ended."""
    from openlineage.client.event_v2 import RunState

    from .openlineage import END_EVENT, attempt_events, producer_uri, run_event

    producer = producer_uri(run.engine_version)
    if old is None:
        yield run_event(run, RunState.START, run.started_at or run.created_at, producer)
    upstream = Upstream(run)
    for change in changed_rows(run.store, old, run.head.manifest):
        for oid in change.new_attempts():
            yield from attempt_events(run, run.attempt(oid, upstream.of(change.row["name"])),
                                      producer)
    if run.terminal:
        yield run_event(run, END_EVENT[run.state], run.ended_at, producer)


class Upstream:
    """The latest outputs of the definition tasks a task takes a file from (what an
    input from inside another task's output directory names, as the export's walk
    finds it), read from those tasks' rows only."""

    def __init__(self, run: RunStream) -> None:
        self.run = run
        self.outputs: dict[str, tuple[Content, ...]] = {}

    def of(self, task: str) -> dict[str, tuple[Content, ...]]:
        spec = self.run.definition.tasks.get(task)
        if spec is None:  # an instance: its inputs are never named that way
            return {}
        needed = {i.task for i in spec.inputs.values() if isinstance(i, TaskFileInput)}
        return {name: self.latest(name) for name in needed}

    def latest(self, task: str) -> tuple[Content, ...]:
        if task not in self.outputs:
            entry = self.run.head.find(task)
            last: Attempt | None = (self.run.attempt(entry.attempts[-1], {})
                                    if entry is not None and entry.attempts else None)
            self.outputs[task] = last.outputs if last is not None else ()
        return self.outputs[task]
