"""The slurm executor end to end: a real two-node Slurm cluster (scripts/slurm-cluster.sh),
real Docker, a real `wfobj serve --executor slurm`, nodes running `wfobj exec` against it
with node-local stores."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import requests

from tests.support_e2e import ROOT, start_server, wait_terminal, wfobj_argv
from wfobj.engine.layout import JOBS_NS
from wfobj.objstore import open_store

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
        assert row["executor"]["kind"] == "slurm"
        assert re.fullmatch(r"\d+(_\d+)?", row["executor"]["job_id"])  # a job, or an array's element
        assert row["host"]["name"] == row["executor"]["node"]
        nodes.add(row["executor"]["node"])
    assert nodes == {"node1", "node2"}
    # `%n` in a node store path that needs no quoting: each node opened its own store
    assert sorted(p.name for p in (tmp_path / "nodes").iterdir()) == ["node1", "node2"]
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


EACH = {
    "name": "each",
    "params": {"n": {"type": "list", "default": ["a", "b", "c", "d", "e", "f"]}},
    "tasks": {
        "each": {"image": "wfobj/toolbox:local", "for_each": {"param": "n"},
                 "command": ["sh", "-c", "echo {{item.key}}:{{item}} > /out/o"],
                 "outputs": {"files": ["o"]}, "resources": {"memory": "64m"}},
        "all": {"image": "wfobj/toolbox:local", "command": ["sh", "-c", "cat /in/os/*/o > /out/all"],
                "inputs": {"os": {"task": "each", "file": "o"}}, "outputs": {"files": ["all"]},
                "resources": {"memory": "64m"}},
    },
}


def test_a_fan_out_goes_to_the_cluster_as_job_arrays(slurm_server):
    run = run_workflow(slurm_server, EACH)
    assert run["state"] == "success", slurm_server.log()
    rows = tasks_of(slurm_server, run["run_id"])
    jobs = [rows[f"each[{i}]"]["executor"]["job_id"] for i in range(6)]
    assert all(re.fullmatch(r"\d+(_\d+)?", j) for j in jobs)
    arrays = {j.split("_")[0] for j in jobs}
    assert len(arrays) < len(jobs)  # instances started together shared one sbatch
    merged = [o for o in rows["all"]["outputs"] if o["path"] == "all"][0]
    got = requests.get(f"{slurm_server.url}/api/objects/{merged['hash']}",
                       headers=slurm_server.h("reader"), timeout=10).text
    assert got == "".join(f"{i}:{v}\n" for i, v in enumerate("abcdef"))


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


ONE_NAP = {
    "name": "one-nap",
    "tasks": {"nap": {"image": "wfobj/toolbox:local", "command": ["sleep", "300"],
                      "resources": {"memory": "64m"}}},
}


def test_a_killed_slurmd_fails_the_attempt_and_the_run_ends(slurm_server, slurm_cluster):
    run_id = run_workflow(slurm_server, ONE_NAP, wait=False)["run_id"]
    job, _, node = slurm_cluster.wait_for(
        lambda: next((j for j in slurm_cluster.active_jobs() if j[1] == "RUNNING"), None),
        what="the job to run")
    slurm_cluster.wait_for(lambda: docker_running(run_id), what="the task's container")
    slurm_cluster.kill_slurmd(node)
    try:
        # the controller declares the node DOWN after SlurmdTimeout and ends the job
        # NODE_FAIL; the executor turns that into a failed attempt, the run ends
        run = wait_terminal(slurm_server, run_id, timeout=180)
        assert run["state"] == "failed", (run, slurm_cluster.nodes())
        [attempt] = attempts_of(slurm_server, run_id, "nap")
        assert attempt["state"] == "failed"
        assert attempt["executor"] == {"kind": "slurm", "job_id": job, "node": node}
        assert "NODE_FAIL" in attempt["error"] and job in attempt["error"]
        assert slurm_cluster.nodes()[node].startswith("down")
    finally:
        slurm_cluster.restart_slurmd(node)  # it ends the orphaned job's processes
    slurm_cluster.wait_for(lambda: not docker_running(run_id), what="the container to go")
    assert slurm_cluster.active_jobs() == []


TWO_NAPS = {
    "name": "two-naps",
    "tasks": {name: {"image": "wfobj/toolbox:local", "command": ["sleep", "300"],
                     "resources": {"memory": "64m"}} for name in ("a", "b")},
}


def job_attempt(cluster, job_id: str) -> tuple[str, str]:
    """(attempt token, spec hash) of a wfobj job, read back from its batch script: a job's
    own, or, for an element ARRAY_I of a job array, the i-th case of the array's script."""
    script = cluster.batch_script(job_id)
    if "_" in job_id:
        index = job_id.split("_")[1]
        line = re.search(rf"^{index}\) WFOBJ_TOKEN=(\S+); SPEC=([0-9a-f]{{64}})", script, re.M)
        return line.group(1), line.group(2)
    token = re.search(r"^WFOBJ_TOKEN=(\S+); export", script, re.M).group(1)
    spec = re.search(r" ([0-9a-f]{64})$", script, re.M).group(1)
    return token, spec


