"""The scheduler with a fake executor: DAG order, parallelism, fail-fast, retries, kill,
evidence and the audit hash chain."""

from __future__ import annotations

import threading
import time

from tests.support_engine import chain, claim, run_with, service, task, trigger, wordcount
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.objstore import hash_bytes


def test_success_records_evidence_vars_and_substitution(store):
    svc = service(store)
    corpus = store.put_blob(b"alpha beta gamma")
    d = wordcount()
    d["tasks"]["report"] = task("echo {{tasks.count.vars.count}} {{run.id}} {{params.min_len}}",
                                env={"N": "{{tasks.count.vars.count}}"})
    run_id = trigger(svc, d, name="wordcount", corpus=corpus, min_len=4)
    state, _ = run_with(store, run_id, {"count": TaskBehavior(vars={"count": "117"})})
    assert state == "success"
    run = svc.get_run(run_id)
    assert run["tasks"] == {"split": "success", "count": "success", "report": "success"}
    assert run["started_at"] <= run["ended_at"]
    report = svc.run_task(run_id, "report")
    assert report["command"][2] == f"echo 117 {run_id} 4" and report["env"] == {"N": "117"}
    count = svc.run_task(run_id, "count")
    words = svc.run_task(run_id, "split")["outputs"][0]
    assert count["inputs"] == [{"name": "words", "path": "/in/words", "kind": "file",
                                "hash": words["hash"], "size": words["size"]}]
    assert svc.run_task(run_id, "split")["inputs"][0]["hash"] == corpus == hash_bytes(b"alpha beta gamma")
    assert [t["task"] for t in svc.run_tasks(run_id)] == ["split", "count", "report"]
    files = svc.run_files(run_id)
    assert {(f["task"], f["path"]) for f in files} == {("split", "words.txt"), ("count", "count.txt")}
    lineage = svc.run_lineage(run_id)
    kinds = {n["id"]: n["kind"] for n in lineage["nodes"]}
    assert kinds[f"file:{corpus}"] == "file" and kinds["task:split"] == "task"
    assert {"from": f"file:{corpus}", "to": "task:split", "kind": "input"} in lineage["edges"]
    assert {"from": "task:split", "to": f"file:{words['hash']}", "kind": "output",
            "path": "words.txt"} in lineage["edges"]
    # one manifest hash commits to everything: evidence is reachable from it
    from wfobj.objstore.walk import walk_closure

    reachable = set(walk_closure(store, [run["manifest_hash"]]))
    assert count["evidence_hash"] in reachable and corpus in reachable


def test_fail_fast_skips_the_rest_and_lets_running_finish(store):
    svc = service(store)
    d = {"tasks": {"bad": task(), "slow": task(), "after_bad": task(after=["bad"]),
                   "after_slow": task(after=["slow"])}}
    run_id = trigger(svc, d)
    state, ex = run_with(store, run_id, {"bad": TaskBehavior(exit_code=2),
                                         "slow": TaskBehavior(sleep=0.3)}, concurrency=4)
    assert state == "failed"
    tasks = svc.get_run(run_id)["tasks"]
    assert tasks == {"bad": "failed", "slow": "success", "after_bad": "skipped",
                     "after_slow": "skipped"}
    assert {span[0] for span in ex.spans} == {"bad", "slow"}
    bad = svc.run_task(run_id, "bad")
    assert bad["exit_code"] == 2 and bad["error"] == "exit code 2"
    assert svc.run_task(run_id, "after_bad")["attempts"] == []


def test_retries_keep_every_attempt(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"flaky": task(retries=2)}})
    state, _ = run_with(store, run_id, {"flaky": TaskBehavior(fail_attempts=2)})
    assert state == "success"
    flaky = svc.run_task(run_id, "flaky")
    assert flaky["state"] == "success" and flaky["attempt"] == 3 and len(flaky["attempts"]) == 3
    states = [store.get_object(h)["state"] for h in flaky["attempts"]]
    assert states == ["failed", "failed", "success"]
    retries = [e for e in svc.run_audit(run_id) if e["to"] == "pending" and e["task"]]
    assert len(retries) == 2 and all("retrying" in e["reason"] for e in retries)


def test_retries_exhausted_fail_the_run(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"never": task(retries=1)}}, name="wf2")
    state, _ = run_with(store, run_id, {"never": TaskBehavior(exit_code=1)})
    assert state == "failed"
    never = svc.run_task(run_id, "never")
    assert never["state"] == "failed" and never["attempt"] == 2 and len(never["attempts"]) == 2


