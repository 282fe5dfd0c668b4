"""Schedules: cron slots that start runs, exactly one run per slot per store.

A schedule is a chain of `schedule_version` objects (engine/model.py); meta
`schedules/<name>` names the newest, moved by compare-and-swap, and the chain is its audit
trail. Meta `schedule-slots/<name>` holds the last slot handled; a process starts the run of
a slot only by moving that entry from what it read to the new slot in the transaction that
creates the run, so however many workers and servers tick on one store, one wins each slot.
Slots missed while nothing ticked follow the schedule's `catchup` (docs/schedules-and-triggers.md).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from wfobj.engine.clock import Clock, format_time, parse_time
from wfobj.engine.definitions.format import NAME_RE, STORED_TYPES
from wfobj.engine.definitions.params import check_parameters
from wfobj.engine.definitions.registry import WorkflowRegistry
from wfobj.engine.errors import EngineError, ScheduleError, UnknownSchedule
from wfobj.engine.layout import SCHEDULE_SLOTS_NS, SCHEDULES_NS
from wfobj.engine.model import Definition, ScheduleVersion, read
from wfobj.objstore import ConflictError, Link, ObjectStore, WriteBatch

from .starts import start_run

log = logging.getLogger(__name__)

CATCHUP = ("none", "latest", "all")
MAX_CATCHUP = 100  # `all`: at most this many missed slots start, the newest ones
ON_TIME_S = 60.0  # `none`: a slot starts at most this late, else it counts as missed
NEXT_SLOTS = 5  # how many coming slots a schedule's view lists
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
SCHEDULE_ACTOR = "schedule:"  # a scheduled run's triggered_by: "schedule:<name>"


# ---- cron and time zones -------------------------------------------------------------
def check_cron(expr: object) -> str:
    """A 5-field cron expression (minute hour day month weekday) or an @-macro."""
    if not isinstance(expr, str):
        raise ScheduleError("cron", expr, "must be a text")
    text = " ".join(expr.split())
    if not (text in MACROS or len(text.split(" ")) == 5) or not croniter.is_valid(text):
        raise ScheduleError("cron", expr, "not a cron expression (five fields: minute hour "
                            "day-of-month month day-of-week, or " + ", ".join(MACROS) + ")")
    return text


def check_timezone(name: object) -> ZoneInfo:
    """The IANA time zone `name` (e.g. Europe/Paris, UTC)."""
    if not isinstance(name, str) or not name:
        raise ScheduleError("timezone", name, "must be an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError("timezone", name, "not a known IANA time zone "
                            "(e.g. UTC, Europe/Paris)") from None


def check_catchup(value: object) -> str:
    if value not in CATCHUP:
        raise ScheduleError("catchup", value, "one of " + ", ".join(CATCHUP))
    return str(value)


def check_schedule_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ScheduleError("name", name, "letters, digits, _ and -, starting with a letter "
                            "or _ (at most 100)")
    return name


@dataclass(frozen=True)
class Cron:
    """A cron expression in a time zone: the slots it names, as UTC datetimes.

    When clocks fall back, the repeated hour's local times happen twice. An expression
    with fixed hours (`30 2 * * *`) has its slot once, at the first of them, as cron
    itself does; one that runs every hour (`*/30 * * * *`) has both, an hour apart."""

    expr: str
    zone: ZoneInfo

    @classmethod
    def of(cls, version: ScheduleVersion) -> Cron:
        return cls(version.cron, ZoneInfo(version.timezone))

    @functools.cached_property
    def fixed_hours(self) -> bool:
        return croniter(self.expr).expanded[1] != ["*"]

    def counts(self, slot: datetime) -> bool:
        """False for the second pass of a fixed-hours slot through a repeated hour."""
        # through UTC: fold is 1 exactly on the second pass (croniter's own fold is not)
        return not (self.fixed_hours and slot.astimezone(UTC).astimezone(self.zone).fold)

    def slots_after(self, after: datetime, now: datetime, limit: int) -> tuple[list[datetime], int]:
        """The newest `limit` slots in (after, now], oldest first, and how many older ones
        in that span were left out (counted up to 10×limit, then given as that bound)."""
        it = croniter(self.expr, (now + timedelta(seconds=1)).astimezone(self.zone))
        found: list[datetime] = []
        left_out = 0
        while len(found) + left_out < limit * 11:
            slot = it.get_prev(datetime)
            if slot > now:
                continue
            if slot <= after:
                break
            if not self.counts(slot):
                continue
            if len(found) < limit:
                found.append(slot)
            else:
                left_out += 1
        return [s.astimezone(after.tzinfo) for s in reversed(found)], left_out

    def next_slots(self, now: datetime, count: int) -> list[datetime]:
        it = croniter(self.expr, now.astimezone(self.zone))
        slots: list[datetime] = []
        while len(slots) < count:
            slot = it.get_next(datetime)
            if self.counts(slot):
                slots.append(slot.astimezone(now.tzinfo))
        return slots


# ---- the schedule book: versions, changes, views -------------------------------------
class ScheduleBook:
    """Schedules of one store: add, change, list, show."""

    def __init__(self, store: ObjectStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.registry = WorkflowRegistry(store, clock)

    # heads ---------------------------------------------------------------------------
    def head(self, name: str) -> str | None:
        raw = self.store.meta_get(SCHEDULES_NS, name)
        return None if raw is None else raw.decode()

    def current(self, name: str) -> tuple[str, ScheduleVersion]:
        """(oid, newest version) of a schedule that exists (not removed)."""
        oid = self.head(check_schedule_name(name))
        version = None if oid is None else read(self.store, oid, ScheduleVersion)
        if version is None or version.removed:
            raise UnknownSchedule(name)
        return oid, version

    def heads(self) -> Iterator[tuple[str, str]]:
        for name, raw in self.store.meta_scan(SCHEDULES_NS):
            yield name, raw.decode()

    # changes -------------------------------------------------------------------------
    def add(self, name: str, *, cron: str, workflow: str, parameters: dict | None,
            timezone: str, pin: bool, catchup: str, user: str) -> dict:
        """Create the schedule `name`, or change it (a new version) if it exists."""
        check_schedule_name(name)
        cron = check_cron(cron)
        check_timezone(timezone)
        catchup = check_catchup(catchup)
        _, wf = self.registry.newest(workflow)
        definition_oid, definition = self.registry.definition(wf.definition.oid)
        values = check_parameters(definition.params, parameters, self.store)
        keeps = [Link.blob(values[p]) if spec.type == "file" else Link.obj(values[p])
                 for p, spec in definition.params.items()
                 if spec.type in STORED_TYPES and values.get(p) is not None]
        given = dict(parameters or {})
        while True:
            head = self.head(name)
            old = None if head is None else read(self.store, head, ScheduleVersion)
            live = old is not None and not old.removed
            at = self.clock.stamp()
            version = ScheduleVersion(
                name=name, version=old.version + 1 if old else 1,
                change="updated" if live else "created", changed_by=user, changed_at=at,
                cron=cron, timezone=timezone, workflow=workflow, parameters=given,
                catchup=catchup, paused=old.paused if live else False, removed=False,
                since=at, keeps=keeps, definition=Link.obj(definition_oid) if pin else None,
                previous=Link.obj(head) if head else None)
            if self.write(name, head, version):
                return self.view(name)

    def set_paused(self, name: str, paused: bool, user: str) -> dict:
        """Pause or resume; resuming starts counting slots from now (none missed)."""
        while True:
            head, old = self.current(name)
            if old.paused == paused:
                return self.view(name)
            at = self.clock.stamp()
            version = replace(old, version=old.version + 1, changed_by=user, changed_at=at,
                              change="paused" if paused else "resumed", paused=paused,
                              since=old.since if paused else at, previous=Link.obj(head))
            if self.write(name, head, version):
                return self.view(name)

    def remove(self, name: str, user: str) -> dict:
        """End the schedule: a last `removed` version keeps its history."""
        while True:
            head, old = self.current(name)
            at = self.clock.stamp()
            version = replace(old, version=old.version + 1, changed_by=user, changed_at=at,
                              change="removed", removed=True, previous=Link.obj(head))
            if self.write(name, head, version):
                return {"name": name, "removed": True, "version": version.version}

    def write(self, name: str, head: str | None, version: ScheduleVersion) -> bool:
        try:
            with self.store.batch() as b:
                oid = b.put_object(version.to_value())
                b.meta_cas(SCHEDULES_NS, name, None if head is None else head.encode(),
                           oid.encode())
        except ConflictError:
            return False  # changed concurrently: read it again
        return True

    # views ---------------------------------------------------------------------------
    def view(self, name: str, *, history: bool = False) -> dict:
        oid, version = self.current(name)
        out = schedule_view(version, self.clock.now(), slot_state(self.store, name))
        if history:
            out["history"] = list(self.history(oid))
        return out

    def list(self) -> list[dict]:
        now = self.clock.now()
        out = []
        for name, oid in self.heads():
            version = read(self.store, oid, ScheduleVersion)
            if not version.removed:
                out.append(schedule_view(version, now, slot_state(self.store, name)))
        return out

    def history(self, head: str) -> Iterator[dict]:
        """Every change, newest first: who, when, what, and the fields it changed."""
        oid: str | None = head
        while oid is not None:
            version = read(self.store, oid, ScheduleVersion)
            before = (read(self.store, version.previous.oid, ScheduleVersion)
                      if version.previous else None)
            yield {"version": version.version, "change": version.change,
                   "changed_by": version.changed_by, "changed_at": version.changed_at,
                   "hash": oid, "old": _settings(before) if before else None,
                   "new": _settings(version)}
            oid = version.previous.oid if version.previous else None


def _settings(version: ScheduleVersion) -> dict:
    """What a user set on a schedule version (the audit's old and new)."""
    return {"cron": version.cron, "timezone": version.timezone, "workflow": version.workflow,
            "parameters": version.parameters, "catchup": version.catchup,
            "pinned": version.definition.oid if version.definition else None,
            "paused": version.paused, "removed": version.removed}


def schedule_view(version: ScheduleVersion, now: datetime, state: dict | None) -> dict:
    cron = Cron.of(version)
    return {"name": version.name, "version": version.version, "change": version.change,
            **_settings(version),
            "since": version.since, "changed_by": version.changed_by,
            "changed_at": version.changed_at,
            "next_slots": [] if version.paused else
            [format_time(s) for s in cron.next_slots(now, NEXT_SLOTS)],
            "last": state}


def slot_state(store: ObjectStore, name: str) -> dict | None:
    """{"slot", "run_id", "error", "missed"}: the last slot handled, or None; `missed`
    counts the slots left out by the catch-up that handled it."""
    raw = store.meta_get(SCHEDULE_SLOTS_NS, name)
    return None if raw is None else json.loads(raw)


def _encode(state: dict) -> bytes:
    return json.dumps(state, separators=(",", ":"), sort_keys=True).encode()


# ---- the tick: start each due slot's run, once ---------------------------------------
@dataclass
class _Watch:
    """What a ticker remembers of one schedule: nothing is due before `due`."""

    head: str
    due: datetime


class SlotKeeper:
    """Starts the runs of due slots. `tick()` reads the schedule heads (one meta scan) and
    looks closer only at a schedule whose head changed or whose next slot has come."""

    def __init__(self, store: ObjectStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.book = ScheduleBook(store, clock)
        self.watch: dict[str, _Watch] = {}

    def tick(self) -> list[str]:
        """Start the runs of every due slot; returns their run ids."""
        now = self.clock.now()
        started: list[str] = []
        names = set()
        for name, head in self.book.heads():
            names.add(name)
            seen = self.watch.get(name)
            if seen is not None and seen.head == head and now < seen.due:
                continue
            try:
                started += self.handle(name, head, now)
            except Exception:  # noqa: BLE001 - one bad schedule must not stop the others
                log.exception("schedule %s: tick failed", name)
        for gone in set(self.watch) - names:
            del self.watch[gone]
        return started

    def handle(self, name: str, head: str, now: datetime) -> list[str]:
        version = read(self.store, head, ScheduleVersion)
        if version.removed or version.paused:
            self.watch[name] = _Watch(head, datetime.max.replace(tzinfo=now.tzinfo))
            return []
        cron = Cron.of(version)
        started = self.fire_due(name, version, cron, now)
        self.watch[name] = _Watch(head, cron.next_slots(now, 1)[0])
        return started

    def fire_due(self, name: str, version: ScheduleVersion, cron: Cron,
                 now: datetime) -> list[str]:
        raw = self.store.meta_get(SCHEDULE_SLOTS_NS, name)
        state = None if raw is None else json.loads(raw)
        after = parse_time(version.since)
        if state is not None:
            after = max(after, parse_time(state["slot"]))
        due, left_out = cron.slots_after(after, now, MAX_CATCHUP)
        if not due:
            return []
        fire = {"all": due, "latest": due[-1:],
                "none": [s for s in due[-1:] if (now - s).total_seconds() <= ON_TIME_S]}
        chosen = fire[version.catchup]
        missed = left_out + len(due) - len(chosen)
        if not chosen:
            self.skip(name, raw, due[-1], missed)
            return []
        started = []
        for slot in chosen:
            result = self.fire(name, version, raw, slot, missed)
            if result is None:
                break  # another process took this slot: it handles the rest
            raw, run_id = result
            if run_id is not None:
                started.append(run_id)
        return started

    def skip(self, name: str, raw: bytes | None, slot: datetime, missed: int) -> None:
        state = {"slot": format_time(slot), "run_id": None, "error": None, "missed": missed}
        if self.store.meta_cas(SCHEDULE_SLOTS_NS, name, raw, _encode(state)):
            log.warning("schedule %s: %d slot(s) missed, none started (catchup none)",
                        name, missed)

    def fire(self, name: str, version: ScheduleVersion, raw: bytes | None, slot: datetime,
             missed: int) -> tuple[bytes, str | None] | None:
        """Start the run of `slot` if the slot entry is still `raw`: (new entry, run id),
        (new entry, None) if the run could not start (the error is kept in the entry),
        None if another process moved the entry first."""
        at = format_time(slot)
        entry: dict = {}

        def claim(b: WriteBatch, run_id: str) -> None:
            entry["raw"] = _encode({"slot": at, "run_id": run_id, "error": None,
                                    "missed": missed})
            b.meta_cas(SCHEDULE_SLOTS_NS, name, raw, entry["raw"])

        try:
            oid, definition = self.definition(version)
            run = start_run(self.store, self.clock, definition_oid=oid, definition=definition,
                            parameters=version.parameters, started_by=SCHEDULE_ACTOR + name,
                            trigger={"kind": "schedule", "schedule": name, "slot": at,
                                     "version": version.version}, claim=claim)
        except ConflictError:
            return None
        except EngineError as exc:  # the workflow changed under the schedule: keep why
            log.warning("schedule %s: slot %s started no run: %s", name, at, exc)
            failed = _encode({"slot": at, "run_id": None, "error": str(exc), "missed": missed})
            if not self.store.meta_cas(SCHEDULE_SLOTS_NS, name, raw, failed):
                return None
            return failed, None
        log.info("schedule %s: slot %s started run %s", name, at, run.run_id)
        return entry["raw"], run.run_id

    def definition(self, version: ScheduleVersion) -> tuple[str, Definition]:
        """(hash, definition) a slot of `version` runs: the pinned one, else the newest."""
        if version.definition is not None:
            return self.book.registry.definition(version.definition.oid)
        _, wf = self.book.registry.newest(version.workflow)
        return self.book.registry.definition(wf.definition.oid)
