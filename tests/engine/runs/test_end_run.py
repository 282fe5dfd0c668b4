"""Ending a run writes audit events per task, not per pending instance (engine/runs/
lifecycle.py `end_run`): a fan-out killed with most of its instances pending gets one
`instances_state` event for them, naming how many, while each running instance and each
task of the definition keep their own `task_state` event; every skipped row still says
`skipped` with its skip kind, and the chain still verifies. The scheduler on the fake
executor, in both store backends."""

from __future__ import annotations

import threading
import time

from tests.support_engine import claim, service, trigger
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.provenance.audit import check_audit_chain
from wfobj.engine.runs.state import RunState
from wfobj.engine.scheduling.scheduler import RunScheduler

INSTANCES = 300
PARALLEL = 2
FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": {"image": "none", "command": ["run", "{{item}}"],
                          "for_each": {"param": "n"}, "parallelism": PARALLEL,
                          "outputs": {"files": ["o.txt"]}},
                 "after": {"image": "none", "command": ["gather"], "after": ["each"]}}}


def test_killing_a_fan_out_writes_one_event_for_its_pending_instances(store):
    svc = service(store)
    run_id = trigger(svc, FAN, "fan", n=list(range(INSTANCES)))
    ex = FakeExecutor({"each": TaskBehavior(sleep=30)})
    claim(store, run_id)
    sched = RunScheduler(store, run_id, ex, concurrency=8, poll=0.05)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(state=sched.run_to_end()))
    thread.start()
    deadline = time.monotonic() + 20
    while (svc.get_run(run_id)["task_states"].get("running", 0) < PARALLEL + 1
           and time.monotonic() < deadline):  # the fanned-out task and its first instances
        time.sleep(0.02)
    before = len(svc.run_audit(run_id))
    svc.kill_run(run_id, user="dave")
    thread.join(20)
    assert result["state"] == "killed"

    run = RunState.load(store, run_id)
    instances = [n for n in run.order if n.startswith("each[")]
    assert len(instances) == INSTANCES
    skipped = {n for n in instances if run.tasks[n].state == "skipped"}
    assert len(skipped) > INSTANCES - 50  # most never started: the case this is about
    assert all(run.tasks[n].skip == "stopped" for n in skipped)
    assert svc.get_run(run_id)["task_states"]["skipped"] == len(skipped) + 1  # and `after`

    audit = svc.run_audit(run_id)[before:]
    bulk = [e for e in audit if e["event"] == "instances_state"]
    assert len(bulk) == 1
    assert bulk[0]["task"] == "each" and (bulk[0]["from"], bulk[0]["to"]) == ("pending", "skipped")
    assert bulk[0]["skip"] == "stopped" and bulk[0]["actor"] == "dave"
    assert f"({len(skipped)} pending instances of each skipped)" in bulk[0]["reason"]
    moves = [(e["task"], e["to"]) for e in audit if e["event"] == "task_state"]
    assert ("after", "skipped") in moves
    ran = [(task, to) for task, to in moves if task.startswith("each[")]
    assert not {task for task, _ in ran} & skipped  # a skipped instance has no event of its own
    assert len(audit) <= 2 * (INSTANCES - len(skipped)) + 8  # was one per pending instance
    assert check_audit_chain(store, run).ok
