"""The OpenLineage feed's cost per scheduler step grows with what the step changed, not
with the run: the rows and evidence it reads, counted through a wrapped store at every
step of fan-out runs of two sizes (the scripted executor, in memory). Before, each step
with a change rebuilt every event of the run: a step of an 8× larger run read 8× more.
And the events posted are the export's, each once, including inputs from inside another
task's output directory."""

from __future__ import annotations

import io
import json

import pytest
from openlineage.client.serde import Serde

from tests.support_engine import claim, task, trigger
from tests.support_exports import check_openlineage
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.provenance.exports.openlineage_feed import OpenLineageFeed
from wfobj.engine.runs.state import BUCKET
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore, TreeBuilder

FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": {"image": "none", "command": ["run", "{{item}}"],
                          "for_each": {"param": "n"}, "outputs": {"files": ["o.txt"]}},
                 "gather": {"image": "none", "command": ["gather"], "after": ["each"]}}}
PIPE = {"params": {"data": {"type": "dir"}},
        "tasks": {"make": task("split", inputs={"data": {"param": "data"}},
                               outputs={"files": ["parts", "top.txt"]}),
                  "one": task("cat /in/p0", inputs={"p0": {"task": "make",
                                                           "file": "parts/sub/p0"}})}}


class CountingStore:
    """The store, counting the task-table rows and the evidence objects read through it."""

    def __init__(self, store) -> None:
        self.store, self.rows, self.evidence = store, 0, 0

    def get_object(self, oid: str) -> dict:
        value = self.store.get_object(oid)
        if value.get("type") == "run_tasks":
            self.rows += len(value["tasks"])
        elif value.get("type") == "task_evidence":
            self.evidence += 1
        return value

    def __contains__(self, oid: object) -> bool:
        return oid in self.store

    def __getattr__(self, name: str):
        return getattr(self.store, name)


class Posted:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, event) -> None:
        self.events.append(json.loads(Serde.to_json(event)))


def fed_run(definition: dict, behaviors: dict, concurrency: int = 8, **params):
    """Drive a run, the feed looking at every step through a counting store; returns the
    service, run id, the posted events and (rows, evidence) read at each step."""
    store = MemoryObjectStore()
    svc = WorkflowService(store)
    run_id = trigger(svc, definition, "wf", **params)
    posted, counting = Posted(), CountingStore(store)
    feed = OpenLineageFeed("http://unused.invalid", emit=posted)
    steps: list[tuple[int, int]] = []

    def look() -> None:
        counting.rows = counting.evidence = 0
        feed.step(counting, run_id)
        steps.append((counting.rows, counting.evidence))

    claim(store, run_id)
    scheduler = RunScheduler(store, run_id, FakeExecutor(behaviors), concurrency=concurrency,
                             poll=0.01, on_step=look)
    assert scheduler.run_to_end() == "success"
    look()  # the worker's last look at the ended run
    return svc, run_id, posted.events, steps


def key(event: dict) -> tuple[str, str]:
    return event["run"]["runId"], event["eventType"]


def exported(svc, run_id: str) -> list[dict]:
    return json.loads(svc.export_run(run_id, "openlineage").content)


SIZES = (600, 4800)


@pytest.fixture(scope="module")
def fan_runs():
    return {size: fed_run(FAN, {"each": TaskBehavior(outputs={"o.txt": b"x\n"})},
                          n=list(range(size)))
            for size in SIZES}


@pytest.mark.parametrize("size", SIZES)
def test_the_feed_posts_each_event_of_the_export_once(fan_runs, size):
    svc, run_id, events, _ = fan_runs[size]
    check_openlineage(events)
    assert sorted(map(key, events)) == sorted(map(key, exported(svc, run_id)))
    assert len(set(map(key, events))) == len(events) == 2 * (size + 1) + 2


@pytest.mark.parametrize("size", SIZES)
def test_a_step_reads_what_changed_not_the_run(fan_runs, size):
    _, _, _, steps = fan_runs[size]
    rows = [r for r, _ in steps]
    # two looks read the whole table once: the one after the instances are added (their
    # new rows) and the last (the run's end event names every task's last outputs)
    grown = rows.index(max(rows[:-1]))
    assert rows[grown] <= size + 2 + 2 * BUCKET
    assert rows[-1] <= size + 2 + 2 * BUCKET and steps[-1][1] <= 2 * (size + 1)
    # every other look: both versions of the buckets the step changed
    others = rows[:grown] + rows[grown + 1:-1]
    assert max(others) <= 6 * BUCKET, f"a step of a {size}-instance run read {max(others)} rows"
    # each attempt's evidence once as it is recorded, and once more for the end event
    assert sum(ev for _, ev in steps[:-1]) <= size + 1
    assert sum(ev for _, ev in steps) <= 2 * (size + 1)


def test_the_feeds_whole_cost_grows_with_the_run_not_its_square(fan_runs):
    small, large = (sum(r for r, _ in fan_runs[size][3]) / size for size in SIZES)
    assert large <= 1.25 * small, (small, large)  # rows read per instance, both sizes
    largest = [max(r for r, _ in fan_runs[size][3][2:-1]) for size in SIZES]
    assert largest[1] <= largest[0] + BUCKET  # a step of the 8× larger run: no more


def test_the_feed_posts_the_exports_events_with_directory_facets():
    store_files = {"a.txt": b"A", "sub/p0": b"P0"}
    store = MemoryObjectStore()
    builder = TreeBuilder(store)
    builder.add_file("in.csv", io.BytesIO(b"x,y\n"))
    data = builder.finish().oid
    svc = WorkflowService(store)
    run_id = trigger(svc, PIPE, "wf", data=data)
    posted = Posted()
    feed = OpenLineageFeed("http://unused.invalid", emit=posted)
    claim(store, run_id)
    behaviors = {"make": TaskBehavior(outputs={"parts": store_files, "top.txt": b"top"})}
    scheduler = RunScheduler(store, run_id, FakeExecutor(behaviors), poll=0.01,
                             on_step=lambda: feed.step(store, run_id))
    assert scheduler.run_to_end() == "success"
    feed.step(store, run_id)
    feed.step(store, run_id)
    check_openlineage(posted.events)
    assert sorted(posted.events, key=key) == sorted(exported(svc, run_id), key=key)
    one = next(e for e in posted.events if e["job"]["name"] == "wf.one")
    assert one["inputs"][0]["facets"]["wfobj_content"]["path"] == "sub/p0"


def test_a_refused_event_is_posted_at_a_later_step_and_nothing_twice():
    store = MemoryObjectStore()
    svc = WorkflowService(store)
    run_id = trigger(svc, FAN, "wf", n=list(range(40)))
    posted, refusing = Posted(), {"left": 3}

    def flaky(event) -> None:
        if event.eventType.value == "COMPLETE" and refusing["left"] > 0:
            refusing["left"] -= 1
            raise ConnectionError("endpoint down")
        posted(event)

    feed = OpenLineageFeed("http://unused.invalid", emit=flaky)
    claim(store, run_id)
    scheduler = RunScheduler(store, run_id, FakeExecutor({}), concurrency=4, poll=0.01,
                             on_step=lambda: feed.step(store, run_id))
    assert scheduler.run_to_end() == "success"
    feed.step(store, run_id)
    assert refusing["left"] == 0
    assert sorted(map(key, posted.events)) == sorted(map(key, exported(svc, run_id)))
    assert len(set(map(key, posted.events))) == len(posted.events)
    assert list(feed.cursors[run_id].sent) == []  # a completed look keeps no keys