def test_attempt_tokens_on_the_cluster_reach_their_own_closure_only(slurm_server,
                                                                    slurm_cluster):
    run_id = run_workflow(slurm_server, TWO_NAPS, wait=False)["run_id"]
    jobs = slurm_cluster.wait_for(
        lambda: (lambda running: running if len(running) == 2 else None)(
            [j for j, s, _ in slurm_cluster.active_jobs() if s == "RUNNING"]),
        what="both jobs to run")
    (token_a, spec_a), (token_b, spec_b) = (job_attempt(slurm_cluster, j) for j in jobs)
    assert spec_a != spec_b and token_a != token_b

    def post(path: str, token: str, **kw) -> requests.Response:
        return requests.post(f"{slurm_server.url}{path}", timeout=10,
                             headers={"Authorization": f"Bearer {token}"}, **kw)

    own = post(f"/api/attempts/{spec_a}/objects", token_a, json={})
    assert own.status_code == 200 and own.content[:32] == bytes.fromhex(spec_a)
    for path in ("objects", "packs/download", "missing"):
        other = post(f"/api/attempts/{spec_b}/{path}", token_a, json={})
        assert other.status_code == 403, (path, other.text)
        assert other.json()["title"] == "Attempt token refused"
    report = requests.put(f"{slurm_server.url}/api/attempts/{spec_b}/report", timeout=10,
                          json={"report": spec_a}, headers={"Authorization": f"Bearer {token_a}"})
    assert report.status_code == 403
    wrong = post(f"/api/attempts/{spec_a}/objects", "wfa_" + "x" * 43, json={})
    assert wrong.status_code == 403 and "unknown attempt token" in wrong.json()["description"]
    for route in ("/api/runs", f"/api/runs/{run_id}", f"/api/objects/{spec_a}",
                  "/api/workflows"):
        refused = requests.get(f"{slurm_server.url}{route}", timeout=10,
                               headers={"Authorization": f"Bearer {token_a}"})
        assert refused.status_code == 401, route

    killed = requests.post(f"{slurm_server.url}/api/runs/{run_id}/kill",
                           headers=slurm_server.h("runner"), timeout=10)
    assert killed.status_code == 202
    assert wait_terminal(slurm_server, run_id)["state"] == "killed"
    ended = post(f"/api/attempts/{spec_a}/objects", token_a, json={})
    assert ended.status_code == 403 and "ended" in ended.json()["description"]
    slurm_cluster.wait_for(lambda: not docker_running(run_id), what="the containers to go")


def start_worker(server, tmp_path, cluster, name: str) -> subprocess.Popen:
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        wfobj_argv("--store", str(server.store_path), "worker", "--executor", "slurm",
                   "--slurm-server-url", server.url, "--slurm-poll", "0.3",
                   "--slurm-node-store", str(tmp_path / "nodes" / "%n"),
                   "--no-hook-deliverer"),  # one process: the test kills the engine worker
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=cluster.env())


def recorded_jobs(server) -> dict[str, str]:
    store = open_store(server.store_path)
    try:
        return {key: json.loads(raw)["job_id"] for key, raw in store.meta_scan(JOBS_NS)}
    finally:
        store.close()


def test_a_dead_workers_job_is_found_in_the_store_and_cancelled(tmp_path, slurm_cluster,
                                                                docker_client):
    server = start_server(tmp_path / "recover", engine_workers=0, env=slurm_cluster.env())
    bystander = subprocess.run(["sbatch", "--parsable", "--output=/dev/null", "--mem=64M",
                                "--wrap", "sleep 300"], env=slurm_cluster.env(), check=True,
                               capture_output=True, text=True).stdout.strip()
    first = start_worker(server, tmp_path, slurm_cluster, "worker1")
    second = None
    try:
        run_id = run_workflow(server, SLEEPER, wait=False)["run_id"]
        slurm_cluster.wait_for(lambda: docker_running(run_id), what="the task's container")
        [(key, job)] = recorded_jobs(server).items()
        assert key == f"{run_id}/nap/1"
        assert (job, "RUNNING") in {(j, s) for j, s, _ in slurm_cluster.active_jobs()}
        first.kill()  # SIGKILL: nothing of the worker gets to clean up
        first.wait(timeout=30)
        assert job in {j for j, _, _ in slurm_cluster.active_jobs()}  # nobody cancelled it

        second = start_worker(server, tmp_path, slurm_cluster, "worker2")
        run = wait_terminal(server, run_id, timeout=120)
        assert run["state"] == "failed"
        audit = requests.get(f"{server.url}/api/runs/{run_id}/audit",
                             headers=server.h("reader"), timeout=10).json()
        assert any(str(first.pid) in (e.get("reason") or "") for e in audit), audit
        # the recorded job was cancelled, the unrelated one left alone
        slurm_cluster.wait_for(lambda: job not in {j for j, _, _ in slurm_cluster.active_jobs()},
                               what=f"job {job} to be cancelled")
        assert [j for j, _, _ in slurm_cluster.active_jobs()] == [bystander]
        assert recorded_jobs(server) == {}
        slurm_cluster.wait_for(lambda: not docker_running(run_id), what="the container to go")
    finally:
        subprocess.run(["scancel", bystander], env=slurm_cluster.env(), check=False)
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=60)
        server.stop()


