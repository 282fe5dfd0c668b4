"""Fan-out with the fake executor (docs/workflow-format.md, "Fan-out"): instances over a
`dir` param, a `list` param, a task's output directory and a JSON var; {{item}},
{{item.key}} and {item: true}; gather and pairing; zero items; the instance bound;
parallelism; fail-fast among instances; the cache per instance."""

from __future__ import annotations

import io
import json

import pytest

from tests.support_engine import claim, run_with, task, trigger
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.model import AuditEvent, TaskEvidence, read
from wfobj.engine.runs.state import RunState
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.engine.service import WorkflowService
from wfobj.objstore import TreeBuilder, entry_at, read_tree

SAMPLES = {"A.fq": b"reads of A\n", "B.fq": b"reads of B\n", "C.fq": b"reads of C\n"}

ALIGN = {
    "params": {"samples": {"type": "dir"}, "genome": {"type": "string", "default": "ref"}},
    "tasks": {
        "align": task("align {{item}} {{item.key}} {{params.genome}}", for_each={"param": "samples"},
                      inputs={"reads": {"item": True}}, outputs={"files": ["out.bam"], "vars": ["n"]}),
        "sort": task("sort {{tasks.align.vars.n}}", for_each={"param": "samples"},
                     inputs={"bam": {"task": "align", "file": "out.bam"}},
                     outputs={"files": ["sorted.bam"]}),
        "merge": task("merge /in/bams", inputs={"bams": {"task": "sort", "file": "sorted.bam"}},
                      outputs={"files": ["all.bam"]}),
    },
}


def put_tree(store, files: dict[str, bytes]) -> str:
    builder = TreeBuilder(store)
    for path, data in files.items():
        builder.add_file(path, io.BytesIO(data))
    return builder.finish().oid


@pytest.fixture
def svc(store):
    return WorkflowService(store)


def audit(store, run: RunState) -> list[AuditEvent]:
    out, oid = [], run.audit_head
    while oid:
        event = read(store, oid, AuditEvent)
        out.append(event)
        oid = event.prev.oid if event.prev else None
    return out[::-1]


def test_dir_fan_out_pairs_and_gathers(svc):
    samples = put_tree(svc.store, SAMPLES)
    run_id = trigger(svc, ALIGN, samples=samples)
    behaviors = {f"align[{k}]": TaskBehavior(outputs={"out.bam": b"bam " + k.encode()},
                                             vars={"n": str(i)})
                 for i, k in enumerate(SAMPLES)}
    state, ex = run_with(svc.store, run_id, behaviors)
    assert state == "success"
    specs = {s.task: s for s in ex.specs}
    assert sorted(specs) == ["align[A.fq]", "align[B.fq]", "align[C.fq]", "merge",
                             "sort[A.fq]", "sort[B.fq]", "sort[C.fq]"]
    a = specs["align[B.fq]"]
    assert a.command[-1] == "align B.fq B.fq ref"
    reads = {i.name: i for i in a.inputs}["reads"]
    assert b"".join(svc.store.iter_blob(reads.oid)) == b"reads of B\n" and reads.kind == "file"
    # pairing: sort[B] reads align[B]'s file and var
    s = specs["sort[B.fq]"]
    assert s.command[-1] == "sort 1"
    bam = {i.name: i for i in s.inputs}["bam"]
    assert b"".join(svc.store.iter_blob(bam.oid)) == b"bam B.fq"
    # gather: merge gets /in/bams/<KEY>/sorted.bam for every instance
    bams = {i.name: i for i in specs["merge"].inputs}["bams"]
    assert bams.kind == "dir"
    assert [e.name for e in read_tree(svc.store, bams.oid).entries] == list(SAMPLES)
    entry = entry_at(svc.store, bams.oid, "C.fq/sorted.bam")
    assert b"".join(svc.store.iter_blob(entry.oid)) == b"sort[C.fq]:sorted.bam\n"
    run = RunState.load(svc.store, run_id)
    assert run.tasks["align"].state == "success" and run.tasks["align[A.fq]"].state == "success"
    assert run.tasks["align"].attempts == []  # the fanned-out task itself runs nothing
    ev = read(svc.store, run.tasks["sort[C.fq]"].attempts[-1], TaskEvidence)
    assert ev.task == "sort[C.fq]" and ev.state == "success"
    fan = [e for e in audit(svc.store, run) if e.event == "fan_out"]
    assert [(e.task, e.reason) for e in fan] == [("align", "3 instances over params.samples"),
                                                  ("sort", "3 instances over params.samples")]


