"""Container limits: every task gets the server's default pids and memory caps unless its
`resources` say otherwise, and the evidence records the limits applied (real Docker)."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.support_engine import claim, service, task, trigger
from wfobj.engine.executors.base import TaskSpec
from wfobj.engine.executors.caps import DEFAULT_LIMITS, ContainerLimits, parse_limits
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.engine.values import parse_memory
from wfobj.objstore import MemoryObjectStore

IMAGE = "wfobj/toolbox:local"
GIB = 1 << 30

# cgroup v2 (the private daemon's) and v1 spellings of the two caps
CGROUP_CAPS = """
if [ -f /sys/fs/cgroup/pids.max ]; then
  cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max
else
  cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes
fi
"""


def spec(script: str, **kw) -> TaskSpec:
    fields = dict(run_id=str(uuid.uuid4()), task="t", attempt=1, image=IMAGE,
                  command=["sh", "-c", script], env={}, workdir=None, network=False, cpus=None,
                  memory=None, timeout=60, inputs=[], output_files=[], output_vars=[])
    fields.update(kw)
    return TaskSpec(**fields)


def caps(executor: DockerExecutor, task_spec: TaskSpec):
    result = executor.run(task_spec, MemoryObjectStore(), threading.Event())
    assert result.state == "success", result.error
    pids, memory = result.stdout.text.split()
    return pids, memory, result.limits


def test_defaults_apply_when_a_task_sets_no_resources(docker_client):
    pids, memory, limits = caps(DockerExecutor(docker_client), spec(CGROUP_CAPS))
    assert (pids, memory) == (str(DEFAULT_LIMITS.pids), str(DEFAULT_LIMITS.memory))
    assert limits == {"memory": DEFAULT_LIMITS.memory, "pids": DEFAULT_LIMITS.pids, "cpus": None}
    assert DEFAULT_LIMITS.memory == 2 * GIB and DEFAULT_LIMITS.pids == 1024


def test_server_defaults_are_configurable(docker_client):
    ex = DockerExecutor(docker_client, limits=ContainerLimits(memory=256 << 20, pids=64))
    pids, memory, limits = caps(ex, spec(CGROUP_CAPS))
    assert (pids, memory) == ("64", str(256 << 20))
    assert limits == {"memory": 256 << 20, "pids": 64, "cpus": None}


def test_task_resources_override_the_defaults(docker_client):
    pids, memory, limits = caps(DockerExecutor(docker_client),
                                spec(CGROUP_CAPS, memory="64m", pids=50, cpus=0.5))
    assert (pids, memory) == ("50", str(64 << 20))
    assert limits == {"memory": 64 << 20, "pids": 50, "cpus": 0.5}


def test_unlimited_server_defaults_leave_the_caps_off(docker_client):
    pids, memory, limits = caps(DockerExecutor(docker_client, limits=ContainerLimits()),
                                spec(CGROUP_CAPS))
    assert pids == "max" and (memory == "max" or int(memory) >= 1 << 62)
    assert limits == {"memory": None, "pids": None, "cpus": None}


def test_a_fork_bomb_stops_at_the_pids_cap(docker_client):
    ex = DockerExecutor(docker_client, limits=ContainerLimits(memory=256 << 20, pids=32))
    script = "i=0; while [ $i -lt 100 ]; do sleep 3 & i=$((i+1)); done; echo all-started"
    result = ex.run(spec(script), MemoryObjectStore(), threading.Event())
    assert result.state == "failed" and "all-started" not in result.stdout.text
    assert "can't fork" in result.stderr.text


def test_evidence_records_the_limits_applied(store, docker_client):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"plain": task("true"),
                                     "capped": task("true", resources={"memory": "64m",
                                                                       "pids": 40})}})
    claim(store, run_id)
    state = RunScheduler(store, run_id, DockerExecutor(docker_client)).run_to_end()
    assert state == "success"
    evidence = {ev["task"]: ev for ev in svc.run_tasks(run_id)}
    assert evidence["plain"]["limits"] == {"memory": 2 * GIB, "pids": 1024, "cpus": None}
    assert evidence["capped"]["limits"] == {"memory": 64 << 20, "pids": 40, "cpus": None}


@pytest.mark.parametrize("text,size", [("512m", 512 << 20), ("2g", 2 * GIB), ("4096", 4096),
                                       ("8K", 8192), ("0", None), ("none", None)])
def test_memory_sizes(text, size):
    assert parse_memory(text) == size


@pytest.mark.parametrize("memory,pids,cpus", [("lots", 10, None), ("1g", -1, None),
                                              ("1g", 10, 0.0), ("1g", 10, float("inf"))])
def test_bad_server_limits_are_refused(memory, pids, cpus):
    with pytest.raises(ValueError):
        parse_limits(memory=memory, pids=pids, cpus=cpus)


def test_definitions_take_a_pids_resource():
    from wfobj.engine.definitions.format import normalize

    norm = normalize({"tasks": {"t": task("true", resources={"pids": 64, "memory": "1G"})}}, "wf")
    assert norm.tasks["t"].resources.to_value() == {"pids": 64, "memory": "1g"}


@pytest.mark.parametrize("resources,place", [({"pids": 0}, "pids"), ({"pids": "9"}, "pids"),
                                             ({"pids": True}, "pids"), ({"memory": "0"}, "memory")])
def test_bad_task_limits_name_the_place(resources, place):
    from wfobj.engine.definitions.format import normalize
    from wfobj.engine.errors import DefinitionError

    with pytest.raises(DefinitionError) as info:
        normalize({"tasks": {"t": task("true", resources=resources)}}, "wf")
    assert info.value.place == f"tasks.t.resources.{place}"


def test_server_limits_parse_with_their_defaults():
    assert parse_limits(memory=str(3 << 20), pids=7, cpus=1.5) == ContainerLimits(
        memory=3 << 20, pids=7, cpus=1.5)
    assert parse_limits() == DEFAULT_LIMITS
    assert parse_limits(memory="none", pids=0) == ContainerLimits()


@pytest.mark.parametrize("kind", ["local", "slurm"])
def test_executor_settings_round_trip_through_the_command_line(kind):
    """What `serve` hands its worker processes (executor_argv) parses back, through the
    same options, to the very settings it had: every flag declared once."""
    import click
    from click.testing import CliRunner

    from wfobj.cli.context import Command, executor_options
    from wfobj.cli.executor_flags import executor_argv
    from wfobj.engine.executors.settings import DockerSettings, ExecutorSettings, SlurmSettings

    got = {}

    @click.command(cls=Command)
    @executor_options
    def probe(executor):
        got["settings"] = executor

    settings = ExecutorSettings(
        kind=kind, pull="never", limits=ContainerLimits(memory=3 << 20, pids=7, cpus=1.5),
        slurm=SlurmSettings(server_url="http://h:1", partition="p", job_output="/j",
                            sbatch_args=("--qos=low", "-N1"), node_store="/n/%n", poll=0.5),
        docker=DockerSettings(network_mode="host", grace=2.5, work_root="/w"))
    for case in (settings, ExecutorSettings(kind=kind)):
        result = CliRunner().invoke(probe, executor_argv(case), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert got["settings"] == case


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_bad_limit_options_are_usage_errors(tmp_path, command):
    from click.testing import CliRunner

    from wfobj.cli.context import CliContext
    from wfobj.cli.main import cli

    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), command,
                                      "--task-memory", "lots"], obj=CliContext())
    assert result.exit_code == 2 and "512m" in result.output
    assert not (tmp_path / "s").exists()


def test_serve_hands_its_limits_to_the_engine_workers():
    from wfobj.cli.serving import engine_worker_argv
    from wfobj.engine.executors.settings import ExecutorSettings

    argv = engine_worker_argv("/s", ExecutorSettings(
        limits=ContainerLimits(memory=1 << 30, pids=99)))
    assert argv[argv.index("--task-memory") + 1] == str(1 << 30)
    assert argv[argv.index("--task-pids") + 1] == "99"
