"""A sub-workflow task with `for_each` (docs/workflow-format.md "Sub-workflows", "Fan-out"),
on real LMDB with the fake executor: one child run per instance, each with its own run id
and `parent`; {{item}}, {{item.key}} and {item: true} in the child's params; the instances'
outputs gathered and paired as a fan-out's are; parallelism bounding live child runs; `when`;
kill, resume and the cache; refusals at registration naming the place."""

from __future__ import annotations

import io
import threading
import time

import pytest

from tests.support_engine import claim, run_with, service, task, trigger
from wfobj.engine.errors import DefinitionError
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.objstore import TreeBuilder, hash_bytes, read_tree

# the per-sample workflow: reads one sample file, writes a count and a var
PER_SAMPLE = {
    "params": {"reads": {"type": "file"}, "label": {"type": "string"},
               "rank": {"type": "int", "default": 0}},
    "tasks": {"count": task("count {{params.label}} {{params.rank}}",
                            inputs={"r": {"param": "reads"}},
                            outputs={"files": ["n.txt"], "vars": ["n"]})},
}
SAMPLES = {"A.fq": b"reads of A\n", "B.fq": b"reads of B\n", "C.fq": b"reads of C\n"}


def samples_flow(**sub) -> dict:
    return {
        "params": {"samples": {"type": "dir"}},
        "tasks": {
            "each": {"workflow": {"name": "per-sample"}, "for_each": {"param": "samples"},
                     "params": {"reads": {"item": True}, "label": "{{item}}"},
                     "outputs": {"files": ["count/n.txt"], "vars": ["count.n"]}, **sub},
            "report": task("echo {{tasks.each.vars.count.n}}", for_each={"param": "samples"},
                           inputs={"n": {"task": "each", "file": "count/n.txt"}}),
            "merge": task("merge", inputs={"all": {"task": "each", "file": "count/n.txt"}},
                          outputs={"files": ["all.txt"]}),
        },
    }


def put_tree(store, files: dict[str, bytes]) -> str:
    builder = TreeBuilder(store)
    for path, data in files.items():
        builder.add_file(path, io.BytesIO(data))
    return builder.finish().oid


@pytest.fixture
def svc(store):
    s = service(store)
    s.apply_workflow("per-sample", PER_SAMPLE, user="alice")
    return s


def counting(**extra) -> dict:
    return {"count": TaskBehavior(vars={"n": "4"}, outputs={"n.txt": b"4\n"}, **extra)}


def test_one_child_run_per_item_with_its_item_as_a_file_param(svc):
    samples = put_tree(svc.store, SAMPLES)
    run_id = trigger(svc, samples_flow(), name="batch", samples=samples)
    state, ex = run_with(svc.store, run_id, counting())
    assert state == "success"
    run = svc.get_run(run_id)
    assert run["tasks"]["each"] == "success"
    assert {k: v for k, v in run["tasks"].items() if k.startswith("each[")} == {
        "each[A.fq]": "success", "each[B.fq]": "success", "each[C.fq]": "success"}
    children = {}
    for key, data in SAMPLES.items():
        sub = svc.run_task(run_id, f"each[{key}]")
        assert sub["executor"] == {"kind": "subworkflow", "run_id": sub["child"]["run_id"]}
        child = svc.get_run(sub["child"]["run_id"])
        assert child["parent"] == {"run_id": run_id, "task": f"each[{key}]"}
        assert child["parameters"] == {"reads": hash_bytes(data), "label": key, "rank": 0}
        assert child["file_names"] == {"reads": key}  # the entry goes by its name
        assert child["state"] == "success" and child["workflow"] == "per-sample"
        assert sub["vars"] == {"count.n": "4"}
        children[key] = child["run_id"]
    assert len(set(children.values())) == 3  # a run id each
    assert sorted(s.command[-1] for s in ex.specs if s.task == "count") == [
        "count A.fq 0", "count B.fq 0", "count C.fq 0"]
    # paired: report[KEY] reads each[KEY]'s var and file; merge gets the gathered folder
    assert sorted(s.command[-1] for s in ex.specs if s.task.startswith("report[")) == [
        "echo 4", "echo 4", "echo 4"]
    merge = svc.run_task(run_id, "merge")
    folder = {i["name"]: i for i in merge["inputs"]}["all"]
    assert folder["kind"] == "dir"
    assert [e.name for e in read_tree(svc.store, folder["hash"]).entries] == list(SAMPLES)


