"""Live logs without Docker: the follower over a real LMDB store (ended attempts from their
blobs, a running attempt from its spool files, the bounded wait with an injected clock),
the logs endpoint through Falcon's test client, and the web UI's view of a running task.

The spool files of a running attempt are written here as the Docker executor writes them
(tests/e2e/test_live_logs.py follows a real container)."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.support_api import make_api
from tests.support_engine import claim, run_with, task, trigger
from tests.support_ui import make_ui
from wfobj.engine.errors import LogStreamCut, UnknownAttempt, UnknownTask
from wfobj.engine.executors import spools
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.provenance.logs import LogFollower, LogPosition, follow_to_end, utf8_complete
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.engine.service import WorkflowService

ONE = {"tasks": {"talk": task("echo hi")}}
TWO = {"tasks": {"talk": task("echo hi"), "after": task("true", after=["talk"])}}


def test_utf8_complete_holds_back_a_cut_character():
    assert utf8_complete(b"abc") == 3
    assert utf8_complete("é".encode()) == 2
    assert utf8_complete("é".encode()[:1]) == 0
    assert utf8_complete(b"ab" + "€".encode()[:2]) == 2
    assert utf8_complete("a€".encode()) == 4
    assert utf8_complete(b"a" + "😀".encode()[:3]) == 1
    assert utf8_complete(b"\x80\x80\x80\x80\x80") == 5  # no lead byte: nothing to wait for


def ended_run(store, stdout: bytes) -> str:
    svc = WorkflowService(store)
    run_id = trigger(svc, ONE, "talk")
    state, _ = run_with(store, run_id, {"talk": TaskBehavior(stdout=stdout)})
    assert state == "success"
    return run_id


def test_an_ended_attempt_comes_from_its_blobs_from_the_offsets(lmdb_store):
    run_id = ended_run(lmdb_store, b"hello\nworld\n")
    items = list(LogFollower(lmdb_store, run_id, "talk", LogPosition(stdout=6)))
    assert items == [
        {"type": "output", "stream": "stdout", "offset": 6, "text": "world\n"},
        {"type": "end", "task": "talk", "attempt": 1, "ended": True, "state": "success",
         "stdout_offset": 12, "stderr_offset": 0}]


def test_unknown_task_and_attempt_are_refused_before_anything_is_sent(lmdb_store):
    run_id = ended_run(lmdb_store, b"x")
    with pytest.raises(UnknownTask):
        LogFollower(lmdb_store, run_id, "nope", LogPosition())
    with pytest.raises(UnknownAttempt):
        LogFollower(lmdb_store, run_id, "talk", LogPosition(attempt=2))


class Running:
    """A run whose first task is running (a fake attempt that waits to be cancelled)."""

    def __init__(self, store, definition=ONE):
        self.store = store
        self.run_id = trigger(WorkflowService(store), definition, "talk")
        claim(store, self.run_id)
        self.scheduler = RunScheduler(store, self.run_id,
                                      FakeExecutor({"talk": TaskBehavior(sleep=300)}), poll=0.01)
        assert self.scheduler.initialize()
        self.scheduler.loop()
        self.paths = spools.live_paths(store, self.run_id, "talk", 1)
        spools.open_spools(self.paths)

    def write(self, stream: str, data: bytes) -> None:
        with open(self.paths[stream], "ab") as f:
            f.write(data)

    def stop(self) -> None:
        self.scheduler.shutdown()


@pytest.fixture
def running(lmdb_store):
    r = Running(lmdb_store)
    yield r
    r.stop()


def ticking(step: float = 1.0):
    """A monotonic clock that moves `step` seconds each time it is read."""
    counter = itertools.count()
    return lambda: next(counter) * step


def test_a_running_attempt_is_read_from_its_spools_until_the_wait_runs_out(running):
    running.write("stdout", b"first\n")
    running.write("stderr", b"caf" + "é".encode()[:1])  # a cut character waits
    sleeps = []
    follower = LogFollower(running.store, running.run_id, "talk", LogPosition(), wait=3,
                           sleep=sleeps.append, monotonic=ticking())
    items = list(follower)
    assert items[:2] == [
        {"type": "output", "stream": "stdout", "offset": 0, "text": "first\n"},
        {"type": "output", "stream": "stderr", "offset": 0, "text": "caf"}]
    assert items[2:] == [{"type": "end", "task": "talk", "attempt": 1, "ended": False,
                          "state": "running", "stdout_offset": 6, "stderr_offset": 3}]
    assert sleeps  # it waited (on the injected sleep) before giving up
    # asking again from the end record's offsets gives only what is new
    running.write("stderr", "é".encode()[1:] + b"\n")
    again = list(LogFollower(running.store, running.run_id, "talk",
                             LogPosition(attempt=1, stdout=6, stderr=3), follow=False))
    assert again == [
        {"type": "output", "stream": "stderr", "offset": 3, "text": "é\n"},
        {"type": "end", "task": "talk", "attempt": 1, "ended": False, "state": "running",
         "stdout_offset": 6, "stderr_offset": 6}]


def test_a_task_not_started_ends_with_the_run(lmdb_store):
    svc = WorkflowService(lmdb_store)
    run_id = trigger(svc, TWO, "two")
    state, _ = run_with(lmdb_store, run_id, {"talk": TaskBehavior(exit_code=3)})
    assert state == "failed"
    items = list(LogFollower(lmdb_store, run_id, "after", LogPosition()))
    assert items == [{"type": "end", "task": "after", "attempt": 0, "ended": True,
                      "state": "skipped", "stdout_offset": 0, "stderr_offset": 0}]


def test_follow_to_end_asks_again_from_each_end_record():
    answers = iter([
        [{"type": "output", "stream": "stdout", "offset": 0, "text": "a"},
         {"type": "end", "attempt": 2, "ended": False, "stdout_offset": 1, "stderr_offset": 0}],
        [{"type": "end", "attempt": 2, "ended": True, "stdout_offset": 1, "stderr_offset": 0}],
    ])
    asked = []

    def follow_logs(run_id, task, **kw):
        asked.append(kw)
        return iter(next(answers))

    items = list(follow_to_end(follow_logs, "r", "t"))
    assert [i["type"] for i in items] == ["output", "end", "end"]
    assert asked == [
        {"attempt": None, "follow": True, "stdout_offset": 0, "stderr_offset": 0},
        {"attempt": 2, "follow": True, "stdout_offset": 1, "stderr_offset": 0}]


def test_follow_to_end_says_when_a_stream_was_cut_off():
    with pytest.raises(LogStreamCut, match="cut off"):
        list(follow_to_end(lambda *a, **kw: iter([{"type": "output", "stream": "stdout",
                                                   "offset": 0, "text": "a"}]), "r", "t"))


def test_dead_workers_spools_are_removed(running):
    running.write("stdout", b"x")
    spools.remove_run_logs(running.store, running.run_id)
    assert not running.paths["stdout"].parent.exists()


# ---- the endpoint ------------------------------------------------------------------------
def test_logs_endpoint_answers_ndjson(lmdb_store):
    api = make_api(lmdb_store)
    run_id = ended_run(lmdb_store, b"hello\n")
    resp = api.client.simulate_get(f"/api/runs/{run_id}/tasks/talk/logs",
                                   params={"follow": "true"}, headers=api.h("reader"))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in resp.text.splitlines()]
    assert lines[0] == {"type": "output", "stream": "stdout", "offset": 0, "text": "hello\n"}
    assert lines[-1]["ended"] is True and lines[-1]["state"] == "success"


@pytest.mark.parametrize("params, status", [
    ({"follow": "maybe"}, 400), ({"wait": "0"}, 400), ({"wait": "31"}, 400),
    ({"stdout_offset": "-1"}, 400), ({"attempt": "0"}, 400), ({"attempt": "x"}, 400),
    ({"attempt": "2"}, 404)])
def test_logs_endpoint_refuses_bad_queries(lmdb_store, params, status):
    api = make_api(lmdb_store)
    run_id = ended_run(lmdb_store, b"")
    resp = api.client.simulate_get(f"/api/runs/{run_id}/tasks/talk/logs", params=params,
                                   headers=api.h("reader"))
    assert resp.status_code == status, resp.text
    assert set(resp.json) == {"title", "description"}


def test_logs_endpoint_unknown_run_task_and_role(lmdb_store):
    api = make_api(lmdb_store)
    run_id = ended_run(lmdb_store, b"")
    unknown = "01a2340f-f789-7c70-9e1c-0749246983dc"
    assert api.client.simulate_get(f"/api/runs/{unknown}/tasks/talk/logs",
                                   headers=api.h("reader")).status_code == 404
    assert api.client.simulate_get(f"/api/runs/{run_id}/tasks/nope/logs",
                                   headers=api.h("reader")).status_code == 404
    assert api.client.simulate_get(f"/api/runs/{run_id}/tasks/talk/logs").status_code == 401


# ---- the web UI ---------------------------------------------------------------------------
def test_ui_attempt_page_shows_the_output_so_far(running):
    ui = make_ui(running.store)
    running.write("stdout", b"so far so good\n")
    page = ui.get(f"/ui/runs/{running.run_id}/tasks/talk", ui.login())
    assert page.status_code == 200
    assert 'id="live-stdout"' in page.text and "so far so good" in page.text


def test_an_attempt_whose_worker_died_ends_with_what_its_spool_held(running):
    from wfobj.engine.clock import Clock
    from wfobj.engine.runs.lifecycle import end_run
    from wfobj.engine.runs.state import RunState
    from wfobj.engine.states import RunStatus, TaskStatus

    running.write("stdout", b"last words\n")
    follower = LogFollower(running.store, running.run_id, "talk", LogPosition(), wait=3,
                           sleep=lambda s: None, monotonic=ticking())
    # recovery ends the run of a dead worker: its running task fails without evidence
    run = RunState.load(running.store, running.run_id)
    at = Clock().stamp()
    with run.change(running.store, at) as b:
        end_run(run, b, at=at, actor="test", state=RunStatus.FAILED, reason="its worker died",
                running_to=TaskStatus.FAILED)
    assert list(follower) == [
        {"type": "output", "stream": "stdout", "offset": 0, "text": "last words\n"},
        {"type": "end", "task": "talk", "attempt": 1, "ended": True, "state": "failed",
         "stdout_offset": 11, "stderr_offset": 0}]


# ---- the command ---------------------------------------------------------------------------
def test_cli_follow_of_an_ended_attempt_prints_it_and_ends(lmdb_store, tmp_path):
    from click.testing import CliRunner

    from wfobj.cli.context import CliContext
    from wfobj.cli.main import cli

    run_id = ended_run(lmdb_store, b"done\n")

    def wf(*args):
        return CliRunner().invoke(cli, ["--store", str(lmdb_store.path), *args],
                                  obj=CliContext())

    plain = wf("run", "logs", run_id, "talk", "--follow")
    assert plain.exit_code == 0 and plain.stdout == "done\n" and plain.stderr == ""
    records = [json.loads(line) for line in
               wf("run", "logs", run_id, "talk", "-f", "--json").stdout.splitlines()]
    assert [r["type"] for r in records] == ["output", "end"] and records[-1]["ended"]
    no_task = wf("run", "logs", run_id, "--follow")
    assert no_task.exit_code == 2 and "--follow needs a TASK" in no_task.stderr