def test_list_param_items_and_keys(svc):
    definition = {"params": {"names": {"type": "list"}},
                  "tasks": {"greet": task("echo {{item.key}}={{item}}", for_each={"param": "names"})}}
    run_id = trigger(svc, definition, names=["ann", 7, 2.5, True])
    state, ex = run_with(svc.store, run_id)
    assert state == "success"
    assert sorted(s.command[-1] for s in ex.specs) == ["echo 0=ann", "echo 1=7", "echo 2=2.5",
                                                      "echo 3=true"]
    assert {s.task for s in ex.specs} == {"greet[0]", "greet[1]", "greet[2]", "greet[3]"}


def test_zero_items_succeed_and_gather_is_empty(svc):
    definition = {"params": {"names": {"type": "list", "default": []}},
                  "tasks": {"each": task("x", for_each={"param": "names"}, outputs={"files": ["o"]}),
                            "all": task("ls /in/os", inputs={"os": {"task": "each", "file": "o"}})}}
    run_id = trigger(svc, definition)
    state, ex = run_with(svc.store, run_id)
    assert state == "success"
    assert [s.task for s in ex.specs] == ["all"]
    assert read_tree(svc.store, ex.specs[0].inputs[0].oid).entries == ()


def test_fan_out_over_an_output_directory_and_a_var(svc):
    definition = {"tasks": {
        "split": task("split", outputs={"files": ["chunks"], "vars": ["ids"]}),
        "per_chunk": task("wc /in/c", for_each={"task": "split", "file": "chunks"},
                          inputs={"c": {"item": True}}),
        "per_id": task("fetch {{item}}", for_each={"task": "split", "var": "ids"}),
    }}
    run_id = trigger(svc, definition)
    behaviors = {"split": TaskBehavior(outputs={"chunks": {"c1": b"1", "c2": b"2", "d/x": b"x"}},
                                       vars={"ids": json.dumps(["u1", "u2"])})}
    state, ex = run_with(svc.store, run_id, behaviors)
    assert state == "success"
    specs = {s.task: s for s in ex.specs}
    assert {"per_chunk[c1]", "per_chunk[c2]", "per_chunk[d]", "per_id[0]", "per_id[1]"} <= set(specs)
    assert specs["per_chunk[d]"].inputs[0].kind == "dir"  # a folder entry mounts a folder
    assert specs["per_id[1]"].command[-1] == "fetch u2"


@pytest.mark.parametrize(("var", "why"), [
    ("not json", "is not JSON"), ('{"a": 1}', "is not a JSON array"), ('[[1]]', "is not a JSON array")])
def test_a_var_that_is_not_an_array_fails_the_task(svc, var, why):
    definition = {"tasks": {"make": task("x", outputs={"vars": ["ids"]}),
                            "each": task("y {{item}}", for_each={"task": "make", "var": "ids"})}}
    run_id = trigger(svc, definition)
    state, ex = run_with(svc.store, run_id, {"make": TaskBehavior(vars={"ids": var})})
    assert state == "failed"
    run = RunState.load(svc.store, run_id)
    assert run.tasks["each"].state == "failed"
    reasons = [e.reason for e in audit(svc.store, run) if e.task == "each"]
    assert any("for_each over tasks.make.vars.ids" in r and why in r for r in reasons if r)


def test_a_bad_item_key_fails_the_task(svc):
    tree = put_tree(svc.store, {"has space.fq": b"x"})
    definition = {"params": {"d": {"type": "dir"}},
                  "tasks": {"each": task("y", for_each={"param": "d"})}}
    run_id = trigger(svc, definition, d=tree)
    state, _ = run_with(svc.store, run_id)
    assert state == "failed"
    run = RunState.load(svc.store, run_id)
    assert any("cannot name an instance" in (e.reason or "") for e in audit(svc.store, run))


def test_the_instance_bound_fails_the_task_naming_the_count(svc):
    definition = {"params": {"n": {"type": "list"}},
                  "tasks": {"each": task("y", for_each={"param": "n"})}}
    run_id = trigger(svc, definition, n=list(range(6)))
    claim(svc.store, run_id)
    ex = FakeExecutor()
    state = RunScheduler(svc.store, run_id, ex, poll=0.05, max_instances=5).run_to_end()
    assert state == "failed" and ex.specs == []
    run = RunState.load(svc.store, run_id)
    assert any("6 items, more than the bound of 5" in (e.reason or "") for e in audit(svc.store, run))


