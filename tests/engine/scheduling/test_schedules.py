"""Schedules on a real LMDB store with a hand-moved clock: slots, catch-up, pause, the
audit chain, and two keepers racing for the same slot."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.support_engine import task
from wfobj.engine.clock import Clock
from wfobj.engine.errors import ParameterError, ScheduleError, UnknownSchedule, UnknownWorkflow
from wfobj.engine.scheduling.schedules import MAX_CATCHUP, Cron, SlotKeeper
from wfobj.engine.service import WorkflowService

WF = {"params": {"n": {"type": "int", "default": 1}}, "tasks": {"a": task()}}


class HandClock(Clock):
    """Time that moves only when a test says so."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def epoch(self) -> float:
        return self.at.timestamp()

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


START = datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC)


@pytest.fixture
def setup(lmdb_store):
    store = lmdb_store
    clock = HandClock(START)
    svc = WorkflowService(store, clock=clock)
    svc.apply_workflow("wf", WF, user="alice")
    return store, clock, svc


def runs_of(svc: WorkflowService) -> list[dict]:
    return list(reversed(svc.list_runs(limit=1000)["runs"]))


def test_each_slot_starts_one_run_recording_the_schedule_and_the_slot(setup):
    store, clock, svc = setup
    svc.add_schedule("every5", cron="*/5 * * * *", workflow="wf", parameters={"n": 7},
                     user="admin")
    keeper = SlotKeeper(store, clock)
    assert keeper.tick() == []  # 09:00 is before the schedule existed
    clock.advance(minutes=4, seconds=29)  # 09:04:59
    assert keeper.tick() == []
    clock.advance(seconds=2)  # 09:05:01
    [run_id] = keeper.tick()
    assert keeper.tick() == []  # the same slot never twice
    run = svc.get_run(run_id)
    assert run["triggered_by"] == "schedule:every5"
    assert run["parameters"] == {"n": 7}
    assert run["trigger"] == {"kind": "schedule", "schedule": "every5",
                              "slot": "2026-12-01T09:05:00.000000Z", "version": 1}
    clock.advance(minutes=5)
    assert len(keeper.tick()) == 1
    assert [r["trigger"]["slot"][11:16] for r in runs_of(svc)] == ["09:05", "09:10"]
    assert svc.get_schedule("every5")["last"]["slot"] == "2026-12-01T09:10:00.000000Z"


def test_time_zones_place_slots_in_local_time(setup):
    store, clock, svc = setup
    view = svc.add_schedule("paris", cron="0 11 * * *", workflow="wf", timezone="Europe/Paris",
                            user="admin")
    assert view["next_slots"][0] == "2026-12-01T10:00:00.000000Z"  # 11:00 CET
    clock.advance(hours=1)  # 10:00:30 UTC
    [run_id] = SlotKeeper(store, clock).tick()
    assert svc.get_run(run_id)["trigger"]["slot"] == "2026-12-01T10:00:00.000000Z"


@pytest.mark.parametrize(("catchup", "expected"), [
    ("none", []), ("latest", ["11:55"]),
    ("all", [f"{h:02d}:{m:02d}" for h in (9, 10, 11) for m in range(0, 60, 5)][1:])])
def test_missed_slots_after_downtime_follow_catchup(setup, catchup, expected):
    store, clock, svc = setup
    svc.add_schedule("s", cron="*/5 * * * *", workflow="wf", catchup=catchup, user="admin")
    clock.advance(hours=2, minutes=57)  # 11:57:30: 35 slots passed while nothing ticked
    SlotKeeper(store, clock).tick()
    assert [r["trigger"]["slot"][11:16] for r in runs_of(svc)] == expected
    last = svc.get_schedule("s")["last"]
    assert last["slot"] == "2026-12-01T11:55:00.000000Z"
    assert last["missed"] == 35 - len(expected)


def test_catchup_all_is_bounded(setup):
    store, clock, svc = setup
    svc.add_schedule("s", cron="* * * * *", workflow="wf", catchup="all", user="admin")
    clock.advance(hours=5)
    started = SlotKeeper(store, clock).tick()
    assert len(started) == MAX_CATCHUP
    assert svc.get_schedule("s")["last"]["slot"] == "2026-12-01T14:00:00.000000Z"
    assert svc.get_schedule("s")["last"]["missed"] == 300 - MAX_CATCHUP


def test_none_still_starts_a_slot_a_little_late(setup):
    store, clock, svc = setup
    svc.add_schedule("s", cron="*/5 * * * *", workflow="wf", user="admin")
    clock.advance(minutes=5, seconds=20)  # 09:05:50: the 09:05 slot is 50 s old
    assert len(SlotKeeper(store, clock).tick()) == 1


def test_paused_schedules_start_nothing_and_resume_skips_what_passed(setup):
    store, clock, svc = setup
    svc.add_schedule("s", cron="*/5 * * * *", workflow="wf", catchup="all", user="admin")
    keeper = SlotKeeper(store, clock)
    assert svc.pause_schedule("s", user="bob")["next_slots"] == []
    clock.advance(minutes=30)
    assert keeper.tick() == []
    svc.resume_schedule("s", user="carol")
    clock.advance(minutes=1)  # 09:31:30
    assert keeper.tick() == []  # slots of the pause never start, even with catchup all
    clock.advance(minutes=4)
    assert len(keeper.tick()) == 1