def test_item_and_key_templates_over_a_list(svc):
    flow = {"params": {"labels": {"type": "list"}, "data": {"type": "file"}},
            "tasks": {"each": {"workflow": {"name": "per-sample"}, "for_each": {"param": "labels"},
                               "params": {"reads": "{{params.data}}", "label": "{{item}}",
                                          "rank": "{{item.key}}"}}}}
    data = svc.store.put_blob(b"x")
    run_id = trigger(svc, flow, name="labels", labels=["lo", "hi"], data=data)
    state, _ = run_with(svc.store, run_id, counting())
    assert state == "success"
    params = [svc.get_run(svc.run_task(run_id, f"each[{i}]")["child"]["run_id"])["parameters"]
              for i in (0, 1)]
    assert params == [{"reads": data, "label": "lo", "rank": 0},
                      {"reads": data, "label": "hi", "rank": 1}]


def test_parallelism_bounds_live_child_runs(svc):
    samples = put_tree(svc.store, {f"s{i}.fq": b"%d" % i for i in range(6)})
    flow = samples_flow(parallelism=2)
    run_id = trigger(svc, flow, name="bounded", samples=samples)
    ex = FakeExecutor(counting(sleep=0.15))
    claim(svc.store, run_id)
    sched = RunScheduler(svc.store, run_id, ex, concurrency=8, poll=0.02)
    most = 0
    assert sched.initialize()
    try:
        while sched.loop():
            most = max(most, len(sched.children.runs))
    finally:
        sched.shutdown()
    assert sched.run.state == "success" and most == 2
    spans = sorted((t0, t1) for task_name, _, t0, t1 in ex.spans if task_name == "count")
    assert len(spans) == 6
    overlap = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert overlap == 2


def test_a_false_when_skips_the_fanned_out_task_without_child_runs(svc):
    samples = put_tree(svc.store, SAMPLES)
    flow = {"params": {"samples": {"type": "dir"}, "go": {"type": "bool", "default": False}},
            "tasks": {"each": {"workflow": {"name": "per-sample"}, "for_each": {"param": "samples"},
                               "params": {"reads": {"item": True}, "label": "x"},
                               "when": "params.go"}}}
    run_id = trigger(svc, flow, name="maybe", samples=samples)
    state, ex = run_with(svc.store, run_id, counting())
    assert state == "success" and ex.specs == []
    assert svc.get_run(run_id)["tasks"] == {"each": "skipped"}
    on = trigger(svc, flow, name="maybe", samples=samples, go=True)
    state, ex = run_with(svc.store, on, counting())
    assert state == "success" and len(ex.specs) == 3


def test_a_failed_child_fails_its_instance_and_the_task(svc):
    samples = put_tree(svc.store, SAMPLES)
    run_id = trigger(svc, samples_flow(parallelism=1), name="bad", samples=samples)
    state, _ = run_with(svc.store, run_id, {"count": TaskBehavior(exit_code=3)})
    assert state == "failed"
    tasks = svc.get_run(run_id)["tasks"]
    assert tasks["each"] == "failed" and tasks["each[A.fq]"] == "failed"
    assert tasks["merge"] == "skipped"
    first = svc.run_task(run_id, "each[A.fq]")
    assert first["error"] == f"child run {first['child']['run_id']} failed"


def test_killing_the_parent_kills_every_live_child(svc):
    samples = put_tree(svc.store, SAMPLES)
    run_id = trigger(svc, samples_flow(parallelism=2), name="killme", samples=samples)
    ex = FakeExecutor(counting(sleep=30))
    claim(svc.store, run_id)
    thread = threading.Thread(target=RunScheduler(svc.store, run_id, ex, poll=0.02).run_to_end)
    thread.start()
    deadline = time.monotonic() + 10
    while len(ex.specs) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    svc.kill_run(run_id, user="alice")
    thread.join(10)
    assert not thread.is_alive()
    run = svc.get_run(run_id)
    assert run["state"] == "killed"
    live = [k for k in ("each[A.fq]", "each[B.fq]") if run["tasks"][k] == "killed"]
    assert live == ["each[A.fq]", "each[B.fq]"]
    for name in live:
        child = svc.get_run(svc.run_task(run_id, name)["child"]["run_id"])
        assert child["state"] == "killed" and child["tasks"] == {"count": "killed"}
    assert run["tasks"]["each[C.fq]"] != "running" and len(ex.specs) == 2


