"""The UI on sub-workflow runs (fake executor): a sub-workflow task links its child run
from its DAG node and its table row (while it runs too), and the child's page says whose
it is in its first line (tests/api/ui/test_subworkflow_pages.py has the attempt page's
and the record's links)."""

from __future__ import annotations

import re

import pytest

from tests.support_engine import claim, run_with, task, trigger
from tests.support_ui import make_ui
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.objstore import MemoryObjectStore

CHILD = {"params": {"n": {"type": "int"}},
         "tasks": {"count": task("count {{params.n}}", outputs={"vars": ["total"]})}}
PARENT = {"tasks": {
    "prep": task(outputs={"vars": ["n"]}),
    "sub": {"workflow": {"name": "child"}, "params": {"n": "{{tasks.prep.vars.n}}"},
            "outputs": {"vars": ["count.total"]}}}}


@pytest.fixture
def ui():
    ui = make_ui(MemoryObjectStore())
    ui.service.apply_workflow("child", CHILD, user="alice")
    return ui


@pytest.fixture
def session(ui):
    return ui.login()


def node(page: str, name: str) -> str:
    return re.search(rf'<g class="node[^"]*" data-task="{name}".*?</g>', page, re.S).group(0)


def test_a_child_run_is_linked_from_its_parent_task_and_back(ui, session):
    run_id = trigger(ui.service, PARENT, "parent")
    assert run_with(ui.store, run_id, {"prep": TaskBehavior(vars={"n": "3"})})[0] == "success"
    child = ui.service.run_task(run_id, "sub")["child"]["run_id"]
    page = ui.get(f"/ui/runs/{run_id}", session).text
    sub = node(page, "sub")
    assert 'class="node state-success subworkflow"' in sub
    assert f'data-workflow="child" data-child="{child}"' in sub
    assert f'aria-label="sub: success, runs workflow child as child run {child}"' in sub
    assert '<rect class="inner"' in sub  # drawn with a double border
    row = re.search(r'<tr data-task="sub">.*?</tr>', page, re.S).group(0)
    assert f'<a class="child" href="/ui/runs/{child}" data-child="{child}">' in row
    assert 'data-workflow' not in node(page, "prep") and "child run" not in node(page, "prep")
    back = ui.get(f"/ui/runs/{child}", session).text
    lead = re.search(r'<p class="lead">.*?</p>', back, re.S).group(0)
    assert f'href="/ui/runs/{run_id}/tasks/sub" data-parent-task="sub">sub</a>' in lead
    assert f'href="/ui/runs/{run_id}" data-parent="{run_id}"' in lead
    assert "child run of task" not in page


def test_a_running_child_is_linked_before_its_parent_task_ends(ui, session):
    run_id = trigger(ui.service, PARENT, "parent")
    claim(ui.store, run_id)
    sched = RunScheduler(ui.store, run_id, FakeExecutor({"count": TaskBehavior(sleep=60)}),
                         poll=0.02)
    assert sched.initialize()
    try:
        child = None
        for _ in range(2000):
            sched.loop()
            running = ui.service.list_runs(workflow="child", state="running")["runs"]
            if running and ui.service.get_run(running[0]["run_id"])["tasks"]["count"] == "running":
                child = running[0]["run_id"]
                break
        assert child is not None
        page = ui.get(f"/ui/runs/{run_id}", session).text
        assert f'data-child="{child}"' in node(page, "sub")
        assert f'href="/ui/runs/{child}" data-child="{child}"' in page
        assert f'data-parent="{run_id}"' in ui.get(f"/ui/runs/{child}", session).text
    finally:
        sched.request_stop("the test is done with it")
        while sched.loop():
            pass
        sched.shutdown()
    assert ui.service.get_run(child)["state"] in ("killed", "failed")
