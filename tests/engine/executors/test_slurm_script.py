"""The Slurm batch script, run by a real /bin/sh: `%n` in the node store becomes the node's
name whether or not the path needs shell quoting."""

from __future__ import annotations

import subprocess

import pytest

from wfobj.engine.executors.base import TaskSpec
from wfobj.engine.executors.settings import SlurmSettings
from wfobj.engine.executors.slurm import batch_script

SPEC = TaskSpec(run_id="r", task="t", attempt=1, image="i", command=["true"], env={},
                workdir=None, network=False, cpus=None, memory=None, timeout=None,
                inputs=[], output_files=[], output_vars=[])


def script_args(node_store: str, node: str) -> list[str]:
    """The arguments the script's `exec` line gives wfobj on node `node`."""
    settings = SlurmSettings(server_url="http://head:8080", node_store=node_store,
                             wfobj_command=("printf", "%s\\n"))
    script = batch_script(settings, "wfa_x", "ab" * 32, SPEC)
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True,
                          env={"SLURMD_NODENAME": node, "PATH": "/usr/bin:/bin"})
    return done.stdout.splitlines()


@pytest.mark.parametrize(("node_store", "expected"), [
    ("/tmp/wfobj-node-store/%n", "/tmp/wfobj-node-store/node1"),  # the default: no quoting
    ("/scratch/my stores/%n/x'y", "/scratch/my stores/node1/x'y"),  # needs quoting
    ("%n", "node1"),
    ("/s/%n-%n", "/s/node1-node1"),
    ("/s/fixed", "/s/fixed"),
])
def test_the_node_store_names_the_node_whatever_its_quoting(node_store, expected):
    args = script_args(node_store, "node1")
    assert args[args.index("--store") + 1] == expected
    assert args[args.index("--node") + 1] == "node1"
