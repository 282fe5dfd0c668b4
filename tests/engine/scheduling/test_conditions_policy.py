"""Conditions and the failure policy in the scheduler (fake executor): skipped tasks with
their reason and kind in the audit trail, `after:` satisfied by a skip, what a run ends as."""

from __future__ import annotations

from tests.support_engine import run_with, service, task, trigger
from wfobj.engine.executors.fake import TaskBehavior


def skips(svc, run_id: str) -> dict[str, tuple[str, str]]:
    return {e["task"]: (e["skip"], e["reason"]) for e in svc.run_audit(run_id)
            if e["to"] == "skipped"}


def branching() -> dict:
    return {"params": {"mode": {"type": "string", "default": "fast"}},
            "tasks": {
                "probe": task(outputs={"vars": ["rows"]}),
                "big": task(when="tasks.probe.vars.rows > 1000", outputs={"files": ["big.txt"]}),
                "small": task(when="tasks.probe.vars.rows <= 1000 and params.mode == 'fast'"),
                "use_big": task(inputs={"big": {"task": "big", "file": "big.txt"}}),
                "after_big": task(after=["big"]),
            }}


def test_a_false_condition_skips_the_task_and_its_consumers_but_not_after(store):
    svc = service(store)
    run_id = trigger(svc, branching())
    state, ex = run_with(store, run_id, {"probe": TaskBehavior(vars={"rows": "12"})})
    assert state == "success"
    assert svc.get_run(run_id)["tasks"] == {
        "probe": "success", "big": "skipped", "small": "success", "after_big": "success",
        "use_big": "skipped"}
    assert skips(svc, run_id) == {
        "big": ("condition", "skipped: condition false: tasks.probe.vars.rows > 1000"),
        "use_big": ("condition", "skipped: needs the outputs of 'big', skipped by a condition")}
    assert sorted(s.task for s in ex.specs) == ["after_big", "probe", "small"]
    rows = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert rows["big"] == {"task": "big", "state": "skipped", "attempt": 0,
                           "evidence_hash": None, "skip": "condition"}
    assert rows["use_big"]["skip"] == "condition" and "skip" not in rows["small"]


def test_a_true_condition_runs_the_task(store):
    svc = service(store)
    run_id = trigger(svc, branching(), mode="full")
    state, ex = run_with(store, run_id, {"probe": TaskBehavior(vars={"rows": "5000"})})
    assert state == "success"
    tasks = svc.get_run(run_id)["tasks"]
    assert tasks["big"] == tasks["use_big"] == "success" and tasks["small"] == "skipped"
    assert skips(svc, run_id)["small"][0] == "condition"


def test_a_condition_whose_values_do_not_fit_fails_the_task(store):
    svc = service(store)
    d = {"tasks": {"probe": task(outputs={"vars": ["rows"]}),
                   "next": task(when="tasks.probe.vars.rows > 10")}}
    run_id = trigger(svc, d)
    state, ex = run_with(store, run_id, {"probe": TaskBehavior(vars={"rows": "many"})})
    assert state == "failed"
    failed = svc.run_task(run_id, "next")
    assert failed["state"] == "failed" and failed["attempt"] == 1
    assert failed["error"] == ("condition 'tasks.probe.vars.rows > 10': cannot order 'many' and 10")
    assert [s.task for s in ex.specs] == ["probe"]


def test_fail_fast_skips_are_marked_stopped(store):
    svc = service(store)
    d = {"tasks": {"bad": task(), "later": task(after=["bad"])}}
    run_id = trigger(svc, d)
    state, _ = run_with(store, run_id, {"bad": TaskBehavior(exit_code=3)})
    assert state == "failed"
    assert skips(svc, run_id) == {"later": ("stopped", "task failed: bad")}


def keep_going() -> dict:
    return {"on_failure": "continue",
            "tasks": {"bad": task(outputs={"files": ["x"]}),
                      "uses_bad": task(inputs={"x": {"task": "bad", "file": "x"}}),
                      "after_uses": task(after=["uses_bad"]),
                      "a": task(), "b": task(after=["a"]), "c": task(after=["b"])}}


def test_on_failure_continue_runs_independent_tasks_and_skips_dependents(store):
    svc = service(store)
    run_id = trigger(svc, keep_going())
    state, ex = run_with(store, run_id, {"bad": TaskBehavior(exit_code=1),
                                         "a": TaskBehavior(sleep=0.2)}, concurrency=2)
    assert state == "failed"
    assert svc.get_run(run_id)["tasks"] == {
        "a": "success", "bad": "failed", "b": "success", "c": "success",
        "uses_bad": "skipped", "after_uses": "skipped"}
    assert skips(svc, run_id) == {
        "uses_bad": ("failure", "skipped: upstream 'bad' failed"),
        "after_uses": ("failure", "skipped: upstream 'uses_bad' was skipped after a failure")}
    assert {s.task for s in ex.specs} == {"bad", "a", "b", "c"}
    assert svc.run_task(run_id, "uses_bad")["skip"] == "failure"
    run_end = [e for e in svc.run_audit(run_id) if e["event"] == "run_state"][-1]
    assert run_end["to"] == "failed" and run_end["reason"] == "task failed: bad"


def test_on_failure_stop_is_the_default_behaviour(store):
    svc = service(store)
    d = keep_going()
    d["on_failure"] = "stop"
    run_id = trigger(svc, d)
    state, ex = run_with(store, run_id, {"bad": TaskBehavior(exit_code=1),
                                         "a": TaskBehavior(sleep=0.2)}, concurrency=2)
    assert state == "failed"
    tasks = svc.get_run(run_id)["tasks"]
    assert tasks["b"] == tasks["c"] == tasks["uses_bad"] == "skipped"
    assert {k for k, _ in skips(svc, run_id).values()} == {"stopped"}


def test_continue_with_retries_retries_first(store):
    svc = service(store)
    d = {"on_failure": "continue", "tasks": {"flaky": task(retries=2), "next": task(after=["flaky"])}}
    run_id = trigger(svc, d)
    state, _ = run_with(store, run_id, {"flaky": TaskBehavior(fail_attempts=1)})
    assert state == "success"
    assert len(svc.run_task(run_id, "flaky")["attempts"]) == 2


def test_condition_skips_and_a_failure_under_continue(store):
    svc = service(store)
    d = {"on_failure": "continue",
         "params": {"go": {"type": "bool", "default": False}},
         "tasks": {"maybe": task(when="params.go"), "bad": task(), "fine": task(after=["maybe"])}}
    run_id = trigger(svc, d)
    state, _ = run_with(store, run_id, {"bad": TaskBehavior(exit_code=1)})
    assert state == "failed"
    assert svc.get_run(run_id)["tasks"] == {"bad": "failed", "maybe": "skipped", "fine": "success"}