def test_reproduce_on_the_cluster_pins_image_ids_and_an_id_is_cacheable(slurm_server):
    hello = {"name": "hello", "tasks": {"hi": {
        "image": "wfobj/toolbox:local", "command": ["sh", "-c", "echo hi > /out/hi.txt"],
        "outputs": {"files": ["hi.txt"]}, "resources": {"memory": "64m"}}}}
    first = run_workflow(slurm_server, hello)
    assert first["state"] == "success", slurm_server.log()
    [ran] = attempts_of(slurm_server, first["run_id"], "hi")
    image_id = tasks_of(slurm_server, first["run_id"])["hi"]["image_id"]
    assert image_id.startswith("sha256:") and ran["executor"]["kind"] == "slurm"
    # a tag resolves only on the node, after the lookup: no key, and so no reuse
    assert ran["cache_key"] is None

    started = requests.post(f"{slurm_server.url}/api/runs/{first['run_id']}/reproduce",
                            headers=slurm_server.h("runner"), timeout=10)
    assert started.status_code == 202, started.text
    again = wait_terminal(slurm_server, started.json()["run_id"], timeout=180)
    assert again["state"] == "success" and again["reproduces"] == first["run_id"]
    row = tasks_of(slurm_server, again["run_id"])["hi"]
    assert row["image_id"] == image_id and row["executor"]["kind"] == "slurm"
    compared = requests.get(f"{slurm_server.url}/api/runs/{first['run_id']}/compare/"
                            f"{again['run_id']}", headers=slurm_server.h("reader"),
                            timeout=10).json()
    assert compared["identical"], compared

    # an image named by id has a key on the cluster: the pinned reproduction's attempt has
    # one, and a task naming that id (same command and outputs) reuses it
    assert row["cache_key"] and row["cached_from"] is None
    by_id = {"name": "by-id", "tasks": {"hi": {**hello["tasks"]["hi"], "image": image_id}}}
    reused = tasks_of(slurm_server, run_workflow(slurm_server, by_id)["run_id"])["hi"]
    assert reused["cache_key"] == row["cache_key"]
    assert reused["cached_from"] == row["evidence_hash"]

    gone = "sha256:" + "0" * 64
    missing = run_workflow(slurm_server, {"name": "gone", "tasks": {"t": {
        "image": gone, "command": ["true"], "resources": {"memory": "64m"}}}})
    assert missing["state"] == "failed"
    error = tasks_of(slurm_server, missing["run_id"])["t"]["error"]
    assert gone in error, error


def test_a_config_file_sets_the_slurm_options(tmp_path, slurm_cluster, docker_client):
    server = start_server(tmp_path / "configured", engine_workers=0, env=slurm_cluster.env())
    config = tmp_path / "wfobj.toml"
    config.write_text("\n".join([
        "[executor]", 'kind = "slurm"', "[executor.slurm]", f'server_url = "{server.url}"',
        f'node_store = "{tmp_path / "nodes" / "%n"}"', "poll = 0.3",
        'partition = "wfobj"', 'sbatch_args = ["--nodelist=node2"]', ""]))
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        wfobj_argv("--config", str(config), "--store", str(server.store_path), "worker"),
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=slurm_cluster.env())
    try:
        pair = {"name": "pair", "tasks": {name: {
            "image": "wfobj/toolbox:local", "command": ["sh", "-c", f"echo {name}"],
            "resources": {"memory": "64m"}} for name in ("a", "b")}}
        run = run_workflow(server, pair)
        assert run["state"] == "success", (tmp_path / "worker.log").read_text()
        rows = tasks_of(server, run["run_id"])
        # the file's sbatch argument held every job to node2
        assert {(r["executor"]["kind"], r["executor"]["node"]) for r in rows.values()} == {
            ("slurm", "node2")}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
        server.stop()
