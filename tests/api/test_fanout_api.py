"""Fan-out through the API: register and trigger with a `list` param, instances by name
(URL-encoded), the run view naming the first 1000 rows with counts of all, and the task
list paged with a Link header — reading only the rows asked for."""

from __future__ import annotations

import io

import pytest

from tests.support_api import make_api
from tests.support_engine import task
from wfobj.engine.executors.fake import FakeExecutor
from wfobj.engine.runs.rows import RunHead
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore, TreeBuilder

FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": task("echo {{item}}", for_each={"param": "n"}, outputs={"vars": ["v"]}),
                 "after": task("true", after=["each"])}}


@pytest.fixture
def api():
    api = make_api(MemoryObjectStore())
    assert api.client.simulate_put("/api/workflows/fan", json=FAN, headers=api.h()).status_code == 201
    return api


def run(api, values) -> str:
    r = api.client.simulate_post("/api/workflows/fan/trigger", json={"parameters": {"n": values}},
                                 headers=api.h())
    assert r.status_code == 202, r.json
    run_id = r.json["run_id"]
    WorkflowService(api.store, executor_factory=FakeExecutor).wait(run_id, timeout=60)
    return run_id


def test_instances_by_name_and_a_small_run_view(api):
    run_id = run(api, ["x", "y", "z"])
    view = api.client.simulate_get(f"/api/runs/{run_id}", headers=api.h()).json
    assert view["state"] == "success" and view["tasks_truncated"] is False
    assert view["tasks"] == {"each": "success", "after": "success", "each[0]": "success",
                             "each[1]": "success", "each[2]": "success"}
    assert view["task_count"] == 5 and view["task_states"] == {"success": 5}
    one = api.client.simulate_get(f"/api/runs/{run_id}/tasks/each%5B2%5D", headers=api.h())
    assert one.status_code == 200 and one.json["command"][-1] == "echo z"
    fanned = api.client.simulate_get(f"/api/runs/{run_id}/tasks/each", headers=api.h()).json
    assert fanned["attempt"] == 0 and fanned["instances"] == {"first": 2, "count": 3}
    missing = api.client.simulate_get(f"/api/runs/{run_id}/tasks/each%5B9%5D", headers=api.h())
    assert missing.status_code == 404
    for bad in ("each%5B.x%5D", "each%5B%5D", "each%5Ba%20b%5D"):
        r = api.client.simulate_get(f"/api/runs/{run_id}/tasks/{bad}", headers=api.h())
        assert r.status_code == 400 and "invalid task name" in r.json["description"]


def test_a_large_run_is_viewed_and_listed_a_page_at_a_time(api):
    run_id = run(api, list(range(1500)))
    view = api.client.simulate_get(f"/api/runs/{run_id}", headers=api.h()).json
    assert view["task_count"] == 1502 and view["tasks_truncated"] is True
    assert len(view["tasks"]) == 1000 and view["task_states"] == {"success": 1502}
    first = api.client.simulate_get(f"/api/runs/{run_id}/tasks", headers=api.h())
    assert len(first.json) == 1000
    assert first.headers["link"] == f'</api/runs/{run_id}/tasks?start=1000&limit=1000>; rel=next'
    rest = api.client.simulate_get(f"/api/runs/{run_id}/tasks?start=1000&limit=1000",
                                   headers=api.h())
    assert len(rest.json) == 502 and "link" not in rest.headers
    assert rest.json[-1]["task"] == "each[1499]" and rest.json[-1]["command"][-1] == "echo 1499"
    r = api.client.simulate_get(f"/api/runs/{run_id}/tasks?limit=1001", headers=api.h())
    assert r.status_code == 400


def put_tree(store, names):
    builder = TreeBuilder(store)
    for name in names:
        builder.add_file(name, io.BytesIO(name.encode()))
    return builder.finish().oid


def test_an_instance_is_found_by_bisection_reading_few_buckets():
    store = MemoryObjectStore()
    svc = WorkflowService(store, executor_factory=FakeExecutor)
    names = [f"s{i:05d}.fq" for i in range(3000)]
    svc.apply_workflow("d", {"params": {"d": {"type": "dir"}},
                             "tasks": {"each": task("x", for_each={"param": "d"})}}, user="u")
    run_id = svc.trigger(name="d", parameters={"d": put_tree(store, names)}, user="u")["run_id"]
    svc.wait(run_id, timeout=60)
    head = RunHead.load(store, run_id)
    entry = head.find("each[s02345.fq]")
    assert entry is not None and entry.state == "success" and len(entry.attempts) == 1
    assert len(head.rows._buckets) <= 14  # the task's row, then log2(3000) probes
    assert head.find("each[s99999.fq]") is None and head.find("each[s0.fq]") is None
    assert head.find("nope") is None and head.find("nope[1]") is None


def test_an_instance_s_attempt_logs_and_cache_are_read_without_the_whole_table(api):
    run_id = run(api, list(range(1500)))
    h = api.h()
    name = "each%5B1234%5D"
    attempt = api.service.run_attempt(run_id, "each[1234]", 1)  # the UI's attempt pages
    assert attempt["command"][-1] == "echo 1234" and len(attempt["attempts"]) == 1
    assert api.service.run_logs(run_id, "each[1234]")["attempt"] == 1
    cache = api.client.simulate_get(f"/api/runs/{run_id}/tasks/{name}/cache", headers=h)
    assert cache.status_code == 200 and cache.json["key"] is not None and cache.json["hit"] is False
    missing = api.client.simulate_get(f"/api/runs/{run_id}/tasks/each%5B1500%5D/cache", headers=h)
    assert missing.status_code == 404
