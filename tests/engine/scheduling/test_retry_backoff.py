"""Retry delays with exponential backoff and resources growing per attempt (fake executor,
a clock the test moves): the scheduler never blocks on a delay, and each attempt's evidence
records the delay it waited and the resources it got."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support_engine import claim, service, task, trigger
from wfobj.engine.clock import Clock
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.scheduling.scheduler import RunScheduler


class ManualClock(Clock):
    """Epoch time that moves only when told (or, with `follow_sleep`, when slept)."""

    def __init__(self, follow_sleep: bool = True):
        self.t = 1_000_000.0
        self.follow_sleep = follow_sleep
        self.sleeps: list[float] = []

    def epoch(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.t)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.follow_sleep:
            self.t += seconds


GROWING = {"tasks": {"flaky": task(
    retries=3, resources={"memory": "512m", "cpus": 0.5},
    retry={"delay": "5s", "backoff": 2, "max_delay": 8, "memory_factor": 2,
           "max_memory": "1536m", "cpus_factor": 1.5})}}


def test_delays_back_off_and_resources_grow_each_attempt(store):
    svc = service(store)
    run_id = trigger(svc, GROWING)
    ex = FakeExecutor({"flaky": TaskBehavior(fail_attempts=3)})
    claim(store, run_id)
    clock = ManualClock()
    state = RunScheduler(store, run_id, ex, clock=clock, poll=0.05).run_to_end()
    assert state == "success"
    assert [(s.attempt, s.memory, s.cpus) for s in ex.specs] == [
        (1, "512m", 0.5), (2, "1g", 0.75), (3, "1536m", 1.125), (4, "1536m", 1.6875)]
    attempts = svc.run_task(run_id, "flaky")["attempts"]
    retry = [svc.run_attempt(run_id, "flaky", n)["retry"] for n in range(1, len(attempts) + 1)]
    assert [r["delay_s"] for r in retry] == [0, 5, 8, 8]
    assert retry[1]["resources"] == {"cpus": 0.75, "memory": "1g", "pids": None}
    assert retry[3]["resources"]["memory"] == "1536m"
    assert abs(sum(clock.sleeps) - 21) < 0.2  # slept out the delays on the injected clock
    reasons = [e["reason"] for e in svc.run_audit(run_id) if e["to"] == "pending" and e["task"]]
    assert reasons == ["exit code 1; retrying in 5s", "exit code 1; retrying in 8s",
                       "exit code 1; retrying in 8s"]


def test_a_waiting_retry_does_not_block_other_tasks(store):
    svc = service(store)
    d = {"tasks": {"flaky": task(retries=1, retry={"delay": "1h"}),
                   "other": task(), "next": task(after=["other"])}}
    run_id = trigger(svc, d)
    ex = FakeExecutor({"flaky": TaskBehavior(fail_attempts=1)})
    claim(store, run_id)
    clock = ManualClock(follow_sleep=False)
    sched = RunScheduler(store, run_id, ex, clock=clock, poll=0.01)
    assert sched.initialize()
    try:
        for _ in range(200):
            assert sched.loop()
            if svc.get_run(run_id)["tasks"]["next"] == "success":
                break
        tasks = svc.get_run(run_id)["tasks"]
        assert tasks == {"flaky": "pending", "other": "success", "next": "success"}
        assert sched.loop() and max(clock.sleeps) <= 0.01  # a step sleeps one poll at most
        clock.t += 3600
        while sched.loop():
            pass
    finally:
        sched.shutdown()
    assert sched.run.state == "success"
    assert svc.run_attempt(run_id, "flaky", 2)["retry"]["delay_s"] == 3600


def test_a_kill_ends_a_run_waiting_to_retry(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"flaky": task(retries=2, retry={"delay": 600})}})
    ex = FakeExecutor({"flaky": TaskBehavior(fail_attempts=1)})
    claim(store, run_id)
    sched = RunScheduler(store, run_id, ex, clock=ManualClock(follow_sleep=False), poll=0.01)
    assert sched.initialize()
    try:
        while svc.get_run(run_id)["tasks"]["flaky"] != "pending" or sched.running:
            assert sched.loop()
        svc.kill_run(run_id, user="alice")
        for _ in range(5):
            if not sched.loop():
                break
    finally:
        sched.shutdown()
    run = svc.get_run(run_id)
    assert run["state"] == "killed" and run["tasks"]["flaky"] == "skipped"


def test_tasks_without_retry_record_no_retry_facts(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"plain": task(retries=1)}})
    claim(store, run_id)
    RunScheduler(store, run_id, FakeExecutor({"plain": TaskBehavior(fail_attempts=1)}),
                 poll=0.01).run_to_end()
    assert svc.run_attempt(run_id, "plain", 2)["retry"] is None


def test_instances_of_a_fanned_out_task_wait_and_grow_on_their_own(store):
    svc = service(store)
    d = {"params": {"names": {"type": "list"}},
         "tasks": {"each": task("x {{item}}", for_each={"param": "names"}, retries=1,
                                resources={"memory": "1g"},
                                retry={"delay": 30, "memory_factor": 2})}}
    run_id = trigger(svc, d, names=["a", "b"])
    ex = FakeExecutor({"each[0]": TaskBehavior(fail_attempts=1)})
    claim(store, run_id)
    clock = ManualClock()
    assert RunScheduler(store, run_id, ex, clock=clock, poll=0.01).run_to_end() == "success"
    assert sorted((s.task, s.attempt, s.memory) for s in ex.specs) == [
        ("each[0]", 1, "1g"), ("each[0]", 2, "2g"), ("each[1]", 1, "1g")]
    assert svc.run_attempt(run_id, "each[0]", 2)["retry"]["delay_s"] == 30
    assert svc.run_attempt(run_id, "each[1]", 1)["retry"]["delay_s"] == 0
