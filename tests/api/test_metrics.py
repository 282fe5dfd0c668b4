"""GET /metrics through the real app, judged by prometheus_client's own text parser:
runs and attempts by state, the duration histogram, queue length and store size, counted
in the same transactions as the run steps and equal to a recount from scratch."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support_api import WORDCOUNT, make_api
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.service import WorkflowService
from wfobj.objstore import LmdbObjectStore, MemoryObjectStore


def scrape(api, role: str = "reader") -> dict[str, dict]:
    """{family name: {(sample name, labels as a sorted tuple): value}} of one scrape."""
    r = api.client.simulate_get("/metrics", headers=api.h(role))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {}
    for family in text_string_to_metric_families(r.text):
        families[family.name] = {
            (s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
    return families


def by_state(family: dict, name: str) -> dict[str, float]:
    return {dict(labels)["state"]: value for (sample, labels), value in family.items()
            if sample == name}


def trigger(api) -> str:
    corpus = api.store.put_blob(b"alpha beta gamma")
    r = api.client.simulate_post("/api/workflows/wc/trigger",
                                 json={"parameters": {"corpus": corpus}, "cache": False},
                                 headers=api.h())
    assert r.status_code == 202, r.text
    return r.json["run_id"]


def finish(api, run_id: str, **behaviors: TaskBehavior) -> str:
    service = WorkflowService(api.store, executor_factory=lambda: FakeExecutor(behaviors))
    return service.wait(run_id, timeout=30)["state"]


@pytest.fixture(params=["memory", "lmdb"])
def api(request, tmp_path):
    store = MemoryObjectStore() if request.param == "memory" else LmdbObjectStore(
        tmp_path / "store", create=True)
    api = make_api(store)
    assert api.client.simulate_put("/api/workflows/wc", json=WORDCOUNT,
                                   headers=api.h()).status_code in (200, 201)
    yield api
    store.close()


def test_runs_attempts_durations_queue_and_store(api):
    assert finish(api, trigger(api)) == "success"
    assert finish(api, trigger(api), split=TaskBehavior(exit_code=3)) == "failed"
    killed = trigger(api)
    assert api.client.simulate_post(f"/api/runs/{killed}/kill",
                                    headers=api.h()).status_code in (200, 202)
    trigger(api)  # waits in the queue

    m = scrape(api)

    assert by_state(m["wfobj_runs"], "wfobj_runs") == {
        "pending": 1, "running": 0, "success": 1, "failed": 1, "killed": 1}
    assert m["wfobj_runs_queued"][("wfobj_runs_queued", ())] == 1
    attempts = by_state(m["wfobj_task_attempts"], "wfobj_task_attempts_total")
    assert attempts == {"success": 2, "failed": 1, "killed": 0}
    hist = m["wfobj_task_attempt_duration_seconds"]
    assert hist[("wfobj_task_attempt_duration_seconds_count", ())] == 3
    assert hist[("wfobj_task_attempt_duration_seconds_bucket", (("le", "+Inf"),))] == 3
    assert hist[("wfobj_task_attempt_duration_seconds_sum", ())] >= 0
    buckets = [v for (name, _), v in hist.items() if name.endswith("_bucket")]
    assert buckets == sorted(buckets)  # cumulative
    assert m["wfobj_store_objects"][("wfobj_store_objects", ())] == len(list(api.store))
    assert m["wfobj_store_bytes"][("wfobj_store_bytes", ())] > 0


def test_counters_equal_a_recount(api):
    assert finish(api, trigger(api)) == "success"
    trigger(api)
    before = scrape(api)
    api.service.reindex()  # recounts every run and attempt from the store
    assert scrape(api) == before


def test_counts_for_a_store_older_than_the_counters(api):
    assert finish(api, trigger(api)) == "success"
    with api.store.batch() as b:  # a store written before counters existed
        for key, _ in api.store.meta_scan("counters"):
            b.meta_delete("counters", key)
    m = scrape(api)
    assert by_state(m["wfobj_runs"], "wfobj_runs")["success"] == 1
    assert by_state(m["wfobj_task_attempts"], "wfobj_task_attempts_total")["success"] == 2


def test_needs_a_reader_token(api):
    r = api.client.simulate_get("/metrics")
    assert r.status_code == 401 and r.json["title"] == "Authentication required"
    assert r.headers["www-authenticate"] == "Bearer"
    for role in ("reader", "runner", "admin"):
        assert scrape(api, role)["wfobj_runs"]
