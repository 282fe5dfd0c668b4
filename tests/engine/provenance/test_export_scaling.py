"""A JSON export's time grows with the run, not with its square: PROV once looked for
each attempt's producers among every attempt (20,000 fanned-out instances: over 300 s).
A fan-out run of the fake executor in memory; generous bounds (a shared machine)."""

from __future__ import annotations

import time

import pytest

from tests.support_engine import run_with, trigger
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore

INSTANCES = 6000

FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": {"image": "none", "command": ["run", "{{item}}"],
                          "for_each": {"param": "n"}, "outputs": {"files": ["o.txt"]}},
                 "gather": {"image": "none", "command": ["gather"], "after": ["each"]}}}


@pytest.fixture(scope="module")
def fanned_out():
    store = MemoryObjectStore()
    svc = WorkflowService(store)
    run_id = trigger(svc, FAN, "fan", n=list(range(INSTANCES)))
    state, _ = run_with(store, run_id, {"each": TaskBehavior(outputs={"o.txt": b"same\n"})},
                        concurrency=16)
    assert state == "success"
    return svc, run_id


@pytest.mark.parametrize("fmt", ["prov", "openlineage"])
def test_a_json_export_of_a_large_fan_out_takes_linear_time(fanned_out, fmt):
    svc, run_id = fanned_out
    started = time.perf_counter()
    body = svc.export_run(run_id, fmt).content
    seconds = time.perf_counter() - started
    assert len(body) > INSTANCES * 100
    assert seconds < 30, f"{fmt} export of {INSTANCES} instances took {seconds:.1f} s"
