"""Creating runs and ending them from outside the scheduler (kill while pending, recovery).

Trigger writes, in one transaction: the run record, the first manifest (every task
pending), the first audit event, `runs/<run_id>`, the list index entry and the queue entry.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from wfobj.engine.clock import Clock, format_time
from wfobj.engine.definitions.format import STORED_TYPES
from wfobj.engine.errors import InvalidStoredObject, ParameterError, RunAlreadyTerminal
from wfobj.engine.indexes import lineage
from wfobj.engine.layout import INDEX_NS, KILL_NS, QUEUE_NS, STATE_INDEX_MARK, STATE_NS
from wfobj.engine.model import Definition, ParamDefinition, RunRecord
from wfobj.engine.states import TASK_TERMINAL, RunStatus, TaskStatus
from wfobj.objstore import ConflictError, Link, MissingLinks, ObjectStore, WriteBatch

from .state import RunState, index_entry, put_index, state_key

_last_uuid7 = [0, 0]  # (ms, sub-ms) of the newest id made by this process
_uuid7_lock = threading.Lock()


def uuid7(now_us: int | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix ms, 12 bits of sub-millisecond time (method 3,
    kept strictly increasing within the process), random rest. Id order is time order."""
    us = int(time.time() * 1_000_000) if now_us is None else now_us
    ms, sub = divmod(us, 1000)
    sub = sub * 4  # 0..3996 of 4096
    with _uuid7_lock:
        if (ms, sub) <= tuple(_last_uuid7):
            ms, sub = _last_uuid7[0], _last_uuid7[1] + 1
            if sub > 0xFFF:
                ms, sub = ms + 1, 0
        _last_uuid7[:] = [ms, sub]
    rand = int.from_bytes(secrets.token_bytes(8), "big") & (2**62 - 1)
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | sub << 64 | 0b10 << 62 | rand
    return str(uuid.UUID(int=value))


def create_run(store: ObjectStore, clock: Clock, *, definition_oid: str, definition: Definition,
               parameters: dict, user: str, engine_version: str,
               origin: dict | None = None,
               claim: Callable[[WriteBatch, str], None] | None = None,
               queue: bool = True) -> RunState:
    """Record a new pending run and queue it; returns its state. `origin` adds the
    record's optional fields (`cache`, `resumes`, `reproduces`, `image_pins`, `trigger`).
    `claim(batch, run_id)` adds writes (compare-and-swaps) to the run's own transaction:
    the run exists only if they succeed (ConflictError otherwise), as a schedule's slot
    or a data trigger's content is claimed."""
    now = clock.now()
    at = format_time(now)
    run_id = uuid7(int(now.timestamp() * 1_000_000))
    record = RunRecord(run_id=run_id, workflow=definition.name,
                       definition=Link.obj(definition_oid), engine_version=engine_version,
                       triggered_by=user, created_at=at, parameters=parameters, **(origin or {}))
    run = RunState.new(run_id, record, definition)
    try:
        with run.change(store, at) as b:
            run.record_oid = b.put_object(record.to_value())
            run.audit(b, at=at, actor=user, event="run_created", old=None,
                      new=RunStatus.PENDING, reason=f"triggered with definition {definition_oid}")
            if queue:  # a sub-workflow's child run is driven by its parent's scheduler instead
                b.meta_put(QUEUE_NS, run_id, b"1")
            if claim is not None:
                claim(b, run_id)
            lineage.index_parameters(store, b, run_id, definition.params, parameters)
            for oid in stored_values(definition.params, parameters):
                b.need(oid)  # named by hash, not linked: stamped so a gc running now keeps it
    except MissingLinks as exc:
        raise missing_parameter(definition.params, parameters, exc) from None
    return run


def missing_parameter(params: dict[str, ParamDefinition], values: dict,
                      exc: MissingLinks) -> Exception:
    """A trigger's file or dir that gc removed after it was checked: ParameterError
    naming the param (the exception itself if what is missing is something else)."""
    for name, spec in params.items():
        if spec.type in STORED_TYPES and values.get(name) in exc.missing:
            return ParameterError(name, f"{spec.type} {values[name]} is not in the store "
                                        "(removed by gc; upload it again)")
    return exc


def stored_values(params: dict[str, ParamDefinition], values: dict) -> list[str]:
    """The hashes among `values` of `file` and `dir` params (the objects a run reads)."""
    return [values[name] for name, spec in params.items()
            if spec.type in STORED_TYPES and values.get(name) is not None]


def kill_pending(store: ObjectStore, clock: Clock, run_id: str, user: str) -> RunState | None:
    """Kill a run no worker has claimed yet, at once. None if a worker holds it."""
    run = RunState.load(store, run_id)
    if run.terminal:
        raise RunAlreadyTerminal(run_id, run.state)
    if store.meta_get(QUEUE_NS, run_id) is None:
        return None
    at = clock.stamp()
    try:
        with run.change(store, at) as b:
            b.meta_cas(QUEUE_NS, run_id, b"1", None)
            end_run(run, b, at=at, actor=user, state=RunStatus.KILLED,
                    reason=f"killed by {user} before it started")
    except ConflictError:
        return None  # claimed (or changed) meanwhile: the worker handles the kill
    return run


def request_kill(store: ObjectStore, clock: Clock, run_id: str, user: str) -> None:
    """Ask the worker running `run_id` to stop it (it polls this every step)."""
    value = json.dumps({"user": user, "at": clock.stamp()}).encode()
    store.meta_cas(KILL_NS, run_id, None, value)


def kill_request(store: ObjectStore, run_id: str) -> dict | None:
    raw = store.meta_get(KILL_NS, run_id)
    return None if raw is None else json.loads(raw)