def test_parallelism_caps_running_instances(svc):
    definition = {"params": {"n": {"type": "list"}},
                  "tasks": {"each": task("y", for_each={"param": "n"}, parallelism=2)}}
    run_id = trigger(svc, definition, n=list(range(6)))
    state, ex = run_with(svc.store, run_id, {f"each[{i}]": TaskBehavior(sleep=0.05) for i in range(6)},
                         concurrency=8)
    assert state == "success"
    most = max(sum(1 for _, _, s, e in ex.spans if s <= t < e) for _, _, t, _ in ex.spans)
    assert most == 2


def test_a_failed_instance_fails_the_task_and_skips_what_waits(svc):
    definition = {"params": {"n": {"type": "list"}},
                  "tasks": {"each": task("y", for_each={"param": "n"}, parallelism=1),
                            "after_all": task("z", after=["each"])}}
    run_id = trigger(svc, definition, n=["a", "b", "c"])
    state, ex = run_with(svc.store, run_id, {"each[0]": TaskBehavior(exit_code=3)})
    assert state == "failed"
    run = RunState.load(svc.store, run_id)
    assert run.tasks["each"].state == "failed" and run.tasks["each[0]"].state == "failed"
    assert run.tasks["each[2]"].state == "skipped" and run.tasks["after_all"].state == "skipped"
    assert [s.task for s in ex.specs] == ["each[0]"]


def test_one_more_sample_runs_one_instance(svc):
    definition = {"params": {"d": {"type": "dir"}},
                  "tasks": {"each": task("count {{item}}", for_each={"param": "d"},
                                         inputs={"f": {"item": True}}, outputs={"files": ["n"]})}}
    first = {f"s{i}.fq": b"%d" % i for i in range(5)}
    run_id = trigger(svc, definition, cache=True, d=put_tree(svc.store, first))
    assert run_with(svc.store, run_id)[0] == "success"
    more = {**first, "s9.fq": b"9"}
    run_id = svc.trigger(name="wf", parameters={"d": put_tree(svc.store, more)}, user="alice")["run_id"]
    state, ex = run_with(svc.store, run_id)
    assert state == "success"
    assert [s.task for s in ex.specs] == ["each[s9.fq]"]
    run = RunState.load(svc.store, run_id)
    hits = [read(svc.store, run.tasks[f"each[s{i}.fq]"].attempts[-1], TaskEvidence).cached_from
            for i in range(5)]
    assert all(h is not None for h in hits)


def test_keep_going_a_failed_instance_skips_only_what_needs_its_task(svc):
    definition = {"on_failure": "continue", "params": {"n": {"type": "list"}},
                  "tasks": {"each": task("y", for_each={"param": "n"}, outputs={"files": ["o"]}),
                            "gathered": task("z", inputs={"os": {"task": "each", "file": "o"}}),
                            "alone": task("w")}}
    run_id = trigger(svc, definition, n=["a", "b", "c"])
    state, ex = run_with(svc.store, run_id, {"each[1]": TaskBehavior(exit_code=2)})
    assert state == "failed"
    run = RunState.load(svc.store, run_id)
    states = {n: run.tasks[n].state for n in run.order}
    assert states == {"alone": "success", "each": "failed", "gathered": "skipped",
                      "each[0]": "success", "each[1]": "failed", "each[2]": "success"}
    assert sorted(s.task for s in ex.specs) == ["alone", "each[0]", "each[1]", "each[2]"]


def test_a_false_condition_skips_the_fanned_out_task(svc):
    definition = {"params": {"n": {"type": "list"}, "go": {"type": "bool"}},
                  "tasks": {"each": task("y", for_each={"param": "n"}, when="params.go")}}
    run_id = trigger(svc, definition, n=["a"], go=False)
    state, ex = run_with(svc.store, run_id)
    assert state == "success" and ex.specs == []
    assert RunState.load(svc.store, run_id).tasks["each"].state == "skipped"


def test_explain_names_the_item_that_changed_in_one_instance(svc):
    definition = {"params": {"d": {"type": "dir"}},
                  "tasks": {"each": task("wc {{item}}", for_each={"param": "d"},
                                         inputs={"f": {"item": True}}, outputs={"files": ["n"]})}}
    first = trigger(svc, definition, cache=True, d=put_tree(svc.store, {"a.fq": b"1", "b.fq": b"2"}))
    run_with(svc.store, first)
    second = svc.trigger(name="wf", parameters={"d": put_tree(svc.store, {"a.fq": b"1", "b.fq": b"3"})},
                         user="alice")["run_id"]
    run_with(svc.store, second)
    assert svc.explain_task(second, "each[a.fq]")["hit"] is True
    changed = svc.explain_task(second, "each[b.fq]")
    assert changed["hit"] is False and changed["nearest"]["run_id"] == first
    assert [d["component"] for d in changed["nearest"]["differs"]] == ["inputs./in/f"]
