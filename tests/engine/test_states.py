"""The one list of states: transitions enforced where states change, and the API's
OpenAPI document, UI filter and CLI choices offering exactly the enum values."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.support_api import make_api
from tests.support_engine import chain, run_with, service, trigger
from wfobj.cli.main import cli
from wfobj.engine.errors import EngineError, IllegalTransition
from wfobj.engine.runs.state import RunState
from wfobj.engine.states import (
    RUN_TERMINAL,
    RUN_TRANSITIONS,
    TASK_TERMINAL,
    TASK_TRANSITIONS,
    RunStatus,
    TaskStatus,
    run_transition,
    task_transition,
)
from wfobj.objstore import MemoryObjectStore


def test_states_are_the_stored_strings():
    assert [str(s) for s in RunStatus] == ["pending", "running", "success", "failed", "killed"]
    assert set(TaskStatus) - set(RunStatus) == {TaskStatus.SKIPPED}
    assert RUN_TERMINAL == {"success", "failed", "killed"}
    assert TASK_TERMINAL == {"success", "failed", "skipped", "killed"}


def test_terminal_states_never_change_and_every_state_has_rules():
    assert set(RUN_TRANSITIONS) == set(RunStatus) and set(TASK_TRANSITIONS) == set(TaskStatus)
    for end in RUN_TERMINAL:
        for new in RunStatus:
            with pytest.raises(IllegalTransition):
                run_transition(end, new)
    for end in TASK_TERMINAL:
        for new in TaskStatus:
            with pytest.raises(IllegalTransition):
                task_transition(end, new)


def test_illegal_transition_names_both_states():
    with pytest.raises(IllegalTransition) as info:
        run_transition("success", "running")
    err = info.value
    assert isinstance(err, EngineError)
    assert (err.kind, err.old, err.new) == ("run", "success", "running")
    assert "'success'" in str(err) and "'running'" in str(err)
    with pytest.raises(IllegalTransition, match="'bogus'"):
        task_transition("pending", "bogus")


def test_run_state_refuses_an_illegal_change_and_keeps_its_state(store):
    svc = service(store)
    run_id = trigger(svc, chain("a", "b"))
    state, _ = run_with(store, run_id)
    assert state == RunStatus.SUCCESS
    run = RunState.load(store, run_id)
    with pytest.raises(IllegalTransition, match="'success' to 'running'"):
        run.set_state(RunStatus.RUNNING, "2026-01-01T00:00:00Z")
    with pytest.raises(IllegalTransition, match="'success' to 'pending'"):
        run.set_task("a", TaskStatus.PENDING)
    assert run.state == "success" and run.tasks["a"].state == "success"


def test_openapi_enums_are_the_enum_values():
    api = make_api(MemoryObjectStore())
    schemas = api.client.simulate_get("/api/openapi.json").json["components"]["schemas"]
    run_states = [str(s) for s in RunStatus]
    for name in ("Triggered", "Run", "Killed", "Resumed", "Reproduced"):
        assert schemas[name]["properties"]["state"]["enum"] == run_states, name
    task_states = [str(s) for s in TaskStatus]
    assert schemas["Run"]["properties"]["tasks"]["additionalProperties"]["enum"] == task_states
    assert schemas["Evidence"]["properties"]["state"]["enum"] == task_states


def test_api_and_cli_refuse_a_state_outside_the_enum(tmp_path):
    api = make_api(MemoryObjectStore())
    resp = api.client.simulate_get("/api/runs", params={"state": "skipped"},
                                   headers=api.h("reader"))
    assert resp.status_code == 400
    assert resp.json["description"].endswith(", ".join(RunStatus))
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), "run", "list",
                                      "--state", "skipped"])
    assert result.exit_code != 0
    assert "'pending', 'running', 'success', 'failed', 'killed'" in result.output