def test_parallel_branches_overlap(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"a": task(), "b": task(), "join": task(after=["a", "b"])}})
    state, ex = run_with(store, run_id, {"a": TaskBehavior(sleep=0.3), "b": TaskBehavior(sleep=0.3)},
                         concurrency=2)
    assert state == "success"
    spans = {name: (start, end) for name, _, start, end in ex.spans}
    assert spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1]
    assert spans["join"][0] >= max(spans["a"][1], spans["b"][1])


def test_concurrency_limit_serializes(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"a": task(), "b": task()}})
    _, ex = run_with(store, run_id, {"a": TaskBehavior(sleep=0.1), "b": TaskBehavior(sleep=0.1)},
                     concurrency=1)
    (_, _, s1, e1), (_, _, s2, e2) = sorted(ex.spans, key=lambda s: s[2])
    assert e1 <= s2


def test_missing_upstream_file_fails_the_task_with_evidence(store):
    svc = service(store)
    d = {"tasks": {"a": task(outputs={"files": ["dir"]}),
                   "b": task(inputs={"x": {"task": "a", "file": "dir/missing.txt"}})}}
    run_id = trigger(svc, d)
    state, _ = run_with(store, run_id, {"a": TaskBehavior(outputs={"dir/other.txt": b"o"})})
    assert state == "failed"
    b = svc.run_task(run_id, "b")
    assert b["state"] == "failed" and "produced no file 'dir/missing.txt'" in b["error"]


def test_kill_pending_is_immediate_and_terminal_never_changes(store):
    svc = service(store)
    run_id = trigger(svc, chain("a", "b"))
    assert svc.kill_run(run_id, user="carol") == {"run_id": run_id, "state": "killed"}
    run = svc.get_run(run_id)
    assert run["state"] == "killed" and run["tasks"] == {"a": "skipped", "b": "skipped"}
    state, ex = run_with(store, run_id)
    assert state == "killed" and ex.spans == []
    import pytest

    from wfobj.engine.errors import RunAlreadyTerminal

    with pytest.raises(RunAlreadyTerminal, match="already killed"):
        svc.kill_run(run_id, user="carol")
    audit = svc.run_audit(run_id)
    assert audit[-1]["actor"] == "carol" and audit[-1]["to"] == "killed"


def test_kill_running_cancels_records_and_skips(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"long": task(), "next": task(after=["long"])}})
    ex = FakeExecutor({"long": TaskBehavior(sleep=30)})
    claim(store, run_id)
    sched = RunScheduler(store, run_id, ex, concurrency=2, poll=0.05)
    result = {}
    thread = threading.Thread(target=lambda: result.update(state=sched.run_to_end()))
    thread.start()
    deadline = time.monotonic() + 10
    while svc.get_run(run_id)["tasks"]["long"] != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert svc.kill_run(run_id, user="dave")["state"] == "running"
    thread.join(10)
    assert result["state"] == "killed"
    run = svc.get_run(run_id)
    assert run["tasks"] == {"long": "killed", "next": "skipped"}
    long = svc.run_task(run_id, "long")
    assert long["state"] == "killed" and long["exit_code"] == 137
    events = [(e["event"], e["actor"]) for e in svc.run_audit(run_id)]
    assert ("kill_requested", "dave") in events and events[-1] == ("run_state", "dave")


def test_audit_is_a_hash_chain(store):
    svc = service(store)
    run_id = trigger(svc, chain("a", "b", "c"))
    run_with(store, run_id)
    audit = svc.run_audit(run_id)
    assert [e["seq"] for e in audit] == list(range(1, len(audit) + 1))
    assert audit[0]["prev"] is None and audit[0]["event"] == "run_created"
    for earlier, later in zip(audit, audit[1:], strict=False):
        assert later["prev"] == earlier["hash"]
        obj = store.get_object(later["hash"])  # verified: the bytes hash to the name
        assert obj["prev"].oid == earlier["hash"] and obj["seq"] == later["seq"]
    transitions = [(e["task"], e["from"], e["to"]) for e in audit]
    assert (None, "pending", "running") in transitions and (None, "running", "success") in transitions
    for t in "abc":
        assert (t, "pending", "running") in transitions and (t, "running", "success") in transitions
    manifest = store.get_object(svc.get_run(run_id)["manifest_hash"])
    assert manifest["audit"].oid == audit[-1]["hash"] and manifest["audit_count"] == len(audit)
    assert manifest["previous"].oid in store


def test_logs_are_the_full_streams(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"a": task()}})
    run_with(store, run_id, {"a": TaskBehavior(stdout=b"hello\nworld\n")})
    assert svc.run_logs(run_id, "a") == {"task": "a", "attempt": 1, "stdout": "hello\nworld\n",
                                         "stderr": ""}
