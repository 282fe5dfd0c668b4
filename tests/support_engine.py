"""Builders for engine tests: definitions, a service with a fake executor, run helpers."""

from __future__ import annotations

import copy

from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
from wfobj.engine.layout import QUEUE_NS
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.engine.service import WorkflowService

WORDCOUNT = {
    "name": "wordcount",
    "description": "Count the words of a text",
    "params": {"corpus": {"type": "file"}, "min_len": {"type": "int", "default": 3}},
    "tasks": {
        "split": {
            "image": "wfobj/toolbox:local",
            "command": ["sh", "-c", "awk 'length >= {{params.min_len}}' /in/corpus > /out/words.txt"],
            "inputs": {"corpus": {"param": "corpus"}},
            "outputs": {"files": ["words.txt"]},
        },
        "count": {
            "image": "wfobj/toolbox:local",
            "command": ["sh", "-c", "grep -c . /in/words > /out/count.txt; echo count=1 >> $WFOBJ_VARS"],
            "inputs": {"words": {"task": "split", "file": "words.txt"}},
            "outputs": {"files": ["count.txt"], "vars": ["count"]},
            "env": {"LC_ALL": "C"},
            "timeout": 600,
            "retries": 1,
        },
    },
}


def wordcount() -> dict:
    return copy.deepcopy(WORDCOUNT)


def task(command: str = "true", **extra) -> dict:
    return {"image": "wfobj/toolbox:local", "command": ["sh", "-c", command], **extra}


def chain(*names: str) -> dict:
    """Tasks a → b → c… linked by `after`."""
    tasks = {}
    for i, name in enumerate(names):
        tasks[name] = task(after=[names[i - 1]] if i else [])
    return {"tasks": tasks}


def service(store) -> WorkflowService:
    return WorkflowService(store)


def run_with(store, run_id: str, behaviors: dict[str, TaskBehavior] | None = None,
             concurrency: int = 4) -> tuple[str, FakeExecutor]:
    """Drive one run to its end with a fake executor; returns (state, executor)."""
    ex = FakeExecutor(behaviors or {})
    claim(store, run_id)
    state = RunScheduler(store, run_id, ex, concurrency=concurrency, poll=0.05).run_to_end()
    return state, ex


def trigger(svc: WorkflowService, definition: dict, name: str = "wf", *, cache: bool = False,
            **params) -> str:
    """Register and trigger; the cache is off unless asked, since these tests are about
    running tasks (tasks with equal keys would otherwise reuse each other)."""
    svc.apply_workflow(name, definition, user="alice")
    return svc.trigger(name=name, parameters=params, user="alice", cache=cache)["run_id"]


def claim(store, run_id: str) -> None:
    """Take the run off the queue, as a worker's claim does."""
    store.meta_cas(QUEUE_NS, run_id, b"1", None)
