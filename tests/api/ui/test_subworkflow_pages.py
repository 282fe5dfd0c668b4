"""The UI links a sub-workflow task's attempt to its child run and the child run back to
its parent, and shows an attempt's retry facts (Falcon test client, fake executor)."""

from __future__ import annotations

import pytest

from tests.support_engine import run_with, task, trigger
from tests.support_ui import make_ui
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.objstore import MemoryObjectStore


@pytest.fixture
def ui():
    return make_ui(MemoryObjectStore())


def test_parent_task_and_child_run_link_each_other(ui):
    session = ui.login()
    ui.service.apply_workflow("child", {"tasks": {"leaf": task(outputs={"vars": ["v"]})}},
                              user="alice")
    parent = {"tasks": {"sub": {"workflow": {"name": "child"}, "outputs": {"vars": ["leaf.v"]}},
                        "after_sub": task(env={"V": "{{tasks.sub.vars.leaf.v}}"})}}
    run_id = trigger(ui.service, parent, "parent")
    assert run_with(ui.store, run_id)[0] == "success"
    child_id = ui.service.run_task(run_id, "sub")["child"]["run_id"]
    attempt = ui.get(f"/ui/runs/{run_id}/tasks/sub", session).text
    assert "<dt>Child run</dt>" in attempt and f'href="/ui/runs/{child_id}"' in attempt
    child = ui.get(f"/ui/runs/{child_id}", session).text
    assert "<dt>Parent run</dt>" in child
    assert f'href="/ui/runs/{run_id}"' in child and f'href="/ui/runs/{run_id}/tasks/sub"' in child


def test_an_attempt_page_shows_its_retry_delay_and_resources(ui):
    session = ui.login()
    d = {"tasks": {"flaky": task(retries=1, resources={"memory": "1g"},
                                 retry={"memory_factor": 2})}}
    run_id = trigger(ui.service, d, "flaky")
    run_with(ui.store, run_id, {"flaky": TaskBehavior(fail_attempts=1)})
    page = ui.get(f"/ui/runs/{run_id}/tasks/flaky", session).text
    assert "<dt>Retry</dt>" in page and "memory <code>2g</code>" in page
