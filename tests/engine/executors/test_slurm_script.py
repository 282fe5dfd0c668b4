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


def array_args(batch_size: int, element: int) -> list[str]:
    """The arguments element `element` of a job array's script gives wfobj."""
    from wfobj.engine.executors.slurm import Submission, array_script

    settings = SlurmSettings(server_url="http://head:8080", node_store="/s/%n",
                             wfobj_command=("sh", "-c", 'echo "token=$WFOBJ_TOKEN"; '
                                            'printf "%s\\n" "$@"', "wfobj"))
    batch = [Submission(f"wfa_token{i}", f"{i:02d}" * 32, SPEC, ()) for i in range(batch_size)]
    script = array_script(settings, batch)
    done = subprocess.run(["sh", "-c", script], capture_output=True,
                          text=True, env={"SLURMD_NODENAME": "node2", "PATH": "/usr/bin:/bin",
                                          "SLURM_ARRAY_TASK_ID": str(element)})
    return done.returncode, done.stdout.splitlines(), done.stderr


def test_each_element_of_a_job_array_runs_its_own_attempt_with_its_own_token():
    for element in (0, 2):
        code, args, _ = array_args(3, element)
        assert code == 0 and args[-1] == f"{element:02d}" * 32  # the spec, last
        assert args[0] == f"token=wfa_token{element}"
        assert args[args.index("--store") + 1] == "/s/node2"
    code, args, err = array_args(3, 3)  # no such element: fails, runs nothing
    assert code == 2 and args == [] and "no attempt for array element 3" in err


class Recorder:
    """A stand-in for the Slurm commands' runner: records each sbatch, answers a job id."""

    def __init__(self, fail: bool = False):
        self.calls: list[tuple[list[str], str]] = []
        self.fail = fail

    def __call__(self, argv, stdin):
        from wfobj.engine.errors import SlurmError

        self.calls.append((list(argv), stdin))
        if self.fail:
            raise SlurmError("sbatch", "Batch job submission failed: Invalid partition")
        return f"{100 + len(self.calls)}\n"


def submit_together(recorder, groups: list[tuple[str, ...]]) -> list[str | Exception]:
    import threading

    from wfobj.engine.executors.slurm import BatchSubmitter, SlurmCommands, Submission

    submitter = BatchSubmitter(SlurmCommands(recorder), SlurmSettings(server_url="http://h:1"),
                               window=0.2)
    results: list[str | Exception] = [None] * len(groups)

    def one(i: int) -> None:
        spec = TaskSpec(**{**SPEC.__dict__, "task": f"each[{i}]"})
        try:
            results[i] = submitter.submit(Submission(f"wfa_{i}", f"{i:02d}" * 32, spec, groups[i]))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(groups))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_attempts_submitted_together_go_as_one_job_array_per_resource_shape():
    recorder = Recorder()
    small, big = ("--mem=320M",), ("--mem=1280M",)
    ids = submit_together(recorder, [small] * 5 + [big])
    sbatches = sorted(recorder.calls, key=lambda call: len(call[1]))
    assert len(sbatches) == 2  # one per shape, not one per attempt
    (lone_argv, lone_script), (array_argv, array_script) = sbatches
    assert "--job-name=wfobj-each" in array_argv and "--array=0-4" in array_argv
    assert "--mem=320M" in array_argv and "--array" not in " ".join(lone_argv)
    base = ids[0].split("_")[0]
    assert sorted(ids[:5]) == [f"{base}_{i}" for i in range(5)] and ids[5].isdigit()
    for i in range(5):  # every element's token and spec are in the script, none on argv
        assert f"wfa_{i}" in array_script and f"wfa_{i}" not in " ".join(array_argv)


def test_a_refused_array_fails_every_attempt_in_it():
    from wfobj.engine.errors import SlurmError

    results = submit_together(Recorder(fail=True), [("--mem=320M",)] * 3)
    assert all(isinstance(r, SlurmError) and "Invalid partition" in str(r) for r in results)
