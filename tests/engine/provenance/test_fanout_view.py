"""Reading a fan-out run for a view (engine/provenance/fanout_view.py): the definition's
tasks with each fanned-out task's instances counted by state, a page of instances, skip
kinds from the audit chain — each reading only what it shows (a counting store says so)."""

from __future__ import annotations

import io
from collections import Counter

from tests.support_engine import run_with, task, trigger
from tests.support_ui import finished_cohort, live_cohort, make_ui, stop_cohort
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.model import RunManifest, read
from wfobj.engine.provenance.fanout_view import (
    SkipKinds,
    instance_page,
    task_line,
    task_outline,
)
from wfobj.engine.runs.state import RunState
from wfobj.objstore import MemoryObjectStore, TreeBuilder


class CountingStore(MemoryObjectStore):
    """A memory store that counts structured-object reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_object(self, oid):
        self.reads += 1
        return super().get_object(oid)


def row_counts(store, run_id: str, task: str) -> dict[str, int]:
    """The instance counts by state, from every row (what the view must agree with)."""
    run = RunState.load(store, run_id)
    first, count = run.tasks[task].instances
    return dict(Counter(run.tasks[n].state for n in run.order[first:first + count]))


def test_outline_has_one_line_per_task_and_counts_the_instances():
    ui = make_ui(MemoryObjectStore())
    run_id = finished_cohort(ui, 12, failing=(3, 7))
    outline = task_outline(ui.store, run_id)
    assert outline.state == "failed" and outline.row_count == 16
    lines = {line.name: line for line in outline.lines}
    assert list(lines) == outline.order and set(outline.order) == {"align", "merge", "deep", "qc"}
    assert ("align", "merge") in outline.edges
    align = lines["align"]
    assert align.state == "failed" and align.evidence["attempt"] == 0
    assert align.instances.count == 12 and align.instances.states == {"success": 10, "failed": 2}
    assert align.instances.states == row_counts(ui.store, run_id, "align")
    assert (lines["merge"].state, lines["merge"].skip) == ("skipped", "failure")
    assert (lines["deep"].state, lines["deep"].skip) == ("skipped", "condition")
    qc = lines["qc"]
    assert qc.skip is None and qc.instances is None and qc.evidence["attempt"] == 1
    assert [o["path"] for o in qc.evidence["outputs"]] == ["qc.txt"]


def test_two_fan_outs_are_each_counted_the_largest_from_the_manifest():
    ui = make_ui(MemoryObjectStore())
    d = {"on_failure": "continue", "params": {"a": {"type": "list"}, "b": {"type": "list"}},
         "tasks": {"small": task(for_each={"param": "a"}), "big": task(for_each={"param": "b"}),
                   "plain": task()}}
    run_id = trigger(ui.service, d, a=["x", "y", "z"], b=list(range(70)))
    run_with(ui.store, run_id, {"small[1]": TaskBehavior(exit_code=2),
                                **{f"big[{i}]": TaskBehavior(exit_code=1) for i in (0, 64, 69)}})
    lines = {line.name: line for line in task_outline(ui.store, run_id).lines}
    assert lines["small"].instances.states == {"success": 2, "failed": 1}
    assert lines["big"].instances.states == {"success": 67, "failed": 3}
    for name in ("small", "big"):
        assert lines[name].instances.states == row_counts(ui.store, run_id, name)


def test_a_run_with_one_big_fan_out_reads_none_of_its_instance_rows():
    store = CountingStore()
    ui = make_ui(store)
    run_id = finished_cohort(ui, 600, failing=(5,))
    store.reads = 0
    outline = task_outline(store, run_id)
    assert outline.lines[0].instances.states == {"success": 599, "failed": 1}
    # manifest, record, definition, page, first bucket, qc's evidence: not 10 buckets more
    assert store.reads <= 8, store.reads


def test_an_instance_page_reads_its_rows_only():
    store = CountingStore()
    ui = make_ui(store)
    run_id = finished_cohort(ui, 600, failing=(205,))
    store.reads = 0
    page = instance_page(store, run_id, "align", 200, 10)
    assert [line.name for line in page.lines] == [f"align[{i}]" for i in range(200, 210)]
    assert [line.state for line in page.lines][5] == "failed"
    assert page.lines[5].evidence["exit_code"] == 1 and page.offset == 200
    assert page.task.instances.count == 600
    assert store.reads <= 6 + 10 + 2, store.reads  # head, one bucket, ten evidence objects
    assert instance_page(store, run_id, "align", 595, 200).lines[-1].name == "align[599]"
    assert instance_page(store, run_id, "align", 600, 200).lines == []


def test_a_live_fan_out_counts_running_instances_and_stopped_ones_are_skipped():
    ui = make_ui(MemoryObjectStore())
    run_id, sched = live_cohort(ui, 20, quick=4, concurrency=3)
    try:
        align = task_outline(ui.store, run_id).lines[0]
        assert align.state == "running" and align.instances.count == 20
        assert align.instances.states == row_counts(ui.store, run_id, "align")
        assert align.instances.states["running"] == 3 and align.instances.states["success"] == 4
    finally:
        assert stop_cohort(sched) == "failed"
    page = instance_page(ui.store, run_id, "align", 0, 20)
    skipped = [line for line in page.lines if line.state == "skipped"]
    assert skipped and {line.skip for line in skipped} == {"stopped"}
    assert task_line(ui.store, run_id, skipped[0].name).skip == "stopped"
    assert task_line(ui.store, run_id, "align[0]").skip is None


def test_skip_kinds_read_each_audit_event_once_per_process():
    store = CountingStore()
    ui = make_ui(store)
    run_id = finished_cohort(ui, 12)
    m = read(store, RunState.load(store, run_id).manifest_oid, RunManifest)
    kinds = SkipKinds()
    store.reads = 0
    assert kinds.of(store, m, {"merge", "deep"}) == {"merge": "failure", "deep": "condition"}
    first = store.reads
    assert 0 < first <= m.audit_count
    store.reads = 0
    assert kinds.of(store, m, {"merge", "deep", "qc"}) == {"merge": "failure", "deep": "condition"}
    assert store.reads <= m.audit_count - first  # only what the first walk had not read
    store.reads = 0
    assert kinds.of(store, m, {"deep"}) == {"deep": "condition"} and store.reads == 0


def test_skipped_rows_keep_their_kind_and_older_rows_find_it_in_the_audit_chain():
    store = CountingStore()
    ui = make_ui(store)
    run_id = finished_cohort(ui, 12)
    run = RunState.load(store, run_id)
    assert (run.tasks["merge"].skip, run.tasks["deep"].skip, run.tasks["qc"].skip) == (
        "failure", "condition", None)
    for entry in run.tasks.values():  # rows as a run written before kinds were kept has them
        entry.skip = None
    run.dirty.update(range(len(run.bucket_oids)))
    with run.change(store, "2026-01-01T00:00:00.000000Z"):
        pass
    assert RunState.load(store, run_id).tasks["deep"].skip is None
    lines = {line.name: line for line in task_outline(store, run_id).lines}
    assert (lines["merge"].skip, lines["deep"].skip) == ("failure", "condition")
    assert task_line(store, run_id, "deep").skip == "condition"


def test_a_line_of_one_task_or_instance():
    ui = make_ui(MemoryObjectStore())
    builder = TreeBuilder(ui.store)
    names = ["a+b%c.fq", "B.fq", "z.fq", "0.fq", "10", "2"]
    for name in names:
        builder.add_file(name, io.BytesIO(name.encode()))
    d = {"params": {"reads": {"type": "dir"}},
         "tasks": {"count": task(for_each={"param": "reads"}, inputs={"r": {"item": True}})}}
    run_id = trigger(ui.service, d, reads=builder.finish().oid)
    state, _ = run_with(ui.store, run_id, {"count[B.fq]": TaskBehavior(exit_code=4)})
    assert state == "failed"
    for name in names:
        line = task_line(ui.store, run_id, f"count[{name}]")
        assert line.name == f"count[{name}]" and not line.fans_out, name
    bad = task_line(ui.store, run_id, "count[B.fq]")
    assert bad.state == "failed" and bad.evidence["exit_code"] == 4
    own = task_line(ui.store, run_id, "count")
    assert own.fans_out and own.state == "failed" and own.evidence["attempt"] == 0
    assert task_line(ui.store, run_id, "count[nope]") is None
    assert task_line(ui.store, run_id, "nope[1]") is None and task_line(ui.store, run_id, "nope") is None


def test_a_page_of_the_instances_in_one_state_reads_only_this_fan_out():
    store = CountingStore()
    ui = make_ui(store)
    run_id = finished_cohort(ui, 300, failing=(2, 70, 150, 299))
    store.reads = 0
    page = instance_page(store, run_id, "align", 1, 2, state="failed")
    assert [line.name for line in page.lines] == ["align[70]", "align[150]"]
    assert store.reads <= 6 + 3 + 2  # head, the buckets up to align[150], two evidence
    assert [line.name for line in instance_page(store, run_id, "align", 3, 5, "failed").lines] == [
        "align[299]"]
    assert instance_page(store, run_id, "align", 4, 5, "failed").lines == []
    assert instance_page(store, run_id, "align", 0, 5, "killed").lines == []


def test_a_page_in_one_state_reads_the_buckets_holding_it_not_the_fan_out():
    """Each page counts its buckets' rows by state, so the failed instances at the far
    end of a 3,000-instance fan-out are found without reading the 46 buckets before them;
    a page past an offset skips whole buckets by their counts, and agrees with every row."""
    store = CountingStore()
    ui = make_ui(store)
    failing = (2950, 2990, 2999)
    run_id = finished_cohort(ui, 3000, failing=failing)
    store.reads = 0
    page = instance_page(store, run_id, "align", 0, 50, state="failed")
    assert [line.name for line in page.lines] == [f"align[{i}]" for i in failing]
    # head (manifest, record, definition, page, first bucket), the two buckets holding the
    # failures, the fan-out's last bucket, three evidence objects: not the 47 buckets
    assert store.reads <= 5 + 3 + 3, store.reads
    run = RunState.load(store, run_id)
    first, count = run.tasks["align"].instances
    rows = run.order[first:first + count]
    succeeded = [n for n in rows if run.tasks[n].state == "success"]
    for offset, limit in ((0, 10), (63, 2), (1000, 100), (2990, 50)):
        store.reads = 0
        shown = instance_page(store, run_id, "align", offset, limit, state="success").lines
        assert [line.name for line in shown] == succeeded[offset:offset + limit]
        assert store.reads <= 5 + 2 + limit // 64 + 2 + len(shown), (offset, store.reads)
