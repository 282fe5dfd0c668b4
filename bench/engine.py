"""Engine benchmark: whole runs beside a baseline measured in the same process.

  1. one-task `true` workflow: trigger → terminal state through the engine (run record,
     scheduler, Docker executor, evidence, audit, manifest) vs a bare docker SDK
     create/start/wait/logs/remove of the same container
  2. --fanout tasks (default 40) + one fan-in task at concurrency 2 vs the bare SDK running
     the same containers with 2 threads (--fanout-reps interleaved runs of each, medians)
  3. scheduling cost without containers: --tasks (default 10,000) independent tasks on a
     fake executor at --sched-concurrency (default 16), full evidence and audit in LMDB, in
     tasks/s, beside writing as many small objects to the store one per transaction

Each run is claimed and executed by a warm `Worker` (its executor and image facts are
long-lived, as in `wfobj worker`); the worker's idle poll interval is not counted.
--skip-docker runs 3 alone.

    eval "$(bash scripts/ensure-docker.sh)"
    .venv/bin/python bench/engine.py [--reps 5] [--fanout 40] [--fanout-reps 3] [--tasks 10000] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from bench.harness import figure, parse_args  # noqa: E402
from wfobj.engine.executors.docker import DockerExecutor  # noqa: E402
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior  # noqa: E402
from wfobj.engine.scheduling.worker import Worker  # noqa: E402
from wfobj.engine.service import WorkflowService  # noqa: E402
from wfobj.objstore import LmdbObjectStore  # noqa: E402

IMAGE = "wfobj/toolbox:local"


def bare_container(client: docker.DockerClient, command: list[str]) -> None:
    container = client.containers.create(IMAGE, command=command, network_mode="none")
    try:
        container.start()
        container.wait()
        container.logs(stdout=True, stderr=True)
    finally:
        container.remove(force=True)


def claim_and_run(svc: WorkflowService, worker: Worker, run_id: str) -> None:
    """Have `worker` claim the queued run and run it to its end, which must be success."""
    if not worker.claim(run_id):
        raise SystemExit(f"worker could not claim run {run_id}")
    state = worker.execute(run_id)
    if state != "success":
        raise SystemExit(f"bench run {run_id} ended {state}: {svc.run_tasks(run_id)}")


def engine_run(svc: WorkflowService, worker: Worker, name: str, **params) -> tuple[float, str]:
    """Trigger `name` and have `worker` claim and run it; (seconds, run id)."""
    t0 = time.perf_counter()
    # cache off: these benches measure running tasks (their keys are equal)
    run_id = svc.trigger(name=name, parameters=params, user="bench", cache=False)["run_id"]
    claim_and_run(svc, worker, run_id)
    return time.perf_counter() - t0, run_id


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_one_task(svc, worker, client, reps: int) -> tuple[float, float]:
    svc.apply_workflow("one", {"tasks": {"t": {"image": IMAGE, "command": ["true"]}}}, user="bench")
    engine_run(svc, worker, "one")  # warm-up: image facts, host facts
    bare_container(client, ["true"])
    engine, bare = [], []
    for _ in range(reps):  # interleaved so drift hits both sides alike
        engine.append(engine_run(svc, worker, "one")[0])
        bare.append(timed(lambda: bare_container(client, ["true"])))
    return statistics.median(engine), statistics.median(bare)


def bench_fanout(svc, worker, client, width: int, reps: int) -> tuple[float, float]:
    tasks = {f"fan{i:03d}": {"image": IMAGE, "command": ["true"]} for i in range(width)}
    tasks["join"] = {"image": IMAGE, "command": ["true"], "after": sorted(tasks)}
    svc.apply_workflow("fanout", {"tasks": tasks}, user="bench")

    def bare_all() -> None:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: bare_container(client, ["true"]), range(width)))
        bare_container(client, ["true"])  # the fan-in

    engine, bare = [], []
    for _ in range(reps):  # interleaved, like bench_one_task
        engine.append(engine_run(svc, worker, "fanout")[0])
        bare.append(timed(bare_all))
    return statistics.median(engine), statistics.median(bare)


RUN_TASKS = 5_000  # tasks per scheduled run


def bench_scheduling(n: int, concurrency: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = LmdbObjectStore(Path(tmp) / "s", create=True)
        svc = WorkflowService(store)
        fake = FakeExecutor(default=TaskBehavior(outputs={"o.txt": b"result\n"}))
        worker = Worker(store, lambda: fake, concurrency=concurrency, worker_id="bench")
        worker.initialize()
        engine = 0.0
        for first in range(0, n, RUN_TASKS):  # a definition is at most 1 MiB (docs/limits.md)
            size = min(RUN_TASKS, n - first)
            tasks = {f"t{i:05d}": {"image": "none", "command": ["true"],
                                   "outputs": {"files": ["o.txt"]}} for i in range(size)}
            svc.apply_workflow(f"big{first}", {"tasks": tasks}, user="bench")
            seconds, run_id = engine_run(svc, worker, f"big{first}")
            engine += seconds
            if len(svc.run_audit(run_id)) != 2 * size + 3:
                raise SystemExit("the scheduled run's audit is incomplete")
        # raw baseline: the same number of small objects, one write transaction each
        t0 = time.perf_counter()
        for i in range(n):
            store.put_object({"type": "bench", "i": i, "task": f"t{i:05d}"})
        raw = time.perf_counter() - t0
        worker.shutdown()
        store.close()
    return n / engine, n / raw


def bench_docker(args) -> None:
    client = docker.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        store = LmdbObjectStore(Path(tmp) / "s", create=True)
        svc = WorkflowService(store)
        worker = Worker(store, lambda: DockerExecutor(client), concurrency=2, worker_id="bench")
        worker.initialize()
        engine, bare = bench_one_task(svc, worker, client, args.reps)
        figure(f"one-task `true` run (median of {args.reps})", engine * 1000,
               "bare docker SDK", bare * 1000, "ms")
        engine, bare = bench_fanout(svc, worker, client, args.fanout, args.fanout_reps)
        figure(f"{args.fanout}-task fan-out + fan-in, concurrency 2 (median of "
               f"{args.fanout_reps})", engine,
               "bare docker SDK, 2 threads", bare, "s")
        worker.shutdown()
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--fanout", type=int, default=40)
    ap.add_argument("--fanout-reps", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--sched-concurrency", type=int, default=16)
    ap.add_argument("--skip-docker", action="store_true", help="run the scheduling bench alone")
    args = parse_args(ap, smoke={"reps": 1, "fanout": 4, "fanout_reps": 1,
                                     "tasks": 200})
    if not args.skip_docker:
        bench_docker(args)
    rate, raw = bench_scheduling(args.tasks, args.sched_concurrency)
    figure(f"scheduling {args.tasks} fake tasks, concurrency {args.sched_concurrency}, full "
           "evidence + audit", rate, "one-object-per-transaction writes", raw, "per s")


if __name__ == "__main__":
    main()
