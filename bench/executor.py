"""Docker executor benchmark: one attempt beside a bare docker SDK run of the same container.

Measured in one process, interleaved, several repetitions each (medians reported):
  1. a task running `true`: DockerExecutor.run (image facts, staging, hardened create,
     start, wait, logs to blobs, output collection, cleanup) vs bare SDK
     create/start/wait/logs/remove
  2. a task printing --log-size bytes to stdout: the same pair, both reading the whole log
     (the executor also stores it as a blob and hashes it)

    eval "$(bash scripts/ensure-docker.sh)"
    .venv/bin/python bench/executor.py [--reps 15] [--log-size 20M] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import figure, parse_args, parse_size  # noqa: E402
from wfobj.engine.executors.base import TaskSpec  # noqa: E402
from wfobj.engine.executors.docker import DockerExecutor  # noqa: E402
from wfobj.objstore import LmdbObjectStore  # noqa: E402

IMAGE = "wfobj/toolbox:local"


def spec_for(command: list[str]) -> TaskSpec:
    return TaskSpec(run_id=str(uuid.uuid4()), task="bench", attempt=1, image=IMAGE,
                    command=command, env={}, workdir=None, network=False, cpus=None,
                    memory=None, timeout=None, inputs=[], output_files=[], output_vars=[])


def bare_run(client: docker.DockerClient, command: list[str]) -> int:
    """The raw baseline: what any docker SDK user would write."""
    container = client.containers.create(IMAGE, command, network_mode="none")
    container.start()
    container.wait()
    size = len(container.logs())
    container.remove(force=True)
    return size


def engine_run(ex: DockerExecutor, store, command: list[str]) -> int:
    result = ex.run(spec_for(command), store, threading.Event())
    if result.state != "success":
        raise SystemExit(f"executor attempt failed: {result.error}")
    return result.stdout.size


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def compare(name: str, reps: int, client, ex, store, command: list[str]) -> None:
    bare_run(client, command)  # warm-up: page cache, daemon, executor caches
    engine_run(ex, store, command)
    bare, ours = [], []
    for _ in range(reps):
        bare.append(timed(bare_run, client, command))
        ours.append(timed(engine_run, ex, store, command))
    figure(f"{name} (median of {reps})", statistics.median(ours) * 1000, "bare docker SDK",
           statistics.median(bare) * 1000, "ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--log-size", default="20M")
    args = parse_args(parser, smoke={"reps": 2, "log_size": "1M"})
    size = parse_size(args.log_size)
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="wfobj-bench-") as tmp:
        store = LmdbObjectStore(Path(tmp) / "store", create=True)
        ex = DockerExecutor(client, work_root=tmp)
        compare("one task `true`", args.reps, client, ex, store, ["true"])
        log_cmd = ["sh", "-c", f"yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c {size}"]
        compare(f"stdout {args.log_size}", max(3, args.reps // 5), client, ex, store, log_cmd)
        store.close()


if __name__ == "__main__":
    main()
