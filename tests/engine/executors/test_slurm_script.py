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


MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export /scratch nfs4 rw,relatime 0 0
//nas/share /mnt/my\\040share cifs rw 0 0
tmpfs /scratch/local tmpfs rw 0 0
"""


@pytest.mark.parametrize(("path", "fstype"), [
    ("/scratch/wfobj/node1", "nfs4"),
    ("/scratch", "nfs4"),
    ("/mnt/my share/stores/node1", "cifs"),
    ("/scratch/local/node1", None),  # a local mount inside a network one
    ("/scratchy/node1", None),  # a prefix of the name is not the mount
    ("/tmp/wfobj-node-store/node1", None),
])
def test_a_node_store_on_a_network_filesystem_is_found(tmp_path, path, fstype):
    from wfobj.engine import network_filesystem

    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    assert network_filesystem(path, str(mounts)) == fstype


def test_exec_refuses_a_node_store_on_a_network_filesystem(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from wfobj.cli.main import cli

    monkeypatch.setattr("wfobj.engine.executors.node.MOUNTS", str(tmp_path / "mounts"))
    (tmp_path / "mounts").write_text(f"server:/x {tmp_path} nfs rw 0 0\n")
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "node1"), "exec", "--server",
                                      "http://127.0.0.1:9", "--token", "wfa_x", "ab" * 32])
    assert result.exit_code != 0 and "nfs" in result.output, result.output
    assert not (tmp_path / "node1").exists()