def end_run(run: RunState, b, *, at: str, actor: str, state: str, reason: str,
            running_to: TaskStatus = TaskStatus.FAILED, skip: str | None = "stopped") -> None:
    """Finish every open task (running → `running_to`, pending → skipped, the audit
    event's `skip` kind `stopped`: the run ended first) and the run, in the caller's
    `run.change()` batch `b`.

    Each task of the definition, and each running instance, gets its own `task_state`
    event; a fanned-out task's pending instances get one `instances_state` event
    together (task: the fanned-out task, reason: how many), so ending a run of 100,000
    pending instances writes a few audit events, not 100,000. Their rows still say
    `skipped` and the skip kind, each (engine/runs/state.py)."""
    instance_rows = set()
    for name in list(run.order):
        entry = run.tasks[name]
        if entry.instances is not None:
            first, count = entry.instances
            instance_rows.update(run.order[first:first + count])
    for name in run.order:
        if name not in instance_rows:
            end_task(run, b, name, at=at, actor=actor, reason=reason, running_to=running_to,
                     skip=skip)
    for name in [n for n in run.order if run.tasks[n].instances is not None]:
        end_instances(run, b, name, at=at, actor=actor, reason=reason, running_to=running_to,
                      skip=skip)
    run.audit(b, at=at, actor=actor, event="run_state", old=run.state, new=state, reason=reason)
    run.set_state(state, at)


def end_task(run: RunState, b, name: str, *, at: str, actor: str, reason: str,
             running_to: TaskStatus, skip: str | None) -> None:
    """One open task or instance finished, with its own audit event."""
    entry = run.tasks[name]
    if entry.state in TASK_TERMINAL:
        return
    new = running_to if entry.state == TaskStatus.RUNNING else TaskStatus.SKIPPED
    run.audit(b, at=at, actor=actor, event="task_state", old=entry.state, new=new,
              task=name, reason=reason, skip=skip if new == TaskStatus.SKIPPED else None)
    run.set_task(name, new, skip)


def end_instances(run: RunState, b, task: str, *, at: str, actor: str, reason: str,
                  running_to: TaskStatus, skip: str | None) -> None:
    """Fanned-out `task`'s open instances finished: each running one with its own audit
    event, the pending ones skipped under one `instances_state` event."""
    spread = run.tasks[task].instances
    assert spread is not None
    first, count = spread
    pending = 0
    for name in run.order[first:first + count]:
        entry = run.tasks[name]
        if entry.state == TaskStatus.PENDING:
            run.set_task(name, TaskStatus.SKIPPED, skip)
            pending += 1
        else:
            end_task(run, b, name, at=at, actor=actor, reason=reason, running_to=running_to,
                     skip=skip)
    if pending:
        run.audit(b, at=at, actor=actor, event="instances_state", old=TaskStatus.PENDING,
                  new=TaskStatus.SKIPPED, task=task, skip=skip,
                  reason=f"{reason} ({pending} pending instance{'s' if pending != 1 else ''} "
                         f"of {task} skipped)")


def index_run(store: ObjectStore, run_id: str) -> bool:
    """(Re)build the list index entry of a run from its ref; False if it has none (or
    what it points at is not a run the engine can read)."""
    try:
        run = RunState.load(store, run_id)
    except (KeyError, InvalidStoredObject):
        return False
    entry = index_entry(run.record, run.state)
    current = store.meta_get(INDEX_NS, run_id)
    if current != entry or store.meta_get(STATE_NS, state_key(run.state, run_id)) is None:
        old = json.loads(current)["state"] if current is not None else None
        with store.batch() as b:
            put_index(b, run_id, run.record, run.state, old)
    return True


_STATE_INDEX_BATCH = 1000


def scan_index(store: ObjectStore, state: str | None,
               after: str | None) -> Iterator[tuple[str, dict]]:
    """(run_id, list-index entry) newest first, after the run id `after`; with `state`,
    only runs the by-state index files under it (re-checked against the entry, so a
    stale key is never reported)."""
    if state is None:
        for run_id, raw in store.meta_scan(INDEX_NS, start_after=after, reverse=True):
            yield run_id, json.loads(raw)
        return
    ensure_state_index(store)
    prefix = state_key(state, "")
    start = None if after is None else state_key(state, after)
    for key, _ in store.meta_scan(STATE_NS, prefix, start_after=start, reverse=True):
        run_id = key[len(prefix):]
        raw = store.meta_get(INDEX_NS, run_id)
        if raw is not None and (entry := json.loads(raw))["state"] == state:
            yield run_id, entry


def scan_prefix(store: ObjectStore, prefix: str, state: str | None,
                after: str | None) -> Iterator[tuple[str, dict]]:
    """Like scan_index, for the run ids starting with `prefix` only."""
    for run_id, raw in store.meta_scan(INDEX_NS, prefix, start_after=after, reverse=True):
        entry = json.loads(raw)
        if state is None or entry["state"] == state:
            yield run_id, entry


def ensure_state_index(store: ObjectStore) -> None:
    """Build the by-state index from the list index once, for stores made before it
    existed. Idempotent, so processes racing to do it agree."""
    if store.meta_get(*STATE_INDEX_MARK) is not None:
        return
    entries = store.meta_scan(INDEX_NS)
    while chunk := list(itertools.islice(entries, _STATE_INDEX_BATCH)):
        with store.batch() as b:
            for run_id, raw in chunk:
                b.meta_put(STATE_NS, state_key(json.loads(raw)["state"], run_id), b"")
    with store.batch() as b:
        b.meta_put(*STATE_INDEX_MARK, b"1")