class FailsForB(FakeExecutor):
    """The per-sample task fails for sample B only (the same task name in every child)."""

    def run(self, spec, store, cancel):
        fails = spec.command[-1].startswith("count B")
        behavior = TaskBehavior(exit_code=1) if fails else counting()["count"]
        self.behaviors = {"count": behavior}
        return super().run(spec, store, cancel)


def test_resume_reruns_only_the_failed_instances_child_tasks(svc):
    samples = put_tree(svc.store, SAMPLES)
    flow = samples_flow()
    flow["tasks"]["each"]["params"]["label"] = "{{item.key}}"
    run_id = trigger(svc, flow, name="again", samples=samples, cache=True)
    claim(svc.store, run_id)
    state = RunScheduler(svc.store, run_id, FailsForB(), concurrency=1, poll=0.02).run_to_end()
    assert state == "failed"
    assert svc.get_run(run_id)["tasks"]["each[B.fq]"] == "failed"
    resumed = svc.resume(run_id, user="alice")["run_id"]
    state, ex = run_with(svc.store, resumed, counting())
    assert state == "success"
    # every instance starts a new child run; A's child task is a cache hit, B's failed
    # and C's never started (fail-fast, one at a time)
    assert sorted(s.command[-1] for s in ex.specs if s.task == "count") == [
        "count B.fq 0", "count C.fq 0"]
    for key in SAMPLES:
        sub = svc.run_task(resumed, f"each[{key}]")
        assert sub["cached_from"] is None
        child = svc.get_run(sub["child"]["run_id"])
        assert child["parent"] == {"run_id": resumed, "task": f"each[{key}]"}
    reproduced = svc.reproduce(resumed, user="alice")["run_id"]
    state, ex = run_with(svc.store, reproduced, counting())
    assert state == "success" and len([s for s in ex.specs if s.task == "count"]) == 3


def test_a_gathering_sub_workflow_task_gets_the_folder_of_instances(svc):
    svc.apply_workflow("takes-dir", {"params": {"all": {"type": "dir"}},
                                     "tasks": {"ls": task("ls", inputs={"a": {"param": "all"}})}},
                       user="alice")
    flow = {"params": {"xs": {"type": "list"}},
            "tasks": {"make": task(for_each={"param": "xs"}, outputs={"files": ["o.txt"]}),
                      "sub": {"workflow": {"name": "takes-dir"},
                              "params": {"all": {"task": "make", "file": "o.txt"}}}}}
    run_id = trigger(svc, flow, name="gathers", xs=["a", "b"])
    state, _ = run_with(svc.store, run_id)
    assert state == "success"
    child = svc.get_run(svc.run_task(run_id, "sub")["child"]["run_id"])
    assert [e.name for e in read_tree(svc.store, child["parameters"]["all"]).entries] == ["0", "1"]


def test_an_item_of_the_wrong_kind_fails_the_instance_saying_why(svc):
    samples = put_tree(svc.store, {"A.fq": b"a", "dir/inner": b"b"})
    run_id = trigger(svc, samples_flow(), name="kinds", samples=samples)
    state, _ = run_with(svc.store, run_id, counting())
    assert state == "failed"
    assert svc.run_task(run_id, "each[dir]")["error"] == (
        "child params: parameter 'reads': item 'dir' is a folder, the param is of type file")


@pytest.mark.parametrize("change, message", [
    ({"parallelism": 2, "for_each": None, "params": {"reads": "{{params.one}}", "label": "x"}},
     "tasks.each.parallelism: needs for_each: it caps how many child runs"),
    ({"for_each": {"param": "nope"}}, "tasks.each.for_each: names an unknown param 'nope'"),
    ({"for_each": {"param": "samples"}, "parallelism": 0},
     "tasks.each.parallelism: 0 is not an integer from 1"),
    ({"for_each": {"param": "labels"}},
     "tasks.each.params.reads: {item: true} passes a directory's entry; the items of "
     "params.labels are values"),
    ({"for_each": None, "params": {"reads": {"item": True}, "label": "x"}},
     "tasks.each.params.reads: {item: true} needs for_each"),
    ({"for_each": None, "params": {"reads": "{{params.one}}", "label": "{{item}}"}},
     "tasks.each.params.label: {{item}} is only known in a task with for_each"),
    ({"params": {"reads": {"item": True}, "label": {"item": True}}},
     "tasks.each.params.label: an item passes only to a file or dir param; 'label' of "
     "workflow 'per-sample' is of type string"),
    ({"params": {"reads": {"item": False}, "label": "x"}},
     "tasks.each.params.reads: a mapping must be {task: NAME, file: PATH}"),
    ({"params": {"reads": {"task": "fan", "file": "o"}, "label": "x"}},
     "tasks.each.params.reads: task 'fan' is fanned out over params.labels, this task over "
     "params.samples"),
    ({"for_each": None, "params": {"reads": {"task": "fan", "file": "o"}, "label": "x"}},
     "tasks.each.params.reads: task 'fan' is fanned out: this task passes the folder"),
    ({"for_each": {"task": "fan", "var": "v"}},
     "tasks.each.for_each: task 'fan' is itself fanned out"),
])
def test_bad_combinations_are_refused_naming_the_place(svc, change, message):
    flow = {"params": {"samples": {"type": "dir"}, "labels": {"type": "list"},
                       "one": {"type": "file"}},
            "tasks": {"fan": task(for_each={"param": "labels"},
                                  outputs={"files": ["o"], "vars": ["v"]}),
                      "each": {"workflow": {"name": "per-sample"}, "for_each": {"param": "samples"},
                               "params": {"reads": {"item": True}, "label": "{{item}}"}}}}
    for key, value in change.items():
        if value is None:
            flow["tasks"]["each"].pop(key)
        else:
            flow["tasks"]["each"][key] = value
    with pytest.raises(DefinitionError) as info:
        svc.apply_workflow("bad", flow, user="alice")
    assert str(info.value).startswith(message), str(info.value)


