"""How the slurm executor ends an attempt, against a scripted Slurm (no cluster): a node's
report of a cancel the engine never asked for is a failure naming Slurm, whichever comes
first, the report or the queue's CANCELLED."""

from __future__ import annotations

import re
import threading

import pytest

from wfobj.engine.clock import parse_time
from wfobj.engine.executors.attempts import AttemptTokens, report_object
from wfobj.engine.executors.base import AttemptResult, StoredText, TaskSpec
from wfobj.engine.executors.settings import SlurmSettings
from wfobj.engine.executors.slurm import SlurmCommands, SlurmExecutor
from wfobj.objstore import MemoryObjectStore

SPEC = TaskSpec(run_id="01a2376e-0000-7000-8000-000000000001", task="nap", attempt=1,
                image="wfobj/toolbox:local", command=["sleep", "300"], env={}, workdir=None,
                network=False, cpus=None, memory="64m", timeout=None, inputs=[],
                output_files=[], output_vars=[])


class ScriptedSlurm:
    """sbatch answers job 12; squeue says RUNNING until `ended` is set, then CANCELLED.
    The node's side is `node(token, spec_oid)`, called once the job is submitted."""

    def __init__(self, node):
        self.node = node
        self.ended = threading.Event()
        self.cancelled: list[str] = []

    def __call__(self, argv, stdin):
        if argv[0] == "sbatch":
            token = re.search(r"WFOBJ_TOKEN=(\S+);", stdin).group(1)
            spec_oid = stdin.strip().split()[-1]
            threading.Thread(target=self.node, args=(token, spec_oid), daemon=True).start()
            return "12\n"
        if argv[0] == "squeue":
            state = "CANCELLED" if self.ended.is_set() else "RUNNING"
            return f"12|{state}|node1|None\n"
        if argv[0] == "scancel":
            self.cancelled.extend(argv[1:])
        return ""


def killed_report(store, tokens, grant, spec_oid):
    """A node's report of a killed attempt, its objects uploaded with its token (as
    api/attempts.py records what a pack brought)."""
    empty = store.put_blob(b"")
    result = AttemptResult(state="killed", exit_code=143, stdout=StoredText(empty, 0, ""),
                           stderr=StoredText(empty, 0, ""),
                           started_at=parse_time("2026-12-04T00:00:00.000000Z"),
                           ended_at=parse_time("2026-12-04T00:00:01.000000Z"),
                           host={"name": "node1"},
                           error="killed: SIGTERM, the container stopped within the grace")
    report = store.put_object(report_object(spec_oid, SPEC, result).to_value())
    tokens.record_uploads(grant, {empty, report}, store.size_of(report))
    return report


@pytest.mark.parametrize("report_first", [True, False])
def test_an_outside_scancel_fails_the_attempt_naming_slurm_whatever_comes_first(report_first):
    store = MemoryObjectStore()
    tokens = AttemptTokens(store)

    def node(token, spec_oid):
        try:
            grant = tokens.check(token, spec_oid)
            if not report_first:
                slurm.ended.set()
            tokens.accept_report(grant, killed_report(store, tokens, grant, spec_oid))
        except Exception as exc:  # noqa: BLE001 - shown by the assertion below
            failures.append(exc)
        finally:
            slurm.ended.set()  # the job ends whatever the node managed to send

    failures: list[Exception] = []

    slurm = ScriptedSlurm(node)
    ex = SlurmExecutor(SlurmSettings(server_url="http://head:8080", poll=0.1),
                       commands=SlurmCommands(slurm))
    result = ex.run(SPEC, store, threading.Event())
    assert failures == []
    assert result.state == "failed", result.error
    assert "Slurm job 12" in result.error and "CANCELLED" in result.error
    assert result.executor == {"kind": "slurm", "job_id": "12", "node": "node1"}
    assert slurm.cancelled == []


def test_a_kill_through_wfobj_stays_killed():
    store = MemoryObjectStore()
    tokens = AttemptTokens(store)
    cancel = threading.Event()

    def node(token, spec_oid):
        try:
            grant = tokens.check(token, spec_oid)
            cancel.set()
            slurm.ended.wait(10)
            tokens.accept_report(grant, killed_report(store, tokens, grant, spec_oid))
        except Exception as exc:  # noqa: BLE001 - shown by the assertion below
            failures.append(exc)
            slurm.ended.set()

    failures: list[Exception] = []

    slurm = ScriptedSlurm(node)
    original = slurm.__call__

    def runner(argv, stdin):
        if argv[0] == "scancel":
            slurm.ended.set()
        return original(argv, stdin)

    ex = SlurmExecutor(SlurmSettings(server_url="http://head:8080", poll=0.1),
                       commands=SlurmCommands(runner))
    result = ex.run(SPEC, store, cancel)
    assert failures == []
    assert result.state == "killed"
    assert slurm.cancelled == ["12"]
