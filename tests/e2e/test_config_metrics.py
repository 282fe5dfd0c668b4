"""A real `wfobj serve` (gunicorn + an engine worker + Docker) configured by nothing but
`<store>/wfobj.toml`: its port, upload limit, task caps and Docker network come from the
file, and its
`GET /metrics` passes prometheus_client's parser with the run it just did."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support_e2e import ROOT, Server, free_port, wait_terminal, wfobj_argv
from wfobj.engine.access.tokens import TokenStore
from wfobj.objstore import init_store

pytestmark = [pytest.mark.slow, pytest.mark.docker]


@pytest.fixture
def configured_server(tmp_path, docker_client):
    store_path = tmp_path / "store"
    store = init_store(store_path)
    tokens = TokenStore(store)
    issued = {role: tokens.create(f"{role}-user", role)[0] for role in ("reader", "runner")}
    store.close()
    port = free_port()
    (store_path / "wfobj.toml").write_text(f"""
[serve]
bind = "127.0.0.1:{port}"
workers = 1
threads = 4
engine_workers = 1
max_upload = 4096

[executor]
pull = "never"
task_memory = "256m"
task_pids = 77

[executor.docker]
network = "none"   # what `network: true` means on this server
grace = 3
""")
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(wfobj_argv("--store", str(store_path), "serve"), cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", store_path, proc, log_path, issued)
    deadline = time.monotonic() + 60
    while "API up" not in server.log():
        assert proc.poll() is None and time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    yield server
    assert server.stop() == 0, server.log()


def test_serve_reads_its_config_and_exposes_metrics(configured_server):
    srv = configured_server
    too_big = requests.post(f"{srv.url}/api/objects", data=b"x" * 5000, headers=srv.h(),
                            timeout=30)
    assert too_big.status_code == 413, too_big.text  # max_upload = 4096 from the file
    workflow = {"tasks": {"hi": {"image": "wfobj/toolbox:local", "network": True,
                                 "command": ["sh", "-c", "ls /sys/class/net"]}}}
    assert requests.put(f"{srv.url}/api/workflows/hello", json=workflow, headers=srv.h(),
                        timeout=30).status_code == 201
    run_id = requests.post(f"{srv.url}/api/workflows/hello/trigger", json={},
                           headers=srv.h(), timeout=30).json()["run_id"]
    assert wait_terminal(srv, run_id)["state"] == "success", srv.log()
    evidence = requests.get(f"{srv.url}/api/runs/{run_id}/tasks/hi", headers=srv.h("reader"),
                            timeout=30).json()
    assert evidence["limits"] == {"memory": 256 << 20, "pids": 77, "cpus": None}
    assert evidence["stdout"]["text"] == "lo\n"  # network: true ran on the configured "none"

    r = requests.get(f"{srv.url}/metrics", headers=srv.h("reader"), timeout=30)
    assert r.status_code == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(r.text) for s in family.samples}
    assert samples[("wfobj_runs", (("state", "success"),))] == 1
    assert samples[("wfobj_runs", (("state", "pending"),))] == 0
    assert samples[("wfobj_runs_queued", ())] == 0
    assert samples[("wfobj_task_attempts_total", (("state", "success"),))] == 1
    assert samples[("wfobj_task_attempt_duration_seconds_count", ())] == 1
    assert samples[("wfobj_store_objects", ())] > 0
    assert samples[("wfobj_store_bytes", ())] > 0
    assert requests.get(f"{srv.url}/metrics", timeout=30).status_code == 401
