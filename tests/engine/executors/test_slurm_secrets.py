"""Secrets on the real two-node Slurm cluster: the batch script and the attempt spec name
the secret only, each node fetches the value over its attempt token, the task sees it as
an environment variable and a file, its stored output is masked, and neither a node store
nor a job's output file nor the server's store holds the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from tests.engine.executors.test_slurm import run_workflow, slurm_server, tasks_of  # noqa: F401
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]

VALUE = "slurm-secret-0f1e2d3c4b5a"
USES = {"TOKEN": {"secret": "tok"}, "/run/secrets/tok": {"secret": "tok"}}
WORKFLOW = {"name": "secretive", "tasks": {
    f"t{i}": {"image": "wfobj/toolbox:local", "resources": {"cpus": 2, "memory": "64m"},
              "secrets": USES, "cache": False,
              "command": ["sh", "-c", 'test "$TOKEN" = "$(cat /run/secrets/tok)" && '
                          'echo "seen $TOKEN"']} for i in range(2)}}


def test_nodes_get_secret_values_over_their_tokens_only(slurm_server, tmp_path):  # noqa: F811
    put = CliRunner().invoke(cli, ["--server", slurm_server.url, "--token",
                                   slurm_server.tokens["admin"], "secret", "set", "tok"],
                             obj=CliContext(), input=VALUE)
    assert put.exit_code == 0, put.output
    run = run_workflow(slurm_server, WORKFLOW)
    assert run["state"] == "success", run
    rows = tasks_of(slurm_server, run["run_id"])
    assert {row["executor"]["kind"] for row in rows.values()} == {"slurm"}
    for row in rows.values():
        assert row["stdout"]["text"] == "seen ***\n"
        assert row["env"] == {"TOKEN": "<secret tok>"}
    body = requests.get(f"{slurm_server.url}/api/runs/{run['run_id']}/tasks",
                        headers=slurm_server.h("reader"), timeout=10).content
    assert VALUE.encode() not in body
    slurm_server.stop()
    root = slurm_server.store_path.parent.parent
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any("nodes" in p.parts for p in files)  # the node stores are searched too
    for path in files:
        assert VALUE.encode() not in Path(path).read_bytes(), path
