"""`wfobj run trigger --wait` prints each task state change as it happens (one stderr
line: time, task, old -> new), when the CLI runs the run itself and over --server. Real
CLI processes, real Docker; each line is read as it comes and the run's state taken then."""

from __future__ import annotations

import re
import subprocess

import pytest
import requests

from tests.support_e2e import ROOT, start_server, wfobj_argv
from wfobj.engine.service import WorkflowService
from wfobj.objstore import init_store, open_store

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLOW = {"tasks": {"slow": {"image": "wfobj/toolbox:local", "command": ["sh", "-c", "sleep 3"]},
                  "then": {"image": "wfobj/toolbox:local", "command": ["true"],
                           "after": ["slow"]}}}
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  (\S+)\s+(\w+)(?: -> (\w+))?$")


def watch(argv, state_of) -> tuple[list, int, str]:
    """Run the CLI; for each stderr line, (parsed line, the run's state read right then)."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen = []
    for line in proc.stderr:
        match = LINE.match(line.rstrip("\n"))
        assert match, line
        seen.append((match.groups(), state_of()))
    out = proc.stdout.read()
    return seen, proc.wait(120), out


def check_progress(seen) -> None:
    changes = [groups for groups, _ in seen]
    assert ("slow", "pending", "running") in changes
    assert ("slow", "running", "success") in changes
    assert ("then", "running", "success") in changes or ("then", "pending", "success") in changes
    assert changes[-1] == ("(run)", "running", "success")
    assert changes.index(("slow", "pending", "running")) < changes.index(
        ("slow", "running", "success"))
    # the line saying `slow` started came while it ran, not after the run ended
    started = dict(seen)[("slow", "pending", "running")]
    assert started == "running"
    assert not any("None" in " ".join(filter(None, g)) for g in changes)


def test_local_wait_prints_changes_as_they_happen(tmp_path, docker_client):
    store_path = tmp_path / "store"
    store = init_store(store_path)
    WorkflowService(store).apply_workflow("slow", SLOW, user="alice")
    store.close()

    def state_of():
        st = open_store(store_path)
        try:
            runs = WorkflowService(st).list_runs()["runs"]
            return runs[0]["state"] if runs else None
        finally:
            st.close()

    seen, code, out = watch(wfobj_argv("--store", str(store_path), "run", "trigger", "slow",
                                       "--no-cache", "--wait"), state_of)
    assert code == 0, out
    check_progress(seen)


def test_wait_over_server_prints_changes_as_they_happen(tmp_path, docker_client):
    server = start_server(tmp_path)
    try:
        r = requests.put(f"{server.url}/api/workflows/slow", json=SLOW, headers=server.h(),
                         timeout=10)
        assert r.status_code == 201

        def state_of():
            page = requests.get(f"{server.url}/api/runs", headers=server.h("reader"),
                                timeout=10).json()
            return page["runs"][0]["state"] if page["runs"] else None

        seen, code, out = watch(wfobj_argv("--server", server.url, "--token",
                                           server.tokens["runner"], "run", "trigger", "slow",
                                           "--no-cache", "--wait"), state_of)
        assert code == 0, out
        check_progress(seen)
    finally:
        assert server.stop() == 0, server.log()
