"""Every bench under bench/ runs in --smoke mode and prints its figures, so a bench that
rots fails here. Only that it runs and reports a ratio is checked, never the figures."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests import ROOT

BENCH = ROOT / "bench"
FIGURE = re.compile(r"^figure (?P<name>.+?): wfobj \S+ .+ \| .+ \| ratio \d+\.\d\dx$", re.M)

# bench file -> the figures (name prefixes) it must print in smoke mode
FIGURES = {
    "api.py": ["GET /api/runs/{id}", "POST /api/workflows/{name}/trigger"],
    "cache.py": ["resume of a 50-task run, every task a hit, total",
                 "resume of a 50-task run, every task a hit, per task",
                 "GET /api/files/{hash}, 100 runs in the store"],
    "hooks.py": ["20 one-task fake runs, a hook on every event", "20 one-task fake runs, a hook on run ends"],
    "engine.py": ["one-task `true` run", "4-task fan-out", "scheduling 200 fake tasks"],
    "executor.py": ["one task `true`", "stdout 1M"],
    "fanout.py": ["300 instances of one fanned-out task", "1500 instances vs 300, per-task rate",
                  "1500 instances, peak RSS added per instance", "GET /api/runs/{id} of a 1500",
                  "rerun of a 30-sample fan-out with one sample more, instances run"],
    "ingest.py": ["put time", "fsck time"],
    "slurm.py": ["4-task fan-out of `true`, per attempt", "bytes moved per attempt",
                 "bytes fetched by the same attempt on a node holding its input"],
    "startup.py": ["wfobj --help", "wfobj --store S cat HASH", "wfobj --version"],
    "sync.py": ["full push time", "full push bytes", "incremental push (+1 runs) time",
                "incremental push (+1 runs) bytes"],
    "trees.py": ["put of 200 files", "disk use of 200 files", "checkout of 200 files",
                 "fsck of 200 files", "put of one 8 MiB file", "fsck of one 8 MiB file",
                 "API worker peak RSS during a 16 MiB tree upload"],
}


def run_bench(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(BENCH / name), "--smoke", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def assert_figures(output: str, expected: list[str]) -> None:
    names = [m["name"] for m in FIGURE.finditer(output)]
    for prefix in expected:
        assert any(n.startswith(prefix) for n in names), f"no figure {prefix!r} in:\n{output}"


def test_every_bench_has_a_smoke_test():
    benches = {p.name for p in BENCH.glob("*.py")} - {"harness.py"}
    assert benches == set(FIGURES)


def test_fanout_bench():
    assert_figures(run_bench("fanout.py"), FIGURES["fanout.py"])


def test_api_bench():
    assert_figures(run_bench("api.py"), FIGURES["api.py"])


def test_engine_scheduling_bench_without_docker():
    output = run_bench("engine.py", "--skip-docker")
    assert_figures(output, ["scheduling 200 fake tasks"])


@pytest.mark.docker
def test_engine_bench(docker_client):
    assert_figures(run_bench("engine.py"), FIGURES["engine.py"])


@pytest.mark.docker
def test_executor_bench(docker_client):
    assert_figures(run_bench("executor.py"), FIGURES["executor.py"])


def test_cache_bench():
    assert_figures(run_bench("cache.py"), FIGURES["cache.py"])


@pytest.mark.docker
def test_slurm_bench(docker_client, slurm_cluster):
    assert_figures(run_bench("slurm.py"), FIGURES["slurm.py"])


def test_ingest_bench():
    output = run_bench("ingest.py")
    assert_figures(output, FIGURES["ingest.py"])
    assert "put peak RSS: wfobj" in output
    if shutil.which("dvc"):
        assert_figures(output, ["put time vs dvc", "put peak RSS vs dvc"])
    else:
        assert "DVC baseline unavailable" in output


def test_startup_bench():
    assert_figures(run_bench("startup.py"), FIGURES["startup.py"])


def test_trees_bench():
    output = run_bench("trees.py")
    assert_figures(output, FIGURES["trees.py"])
    assert "put peak RSS: wfobj" in output
    if shutil.which("dvc"):
        assert_figures(output, ["put of 200 files vs dvc"])
    else:
        assert "DVC baseline unavailable" in output


def test_sync_bench():
    assert_figures(run_bench("sync.py"), FIGURES["sync.py"])


def test_hooks_bench():
    assert_figures(run_bench("hooks.py"), FIGURES["hooks.py"])
