"""Template amplification (issue 11, hole 2): the rendered command and env of an attempt
are bounded (MAX_RENDERED_BYTES); refused at trigger when the parameters decide it, else
the attempt fails before any container starts, naming the limit."""

from __future__ import annotations

import pytest

from tests.support_api import make_api
from tests.support_engine import run_with, service, task, trigger
from wfobj.engine.bounds import MAX_RENDERED_BYTES
from wfobj.engine.errors import DefinitionError, RenderedTooLarge
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.objstore import MemoryObjectStore

BIG = "p" * (100 << 10)
AMPLIFIED = {"params": {"p": {"type": "string", "default": "x"}},
             "tasks": {"t": task(" ".join(["{{params.p}}"] * 1000))}}


def test_trigger_refuses_a_command_the_parameters_amplify():
    store = MemoryObjectStore()
    svc = service(store)
    svc.apply_workflow("wf", AMPLIFIED, user="alice")
    before = sorted(store)
    with pytest.raises(RenderedTooLarge) as info:
        svc.trigger(name="wf", parameters={"p": BIG}, user="alice")
    assert info.value.task == "t" and info.value.limit == MAX_RENDERED_BYTES
    assert str(MAX_RENDERED_BYTES) in str(info.value) and len(str(info.value)) < 300
    assert sorted(store) == before  # no run recorded


def test_trigger_refuses_an_amplified_env_and_counts_run_id():
    store = MemoryObjectStore()
    svc = service(store)
    env = {f"E{i}": "{{params.p}}{{run.id}}" for i in range(3)}
    d = {"params": {"p": {"type": "string"}}, "tasks": {"t": task("true", env=env)}}
    svc.apply_workflow("wf", d, user="alice")
    with pytest.raises(RenderedTooLarge):
        svc.trigger(name="wf", parameters={"p": "e" * (MAX_RENDERED_BYTES // 3)}, user="alice")
    assert svc.trigger(name="wf", parameters={"p": "e" * 1000}, user="alice")["run_id"]


def test_trigger_over_http_is_400_naming_the_limit():
    api = make_api(MemoryObjectStore())
    assert api.client.simulate_put("/api/workflows/wf", json=AMPLIFIED,
                                   headers=api.h()).status_code == 201
    r = api.client.simulate_post("/api/workflows/wf/trigger",
                                 json={"parameters": {"p": BIG}}, headers=api.h())
    assert r.status_code == 400, r.json
    assert str(MAX_RENDERED_BYTES) in r.json["description"] and len(r.content) < 1000
    assert api.client.simulate_get("/api/runs", headers=api.h()).json["runs"] == []


def test_small_parameters_still_run():
    store = MemoryObjectStore()
    run_id = trigger(service(store), AMPLIFIED, p="ok")
    assert run_with(store, run_id)[0] == "success"


def test_a_literal_command_over_the_limit_is_refused_at_registration():
    d = {"tasks": {"t": task("x" * (MAX_RENDERED_BYTES + 1))}}
    with pytest.raises(DefinitionError) as info:
        service(MemoryObjectStore()).apply_workflow("wf", d, user="alice")
    assert str(MAX_RENDERED_BYTES) in str(info.value) and info.value.place == "tasks.t"


def test_vars_that_amplify_fail_the_attempt_before_any_container_starts():
    store = MemoryObjectStore()
    svc = service(store)
    d = {"tasks": {
        "a": task("true", outputs={"vars": ["v"]}),
        "b": task(" ".join(["{{tasks.a.vars.v}}"] * 1000), after=["a"]),
    }}
    run_id = trigger(svc, d)
    state, executor = run_with(store, run_id, {"a": TaskBehavior(vars={"v": "v" * 1000})})
    assert state == "failed"
    assert [span[0] for span in executor.spans] == ["a"]  # b never reached the executor
    b = svc.run_task(run_id, "b")
    assert b["state"] == "failed" and str(MAX_RENDERED_BYTES) in b["error"]
    assert b["exit_code"] is None
    assert sum(len(item) for item in b["command"]) < 64 << 10  # the template, not 1 MB