def test_changes_are_audited_with_who_when_old_and_new(setup):
    store, clock, svc = setup
    svc.add_schedule("s", cron="0 * * * *", workflow="wf", user="alice")
    clock.advance(minutes=1)
    svc.add_schedule("s", cron="30 * * * *", workflow="wf", catchup="latest", user="bob")
    svc.pause_schedule("s", user="carol")
    history = svc.get_schedule("s")["history"]
    assert [(h["version"], h["change"], h["changed_by"]) for h in history] == [
        (3, "paused", "carol"), (2, "updated", "bob"), (1, "created", "alice")]
    assert history[1]["old"]["cron"] == "0 * * * *"
    assert history[1]["new"]["cron"] == "30 * * * *"
    assert history[1]["changed_at"] == "2026-12-01T09:01:30.000000Z"
    assert history[2]["old"] is None
    svc.remove_schedule("s", user="dave")
    assert svc.list_schedules() == []
    with pytest.raises(UnknownSchedule):
        svc.get_schedule("s")
    # made again, its chain keeps the old history
    svc.add_schedule("s", cron="0 * * * *", workflow="wf", user="erin")
    assert [h["change"] for h in svc.get_schedule("s")["history"]] == [
        "created", "removed", "paused", "updated", "created"]


def test_pinned_schedules_keep_their_definition(setup):
    store, clock, svc = setup
    pinned = svc.get_workflow("wf")["definition_hash"]
    svc.add_schedule("pin", cron="*/5 * * * *", workflow="wf", pin=True, user="admin")
    svc.add_schedule("newest", cron="*/5 * * * *", workflow="wf", user="admin")
    svc.apply_workflow("wf", {"tasks": {"b": task()}}, user="alice")
    clock.advance(minutes=5)
    SlotKeeper(store, clock).tick()
    by = {r["triggered_by"]: r["definition_hash"] for r in runs_of(svc)}
    assert by["schedule:pin"] == pinned
    assert by["schedule:newest"] == svc.get_workflow("wf")["definition_hash"]


@pytest.mark.parametrize(("fields", "named"), [
    ({"cron": "61 * * * *"}, "cron"), ({"cron": "* * * *"}, "cron"),
    ({"cron": "* * * * * *"}, "cron"), ({"cron": "@reboot"}, "cron"),
    ({"timezone": "Mars/Olympus"}, "timezone"), ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"catchup": "some"}, "catchup")])
def test_invalid_cron_timezone_or_catchup_is_refused_naming_it(setup, fields, named):
    _, _, svc = setup
    args = {"cron": "0 * * * *", "workflow": "wf", **fields}
    with pytest.raises(ScheduleError) as err:
        svc.add_schedule("bad", user="admin", **args)
    assert err.value.field == named and named in str(err.value)
    assert svc.list_schedules() == []


def test_unknown_workflow_or_bad_parameters_are_refused(setup):
    _, _, svc = setup
    with pytest.raises(UnknownWorkflow):
        svc.add_schedule("s", cron="0 * * * *", workflow="nope", user="admin")
    with pytest.raises(ParameterError):
        svc.add_schedule("s", cron="0 * * * *", workflow="wf", parameters={"n": "x"},
                         user="admin")


def test_a_slot_whose_run_cannot_start_is_kept_with_its_error(setup):
    store, clock, svc = setup
    svc.add_schedule("s", cron="*/5 * * * *", workflow="wf", user="admin")
    svc.apply_workflow("wf", {"params": {"m": {"type": "int"}}, "tasks": {"a": task()}},
                       user="alice")
    clock.advance(minutes=5)
    assert SlotKeeper(store, clock).tick() == []
    last = svc.get_schedule("s")["last"]
    assert last["run_id"] is None and "missing required value" in last["error"]


def test_keepers_racing_on_one_store_start_one_run_per_slot(setup):
    store, clock, svc = setup
    svc.add_schedule("s", cron="* * * * *", workflow="wf", catchup="all", user="admin")
    clock.advance(minutes=30)
    keepers = [SlotKeeper(store, clock) for _ in range(6)]
    barrier = threading.Barrier(len(keepers))
    started: list[str] = []

    def race(keeper: SlotKeeper) -> None:
        barrier.wait()
        started.extend(keeper.tick())

    threads = [threading.Thread(target=race, args=(k,)) for k in keepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots = [r["trigger"]["slot"] for r in runs_of(svc)]
    assert len(slots) == len(set(slots)) == 30 == len(started)


def test_cron_slots_across_daylight_saving_changes():
    """Europe/Paris springs forward at 02:00 on 2026-03-29 (02:30 does not exist) and
    falls back at 03:00 on 2026-10-25 (02:00-03:00 happens twice)."""
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    daily = Cron("30 2 * * *", paris)
    spring = daily.next_slots(datetime(2026, 3, 27, 12, tzinfo=UTC), 3)
    assert [s.isoformat() for s in spring] == [  # 02:30 CET, then 03:00 CEST, then 02:30
        "2026-03-28T01:30:00+00:00", "2026-03-29T01:00:00+00:00",
        "2026-03-30T00:30:00+00:00"]
    autumn = daily.next_slots(datetime(2026, 10, 23, 12, tzinfo=UTC), 3)
    assert [s.isoformat() for s in autumn] == [  # once on the day the hour repeats
        "2026-10-24T00:30:00+00:00", "2026-10-25T00:30:00+00:00",
        "2026-10-26T01:30:00+00:00"]
    missed, _ = daily.slots_after(datetime(2026, 10, 24, 12, tzinfo=UTC),
                                  datetime(2026, 10, 25, 12, tzinfo=UTC), 10)
    assert [s.isoformat() for s in missed] == ["2026-10-25T00:30:00+00:00"]
    half_hourly = Cron("*/30 * * * *", paris)
    slots, _ = half_hourly.slots_after(datetime(2026, 10, 24, 23, 50, tzinfo=UTC),
                                       datetime(2026, 10, 25, 1, 50, tzinfo=UTC), 10)
    assert [s.strftime("%H:%M") for s in slots] == ["00:00", "00:30", "01:00", "01:30"]
