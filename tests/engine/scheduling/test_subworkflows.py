"""Sub-workflow tasks with the fake executor: registration pins the child's hash and refuses
what does not fit; at run time a child run of its own, driven inline, its outputs and vars
passed up, its manifest linked from the parent task's evidence, a kill passed down."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support_engine import claim, run_with, service, task, trigger
from wfobj.engine.errors import DefinitionError
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.objstore import hash_bytes

CHILD = {"params": {"n": {"type": "int"}, "label": {"type": "string", "default": "x"}},
         "tasks": {"count": task("count {{params.n}} {{params.label}}",
                                 outputs={"files": ["c.txt", "parts"], "vars": ["total"]})}}


FILES = ["count/c.txt", "count/parts/p1"]


def parent(**sub) -> dict:
    return {"tasks": {
        "prep": task(outputs={"vars": ["n"]}),
        "sub": {"workflow": {"name": "child"}, "params": {"n": "{{tasks.prep.vars.n}}"},
                "outputs": {"files": ["count/c.txt", "count/parts/p1"], "vars": ["count.total"]},
                **sub},
        "use": task("echo {{tasks.sub.vars.count.total}}",
                    inputs={"c": {"task": "sub", "file": "count/c.txt"},
                            "p": {"task": "sub", "file": "count/parts/p1"}},
                    when="tasks.sub.vars.count.total > 1"),
    }}


@pytest.fixture
def svc(store):
    s = service(store)
    s.apply_workflow("child", CHILD, user="alice")
    return s


BEHAVE = {"prep": TaskBehavior(vars={"n": "7"}),
          "count": TaskBehavior(vars={"total": "5"},
                                outputs={"c.txt": b"5\n", "parts": {"p0": b"a", "p1": b"b"}})}


def test_a_child_run_passes_its_outputs_and_vars_up(svc):
    run_id = trigger(svc, parent(), name="parent")
    state, ex = run_with(svc.store, run_id, BEHAVE)
    assert state == "success"
    assert svc.get_run(run_id)["tasks"] == {"prep": "success", "sub": "success", "use": "success"}
    assert [(s.task, s.command[-1]) for s in ex.specs] == [
        ("prep", "true"), ("count", "count 7 x"), ("use", "echo 5")]
    sub = svc.run_task(run_id, "sub")
    child_id = sub["child"]["run_id"]
    child = svc.get_run(child_id)
    assert child["state"] == "success" and child["parameters"] == {"n": 7, "label": "x"}
    assert child["parent"] == {"run_id": run_id, "task": "sub"}
    assert sub["child"]["manifest_hash"] == child["manifest_hash"]
    assert sub["vars"] == {"count.total": "5"}
    assert [(o["path"], o["kind"]) for o in sub["outputs"]] == [("count/c.txt", "file"),
                                                                ("count/parts/p1", "file")]
    assert sub["image"].startswith("workflow:child@") and sub["executor"] == {
        "kind": "subworkflow", "run_id": child_id}
    use = svc.run_task(run_id, "use")
    assert {i["name"]: i["hash"] for i in use["inputs"]}["c"] == sub["outputs"][0]["hash"]
    assert svc.get_run(run_id)["parent"] is None
    # the child is not queued: no worker could claim it
    from wfobj.engine.layout import QUEUE_NS

    assert svc.store.meta_get(QUEUE_NS, child_id) is None


def test_the_parent_hash_pins_the_child_definition(svc):
    first = svc.apply_workflow("parent", parent(), user="alice")[0]
    pinned = svc.get_workflow("parent")["definition"]["tasks"]["sub"]["workflow"]
    assert pinned == {"name": "child", "hash": svc.get_workflow("child")["definition_hash"]}
    assert svc.apply_workflow("parent", parent(), user="alice")[1] is False
    changed = {**CHILD, "description": "v2"}
    svc.apply_workflow("child", changed, user="alice")
    second = svc.apply_workflow("parent", parent(), user="alice")[0]
    assert second["definition_hash"] != first["definition_hash"] and second["version"] == 2
    by_hash = parent(workflow={"hash": pinned["hash"]})
    svc.apply_workflow("byhash", by_hash, user="alice")
    assert svc.get_workflow("byhash")["definition"]["tasks"]["sub"]["workflow"] == pinned


@pytest.mark.parametrize("sub, message", [
    ({"workflow": {"name": "nope"}}, "tasks.sub.workflow: names an unknown workflow 'nope'"),
    ({"workflow": {"hash": "ab" * 32}}, f"tasks.sub.workflow: names an unknown definition {'ab' * 32}"),
    ({"workflow": {"name": "child", "hash": "x"}}, "tasks.sub.workflow: must be {name: WORKFLOW}"),
    ({"params": {}}, "tasks.sub.params: missing required param(s) of workflow 'child': n"),
    ({"params": {"n": "seven"}}, "tasks.sub.params.n: 'seven' is not of type int"),
    ({"params": {"n": 1, "m": 2}}, "tasks.sub.params.m: workflow 'child' has no param 'm'"),
    ({"outputs": {"files": FILES + ["count/nope.txt"], "vars": ["count.total"]}},
     "tasks.sub.outputs.files[2]: workflow 'child' has no task output 'count/nope.txt'"),
    ({"outputs": {"files": FILES, "vars": ["count.total", "count.nope"]}},
     "tasks.sub.outputs.vars[1]: workflow 'child' has no task var 'count.nope'"),
    ({"outputs": {"files": FILES, "vars": ["count.total", "total"]}},
     "tasks.sub.outputs.vars[1]: 'total' is not TASK.VAR"),
    ({"image": "x"}, "tasks.sub.image: unknown key"),
])
def test_registration_refuses_what_does_not_fit_naming_the_task(svc, sub, message):
    d = parent()
    d["tasks"]["sub"].update(sub)
    with pytest.raises(DefinitionError) as info:
        svc.apply_workflow("parent", d, user="alice")
    assert str(info.value).startswith(message)


def test_cycles_of_workflows_are_refused(svc):
    svc.apply_workflow("a", {"tasks": {"t": task()}}, user="alice")
    svc.apply_workflow("b", {"tasks": {"call_a": {"workflow": {"name": "a"}}}}, user="alice")
    with pytest.raises(DefinitionError, match=r"tasks.call_b.workflow: workflow cycle: a -> b -> a"):
        svc.apply_workflow("a", {"tasks": {"call_b": {"workflow": {"name": "b"}}}}, user="alice")
    with pytest.raises(DefinitionError, match=r"workflow cycle: b -> b"):
        svc.apply_workflow("b", {"tasks": {"me": {"workflow": {"name": "b"}}}}, user="alice")


def test_a_failed_child_fails_the_parent_task(svc):
    run_id = trigger(svc, parent(), name="parent")
    state, _ = run_with(svc.store, run_id, {**BEHAVE, "count": TaskBehavior(exit_code=2)})
    assert state == "failed"
    sub = svc.run_task(run_id, "sub")
    assert sub["state"] == "failed" and sub["error"] == f"child run {sub['child']['run_id']} failed"
    assert svc.get_run(run_id)["tasks"]["use"] == "skipped"


def test_params_that_do_not_fit_once_rendered_fail_the_task(svc):
    run_id = trigger(svc, parent(), name="parent")
    state, ex = run_with(svc.store, run_id, {"prep": TaskBehavior(vars={"n": "many"})})
    assert state == "failed"
    sub = svc.run_task(run_id, "sub")
    assert sub["error"] == "child params: parameter 'n': 'many' is not of type int"
    assert sub["child"] is None and [s.task for s in ex.specs] == ["prep"]


def test_killing_the_parent_kills_the_child(svc):
    run_id = trigger(svc, parent(), name="parent")
    ex = FakeExecutor({**BEHAVE, "count": TaskBehavior(sleep=30)})
    claim(svc.store, run_id)
    sched = RunScheduler(svc.store, run_id, ex, poll=0.02)
    thread = threading.Thread(target=sched.run_to_end)
    thread.start()
    deadline = time.monotonic() + 10
    while not any(s.task == "count" for s in ex.specs) and time.monotonic() < deadline:
        time.sleep(0.02)
    svc.kill_run(run_id, user="alice")
    thread.join(10)
    assert not thread.is_alive()
    assert svc.get_run(run_id)["state"] == "killed"
    child_id = svc.run_task(run_id, "sub")["child"]["run_id"]
    child = svc.get_run(child_id)
    assert child["state"] == "killed" and child["tasks"] == {"count": "killed"}


def test_the_child_follows_the_parents_cache_setting(svc):
    run_id = trigger(svc, parent(), name="parent")  # cache off (support_engine's default)
    run_with(svc.store, run_id, BEHAVE)
    child = svc.get_run(svc.run_task(run_id, "sub")["child"]["run_id"])
    assert child["cache"] is False
    again = trigger(svc, parent(), name="parent", cache=True)
    _, ex = run_with(svc.store, again, BEHAVE)
    assert ex.specs == []  # the parent's tasks and its child's were all cache hits
    sub = svc.run_task(again, "sub")
    assert sub["cached_from"] is None and sub["state"] == "success"
    assert svc.get_run(sub["child"]["run_id"])["cache"] is True
    assert svc.run_task(sub["child"]["run_id"], "count")["cached_from"]


def test_resume_and_reproduce_go_through_child_runs(svc):
    run_id = trigger(svc, parent(), name="parent", cache=True)
    state, _ = run_with(svc.store, run_id, {**BEHAVE, "count": TaskBehavior(exit_code=1)})
    assert state == "failed"
    resumed = svc.resume(run_id, user="alice")["run_id"]
    state, ex = run_with(svc.store, resumed, BEHAVE)
    assert state == "success"
    assert [s.task for s in ex.specs] == ["count", "use"]  # prep from the cache
    child = svc.get_run(svc.run_task(resumed, "sub")["child"]["run_id"])
    assert child["parent"] == {"run_id": resumed, "task": "sub"} and child["state"] == "success"
    reproduced = svc.reproduce(resumed, user="alice")["run_id"]
    state, ex = run_with(svc.store, reproduced, BEHAVE)
    assert state == "success" and [s.task for s in ex.specs] == ["prep", "count", "use"]
    child = svc.get_run(svc.run_task(reproduced, "sub")["child"]["run_id"])
    assert child["cache"] is False
    compared = {t["task"]: t for t in svc.compare_runs(resumed, reproduced)["tasks"]}
    assert compared["sub"]["same"] is True  # the child's outputs and vars, by content
    assert compared["sub"]["vars"] == [{"name": "count.total", "a": "5", "b": "5", "same": True}]


def test_exports_show_the_nesting(svc):
    import io
    import json
    import zipfile

    run_id = trigger(svc, parent(), name="parent")
    run_with(svc.store, run_id, BEHAVE)
    sub = svc.run_task(run_id, "sub")
    child_id = sub["child"]["run_id"]
    prov = json.loads(svc.export_run(run_id, "prov").content)
    informed = prov["wasInformedBy"].values()
    assert {"prov:informed": f"run:{child_id}",
            "prov:informant": f"evidence:{sub['evidence_hash']}"} in [
        {k: v for k, v in r.items() if k in ("prov:informed", "prov:informant")} for r in informed]
    child_prov = json.loads(svc.export_run(child_id, "prov").content)
    assert any(r["prov:informed"] == f"run:{child_id}" and r["prov:informant"] == f"run:{run_id}"
               for r in child_prov["wasInformedBy"].values())
    crate = zipfile.ZipFile(io.BytesIO(svc.export_run(run_id, "ro-crate").content))
    graph = {e["@id"]: e for e in json.loads(crate.read("ro-crate-metadata.json"))["@graph"]}
    tool = graph["#tool-sub"]
    assert "ComputationalWorkflow" in tool["@type"] and tool["alternateName"] == "child"
    attempt = graph[f"#attempt-{sub['evidence_hash']}"]
    assert attempt["subjectOf"] == {"@id": f"#run-{child_id}"}
    assert graph[f"#run-{child_id}"]["instrument"] == {"@id": "#tool-sub"}


def test_explain_says_a_sub_workflow_task_is_never_cached(svc):
    run_id = trigger(svc, parent(), name="parent", cache=True)
    run_with(svc.store, run_id, BEHAVE)
    child_id = svc.run_task(run_id, "sub")["child"]["run_id"]
    explained = svc.explain_task(run_id, "sub")
    assert explained["key"] is None and explained["reason"] == (
        f"a sub-workflow task is never taken from the cache; its child run {child_id} "
        "looked up each of its own tasks")
    assert svc.explain_task(child_id, "count")["cacheable"] is True


def test_a_child_runs_with_its_parents_worker_settings(svc):
    from wfobj.engine.scheduling.worker import Worker

    svc.apply_workflow("fan", {"params": {"xs": {"type": "list"}},
                               "tasks": {"each": task(for_each={"param": "xs"})}}, user="alice")
    calls = {"tasks": {"sub": {"workflow": {"name": "fan"}, "params": {"xs": [1, 2, 3]}}}}
    run_id = trigger(svc, calls, name="calls")
    worker = Worker(svc.store, FakeExecutor, concurrency=2, max_instances=2, poll=0.01)
    worker.initialize()
    assert worker.claim_next() == run_id
    worker.execute(run_id)
    child_id = svc.run_task(run_id, "sub")["child"]["run_id"]
    child = svc.get_run(child_id)
    assert child["state"] == "failed"  # 3 instances over the worker's bound of 2
    audit = svc.run_audit(child_id)
    assert {e["actor"] for e in audit if e["event"] == "run_state"} == {
        f"worker:{worker.worker_id}"}


READER = {"params": {"data": {"type": "file"}, "folder": {"type": "dir"}},
          "tasks": {"read": task("cat /in/d; ls /in/f", inputs={"d": {"param": "data"},
                                                                "f": {"param": "folder"}},
                                 outputs={"vars": ["size"]})}}


def passing(**params) -> dict:
    return {"tasks": {
        "make": task(outputs={"files": ["data.txt", "out"]}),
        "sub": {"workflow": {"name": "reader"},
                "params": {"data": {"task": "make", "file": "data.txt"},
                           "folder": {"task": "make", "file": "out/inner"}, **params},
                "outputs": {"vars": ["read.size"]}}}}


def test_an_upstream_output_passes_as_a_file_or_dir_param(svc):
    svc.apply_workflow("reader", READER, user="alice")
    run_id = trigger(svc, passing(), name="passing")
    state, ex = run_with(svc.store, run_id, {"make": TaskBehavior(outputs={
        "data.txt": b"hello\n", "out": {"inner/a": b"A", "top": b"T"}})})
    assert state == "success"
    make = {o["path"]: o["hash"] for o in svc.run_task(run_id, "make")["outputs"]}
    child = svc.get_run(svc.run_task(run_id, "sub")["child"]["run_id"])
    assert child["parameters"]["data"] == make["data.txt"]
    read = svc.run_task(child["run_id"], "read")
    assert {i["name"]: i["kind"] for i in read["inputs"]} == {"d": "file", "f": "dir"}
    assert child["parameters"]["data"] == hash_bytes(b"hello\n")


@pytest.mark.parametrize("given, message", [
    ({"data": {"task": "nope", "file": "x"}}, "tasks.sub.params.data: names an unknown task 'nope'"),
    ({"data": {"task": "make", "file": "other.txt"}},
     "tasks.sub.params.data: task 'make' declares no output 'other.txt'"),
    ({"data": {"task": "make"}}, "tasks.sub.params.data: a mapping must be {task: NAME, file: PATH}"),
])
def test_passed_outputs_are_checked_at_registration(svc, given, message):
    svc.apply_workflow("reader", READER, user="alice")
    with pytest.raises(DefinitionError) as info:
        svc.apply_workflow("passing", passing(**given), user="alice")
    assert str(info.value).startswith(message)


def test_an_output_passes_only_to_a_file_or_dir_param(svc):
    d = {"tasks": {"make": task(outputs={"files": ["n.txt"]}),
                   "sub": {"workflow": {"name": "child"},
                           "params": {"n": {"task": "make", "file": "n.txt"}}}}}
    with pytest.raises(DefinitionError, match=r"tasks.sub.params.n: an output passes only to a "
                                              r"file or dir param; 'n' of workflow 'child' is of type int"):
        svc.apply_workflow("bad", d, user="alice")


def test_a_child_definition_missing_from_the_store_fails_the_task(svc):
    from dataclasses import replace

    from wfobj.engine.model import Definition, read
    from wfobj.engine.runs.lifecycle import create_run

    svc.apply_workflow("parent", parent(), user="alice")
    head = svc.get_workflow("parent")
    definition = read(svc.store, head["definition_hash"], Definition)
    sub = definition.tasks["sub"]
    ghost = replace(sub, workflow={"name": "child", "hash": "cd" * 32})
    synced = replace(definition, tasks={**definition.tasks, "sub": ghost})
    oid = svc.store.put_object(synced.to_value())
    run = create_run(svc.store, svc.clock, definition_oid=oid, definition=synced,
                     parameters={}, user="alice", engine_version="test")
    state, _ = run_with(svc.store, run.run_id, BEHAVE)
    assert state == "failed"
    assert svc.run_task(run.run_id, "sub")["error"] == (
        f"child definition {'cd' * 32} is not in this store")


def test_a_child_left_by_a_dead_worker_is_recovered(svc):
    """A child run carries its parent worker's actor, so when that worker's process is
    gone the child (never leased: its parent drives it) is ended like the parent."""
    import subprocess
    import sys

    from wfobj.engine.model import Definition, read
    from wfobj.engine.runs.lifecycle import create_run
    from wfobj.engine.scheduling.leases import this_host
    from wfobj.engine.scheduling.worker import Worker

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    head = svc.get_workflow("child")["definition_hash"]
    child = create_run(svc.store, svc.clock, definition_oid=head,
                       definition=read(svc.store, head, Definition), parameters={"n": 1, "label": "x"},
                       user="parent run", engine_version="test",
                       origin={"parent": {"run_id": "p", "task": "sub"}}, queue=False)
    orphan = RunScheduler(svc.store, child.run_id, FakeExecutor(),
                          actor=f"worker:{this_host()}:{dead.pid}:abcdef")
    assert orphan.initialize()
    orphan.shutdown()  # its process "died" here: the run stays running, unleased
    assert svc.get_run(child.run_id)["state"] == "running"
    rescuer = Worker(svc.store, FakeExecutor, worker_id="rescuer")
    assert rescuer.recover_unleased() == [child.run_id]
    assert svc.get_run(child.run_id)["state"] == "failed"
