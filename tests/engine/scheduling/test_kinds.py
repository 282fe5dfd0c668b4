"""The task-kind extension point (engine/scheduling/kinds.py): what the attempt's thread
calls runs the executor (or the kind's in-engine call), then `finish`, and `close` always."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wfobj.engine.clock import Clock
from wfobj.engine.executors.base import AttemptResult, StoredText, TaskSpec
from wfobj.engine.scheduling.kinds import Prepared, attempt_call

SPEC = TaskSpec(run_id="r", task="t", attempt=1, image="i", command=["true"], env={},
                workdir=None, network=False, cpus=None, memory=None, timeout=None, inputs=[],
                output_files=[], output_vars=[])
EMPTY = StoredText("0" * 64, 0, "")


def result(**vars_) -> AttemptResult:
    now = Clock().now()
    return AttemptResult(state="success", exit_code=0, stdout=EMPTY, stderr=EMPTY,
                         started_at=now, ended_at=now, vars=dict(vars_))


def test_finish_sees_the_executors_result_and_close_runs_after():
    calls = []
    prepared = Prepared(SPEC, finish=lambda r: calls.append("finish") or replace(
        r, vars={**r.vars, "made": "1"}), close=lambda: calls.append("close"))
    got = attempt_call(prepared, lambda: calls.append("run") or result(rc="0"))()
    assert calls == ["run", "finish", "close"] and got.vars == {"rc": "0", "made": "1"}


def test_an_in_engine_call_replaces_the_executor():
    prepared = Prepared(SPEC, in_engine=lambda: result(cwl="{}"))
    got = attempt_call(prepared, lambda: pytest.fail("the executor ran"))()
    assert got.vars == {"cwl": "{}"}


def test_close_runs_when_the_attempt_raises():
    closed = []

    def boom() -> AttemptResult:
        raise RuntimeError("executor bug")

    prepared = Prepared(SPEC, close=lambda: closed.append(True))
    with pytest.raises(RuntimeError):
        attempt_call(prepared, boom)()
    assert closed == [True]
