"""The slurm executor end to end: a real two-node Slurm cluster (scripts/slurm-cluster.sh),
real Docker, a real `wfobj serve --executor slurm`, nodes running `wfobj exec` against it
with node-local stores."""

from __future__ import annotations

import subprocess

import pytest
import requests

from .support_e2e import start_server, wait_terminal

FANOUT = {
    "name": "fan",
    "params": {"seed": {"type": "string", "default": "abc"}},
    "tasks": {
        **{f"leaf{i}": {
            "image": "wfobj/toolbox:local",
            "command": ["sh", "-c", f"sleep 1; echo {i}-{{{{params.seed}}}} > /out/part.txt; "
                        f"echo n={i} >> $WFOBJ_VARS"],
            "outputs": {"files": ["part.txt"], "vars": ["n"]},
            "resources": {"cpus": 2, "memory": "64m"},  # a whole node each: both are used
        } for i in range(4)},
        "join": {
            "image": "wfobj/toolbox:local",
            "command": ["sh", "-c", "cat /in/p0 /in/p1 /in/p2 /in/p3 > /out/all.txt"],
            "inputs": {f"p{i}": {"task": f"leaf{i}", "file": "part.txt"} for i in range(4)},
            "outputs": {"files": ["all.txt"]},
            "resources": {"memory": "64m"},
        },
    },
}

SLEEPER = {
    "name": "sleeper",
    "tasks": {"nap": {"image": "wfobj/toolbox:local", "command": ["sleep", "300"],
                      "resources": {"memory": "64m"}, "retries": 1}},
}


@pytest.fixture
def slurm_server(tmp_path, slurm_cluster, docker_client):
    server = start_server(tmp_path / "slurm", extra=(
        "--executor", "slurm", "--slurm-poll", "0.3",
        "--slurm-node-store", str(tmp_path / "nodes" / "%n"),
        "--slurm-job-output", str(tmp_path / "job-%j.out")), env=slurm_cluster.env())
    yield server
    server.stop()


def run_workflow(server, definition: dict, wait: bool = True) -> dict:
    requests.put(f"{server.url}/api/workflows/{definition['name']}", json=definition,
                 headers=server.h("admin"), timeout=10).raise_for_status()
    started = requests.post(f"{server.url}/api/workflows/{definition['name']}/trigger",
                            json={}, headers=server.h("runner"), timeout=10)
    started.raise_for_status()
    run_id = started.json()["run_id"]
    return wait_terminal(server, run_id, timeout=180) if wait else {"run_id": run_id}


def tasks_of(server, run_id: str) -> dict[str, dict]:
    rows = requests.get(f"{server.url}/api/runs/{run_id}/tasks", headers=server.h("reader"),
                        timeout=10).json()
    return {row["task"]: row for row in rows}


def attempts_of(server, run_id: str, task: str) -> list[dict]:
    hashes = requests.get(f"{server.url}/api/runs/{run_id}/tasks/{task}",
                          headers=server.h("reader"), timeout=10).json()["attempts"]
    return [requests.get(f"{server.url}/api/objects/{h}", headers=server.h("reader"),
                         timeout=10).json() for h in hashes]


def outputs(rows: dict[str, dict]) -> dict[str, list[tuple[str, str]]]:
    return {name: sorted((o["path"], o["hash"]) for o in row["outputs"])
            for name, row in rows.items()}


def test_fan_out_lands_on_both_nodes_with_the_outputs_of_the_local_executor(
        tmp_path, slurm_server, docker_client):
    run = run_workflow(slurm_server, FANOUT)
    assert run["state"] == "success", slurm_server.log()
    rows = tasks_of(slurm_server, run["run_id"])
    nodes = set()
    for row in rows.values():
        assert row["executor"]["kind"] == "slurm" and row["executor"]["job_id"].isdigit()
        assert row["host"]["name"] == row["executor"]["node"]
        nodes.add(row["executor"]["node"])
    assert nodes == {"node1", "node2"}
    assert rows["join"]["vars"] == {} and rows["leaf3"]["vars"] == {"n": "3"}

    local = start_server(tmp_path / "local")
    try:
        local_run = run_workflow(local, FANOUT)
        assert local_run["state"] == "success", local.log()
        local_rows = tasks_of(local, local_run["run_id"])
    finally:
        local.stop()
    assert {row["executor"]["kind"] for row in local_rows.values()} == {"local"}
    assert outputs(rows) == outputs(local_rows)
    assert {n: r["stdout"]["hash"] for n, r in rows.items()} == \
        {n: r["stdout"]["hash"] for n, r in local_rows.items()}


def test_kill_cancels_the_job_and_leaves_nothing_queued(slurm_server, slurm_cluster):
    run_id = run_workflow(slurm_server, SLEEPER, wait=False)["run_id"]
    slurm_cluster.wait_for(lambda: any(s == "RUNNING" for _, s, _ in slurm_cluster.active_jobs()),
                           what="the job to run")
    # the container runs only once `wfobj exec` has fetched the spec: wait for it too
    slurm_cluster.wait_for(lambda: docker_running(run_id), what="the task's container")
    killed = requests.post(f"{slurm_server.url}/api/runs/{run_id}/kill",
                           headers=slurm_server.h("runner"), timeout=10)
    assert killed.status_code == 202
    run = wait_terminal(slurm_server, run_id)
    assert run["state"] == "killed"
    assert slurm_cluster.active_jobs() == []
    [attempt] = attempts_of(slurm_server, run_id, "nap")
    assert attempt["state"] == "killed" and attempt["executor"]["kind"] == "slurm"
    slurm_cluster.wait_for(lambda: not docker_running(run_id), what="the container to go")


def docker_running(run_id: str) -> bool:
    import docker

    client = docker.from_env()
    try:
        return bool(client.containers.list(filters={"label": f"wfobj.run={run_id}"}))
    finally:
        client.close()


def test_a_job_cancelled_behind_the_engines_back_fails_the_attempt_and_retries(
        slurm_server, slurm_cluster):
    run_id = run_workflow(slurm_server, SLEEPER, wait=False)["run_id"]
    cancelled = []
    for _ in range(2):  # the first attempt, then its retry
        job = slurm_cluster.wait_for(
            lambda: next((j for j, s, _ in slurm_cluster.active_jobs()
                          if s == "RUNNING" and j not in cancelled), None),
            what="a running job")
        subprocess.run(["scancel", job], env=slurm_cluster.env(), check=True)
        cancelled.append(job)
    run = wait_terminal(slurm_server, run_id)
    assert run["state"] == "failed"
    attempts = attempts_of(slurm_server, run_id, "nap")
    assert [a["executor"]["job_id"] for a in attempts] == cancelled
    for attempt in attempts:
        assert attempt["state"] == "failed"
        assert "CANCELLED" in attempt["error"] and attempt["executor"]["job_id"] in attempt["error"]
    assert slurm_cluster.active_jobs() == []
