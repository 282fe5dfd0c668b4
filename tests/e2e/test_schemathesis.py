"""Schemathesis against a live `wfobj serve`: every operation of /api/openapi.json, every
check (tests/fuzzing/schemathesis.toml names the few exceptions and why), in a bounded
deterministic mode; no failure, no server error (issue 11, hole 11)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests.support_e2e import ROOT, start_server

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 10  # per operation; about 15 s for the whole API on two cores


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """A server with one workflow and one pending run (no engine workers), so the run
    and task endpoints answer with real data too."""
    server = start_server(tmp_path_factory.mktemp("e2e-schemathesis"), engine_workers=0,
                          workers=1)
    put = requests.put(f"{server.url}/api/workflows/wordcount",
                       data=(ROOT / "examples" / "wordcount.yaml").read_bytes(),
                       headers=server.h(**{"Content-Type": "application/yaml"}), timeout=30)
    assert put.status_code == 201, put.text
    corpus = requests.post(f"{server.url}/api/objects", data=b"some words",
                           headers=server.h(), timeout=30).json()["hash"]
    assert requests.post(f"{server.url}/api/workflows/wordcount/trigger",
                         json={"parameters": {"corpus": corpus}}, headers=server.h(),
                         timeout=30).status_code == 202
    yield server
    assert server.stop() == 0, server.log()


def test_schemathesis_finds_no_failures_and_no_server_errors(srv):
    proc = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli",
         "--config-file", str(ROOT / "tests" / "fuzzing" / "schemathesis.toml"),
         "run", f"{srv.url}/api/openapi.json",
         "--header", f"Authorization: Bearer {srv.tokens['admin']}",
         "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic",
         "--workers", "1", "--request-timeout", "30", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    report = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, report
    assert " passed" in proc.stdout and "failure" not in proc.stdout.split("SUMMARY")[-1]
    log = srv.log()
    assert "Traceback" not in log and "Error handling request" not in log, log
    assert '" 50' not in log  # the access log shows no 5xx answer
