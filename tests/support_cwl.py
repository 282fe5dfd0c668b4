"""Running a registered CWL workflow to its end on Docker in a test, and reading what it left."""

from __future__ import annotations

import json

from tests.support_engine import claim
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler


def run_to_end(store, svc, name: str, **params) -> str:
    run_id = svc.trigger(name=name, parameters=params, user="alice")["run_id"]
    claim(store, run_id)
    RunScheduler(store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    return run_id


def blob_text(store, location: str) -> str:
    assert location.startswith("wfobj:")
    return b"".join(store.iter_blob(location[len("wfobj:"):])).decode()


def cwl_output(task: dict) -> dict:
    return json.loads(task["vars"]["cwl"])


def told(store, svc, name: str, **params) -> str:
    """The text of the File `told` of the one task of workflow `name`'s run (a success)."""
    run_id = run_to_end(store, svc, name, **params)
    [task] = svc.run_tasks(run_id)
    assert task["state"] == "success", task
    return blob_text(store, cwl_output(task)["told"]["location"]).strip()