def test_the_normalized_definition_keeps_for_each_and_parallelism(svc):
    svc.apply_workflow("batch", samples_flow(parallelism=3), user="alice")
    each = svc.get_workflow("batch")["definition"]["tasks"]["each"]
    assert each["for_each"] == {"param": "samples"} and each["parallelism"] == 3
    assert each["params"]["reads"] == {"item": True}



def test_explain_compare_and_exports_see_each_instance_as_a_sub_workflow_task(svc):
    import zipfile

    samples = put_tree(svc.store, SAMPLES)
    first = trigger(svc, samples_flow(), name="batch", samples=samples, cache=True)
    run_with(svc.store, first, counting())
    again = svc.reproduce(first, user="alice")["run_id"]
    run_with(svc.store, again, counting())
    child_id = svc.run_task(first, "each[A.fq]")["child"]["run_id"]
    assert svc.explain_task(first, "each[A.fq]")["reason"] == (
        f"a sub-workflow task is never taken from the cache; its child run {child_id} "
        "looked up each of its own tasks")
    compared = {t["task"]: t["same"] for t in svc.compare_runs(first, again)["tasks"]}
    assert compared["each[B.fq]"] is True and compared["each"] is True
    crate = zipfile.ZipFile(io.BytesIO(svc.export_run(first, "ro-crate").content))
    import json

    graph = {e["@id"]: e for e in json.loads(crate.read("ro-crate-metadata.json"))["@graph"]}
    attempt = graph[f"#attempt-{svc.run_task(first, 'each[A.fq]')['evidence_hash']}"]
    assert attempt["subjectOf"] == {"@id": f"#run-{child_id}"}


@pytest.mark.parametrize("n", [40, 600])
def test_a_step_rewrites_only_the_buckets_of_rows_it_changed(svc, n, monkeypatch):
    """The parent's steps after the fan-out's expansion write the buckets of the few
    instances that moved (at most `parallelism` child runs live), never the whole table:
    the same few with 40 instances (one bucket of rows) as with 600 (ten)."""
    from wfobj.engine.runs.state import RunState

    flow = {"params": {"xs": {"type": "list"}},
            "tasks": {"each": {"workflow": {"name": "per-sample"}, "for_each": {"param": "xs"},
                               "parallelism": 4,
                               "params": {"reads": "{{params.one}}", "label": "{{item}}"}}}}
    flow["params"]["one"] = {"type": "file"}
    run_id = trigger(svc, flow, name="many", xs=list(range(n)),
                     one=svc.store.put_blob(b"x"))
    dirty: list[int] = []
    stage = RunState._stage

    def counted(self, b, at):
        if self.run_id == run_id:
            dirty.append(len(self.dirty))
        return stage(self, b, at)

    monkeypatch.setattr(RunState, "_stage", counted)
    state, _ = run_with(svc.store, run_id, counting())
    assert state == "success" and len(svc.run_tasks(run_id, limit=1000)) == n + 1
    # one step, the expansion, writes every bucket of rows once; every other step <= 3
    assert max(dirty) == -(-(n + 1) // 64)
    assert len(dirty) > 10 and sorted(dirty)[-2] <= 3, (n, sorted(dirty)[-5:])
