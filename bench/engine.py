"""Engine benchmark: whole runs beside a raw baseline measured in the same process.

  1. one-task `true` workflow: trigger → terminal state through the engine (run record,
     scheduler, Docker executor, evidence, audit, manifest) vs a bare docker SDK
     create/start/wait/logs/remove of the same container                (target ≤ 1.3×)
  2. 100-task fan-out + one fan-in task at concurrency 2 vs the bare SDK running the same
     100 containers with 2 threads                                         (target ≤ 1.3×)
  3. scheduling cost without containers: a fake executor, 10,000 independent tasks, full
     evidence and audit in LMDB; tasks/s (target ≥ 2,000/s), beside the raw cost of
     writing the same number of small objects to the store one per transaction

The engine side runs in a warm worker (the executor and its image facts are long-lived,
as in `wfobj worker`); the worker's idle poll interval is not counted.

    eval "$(bash scripts/ensure-docker.sh)"
    .venv/bin/python bench/engine.py [--reps 5] [--fanout 100] [--tasks 10000]
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

from engine.docker_executor import DockerExecutor  # noqa: E402
from engine.fake_executor import FakeExecutor, TaskBehavior  # noqa: E402
from engine.scheduler import RunScheduler  # noqa: E402
from engine.service import WorkflowService  # noqa: E402
from engine.worker import Worker  # noqa: E402
from objstore import LmdbObjectStore  # noqa: E402

IMAGE = "wfobj/toolbox:local"


def bare_container(client: docker.DockerClient, command: list[str]) -> None:
    container = client.containers.create(IMAGE, command=command, network_mode="none")
    try:
        container.start()
        container.wait()
        container.logs(stdout=True, stderr=True)
    finally:
        container.remove(force=True)


def engine_run(svc: WorkflowService, worker: Worker, name: str) -> float:
    t0 = time.perf_counter()
    run_id = svc.trigger(name=name, parameters={}, user="bench")["run_id"]
    assert worker.claim(run_id)
    state = worker.execute(run_id)
    elapsed = time.perf_counter() - t0
    if state != "success":
        raise SystemExit(f"bench run {run_id} ended {state}: {svc.run_tasks(run_id)}")
    return elapsed


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
        engine.append(engine_run(svc, worker, "one"))
        bare.append(timed(lambda: bare_container(client, ["true"])))
    return statistics.median(engine), statistics.median(bare)


def bench_fanout(svc, worker, client, width: int) -> tuple[float, float]:
    tasks = {f"fan{i:03d}": {"image": IMAGE, "command": ["true"]} for i in range(width)}
    tasks["join"] = {"image": IMAGE, "command": ["true"], "after": sorted(tasks)}
    svc.apply_workflow("fanout", {"tasks": tasks}, user="bench")
    engine = engine_run(svc, worker, "fanout")

    def bare_all() -> None:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: bare_container(client, ["true"]), range(width)))
        bare_container(client, ["true"])  # the fan-in

    bare = timed(bare_all)
    return engine, bare


def bench_scheduling(n: int, concurrency: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = LmdbObjectStore(Path(tmp) / "s", create=True)
        svc = WorkflowService(store)
        tasks = {f"t{i:05d}": {"image": "none", "command": ["true"], "outputs": {"files": ["o.txt"]}}
                 for i in range(n)}
        svc.apply_workflow("big", {"tasks": tasks}, user="bench")
        run_id = svc.trigger(name="big", parameters={}, user="bench")["run_id"]
        store.meta_cas("queue", run_id, b"1", None)
        fake = FakeExecutor(default=TaskBehavior(outputs={"o.txt": b"result\n"}))
        sched = RunScheduler(store, run_id, fake, concurrency=concurrency)
        t0 = time.perf_counter()
        state = sched.run_to_end()
        engine = time.perf_counter() - t0
        assert state == "success" and len(svc.run_audit(run_id)) == 2 * n + 3
        # raw baseline: the same number of small objects, one write transaction each
        t0 = time.perf_counter()
        for i in range(n):
            store.put_object({"type": "bench", "i": i, "task": f"t{i:05d}"})
        raw = time.perf_counter() - t0
        store.close()
    return n / engine, n / raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--fanout", type=int, default=100)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--sched-concurrency", type=int, default=256)
    ap.add_argument("--skip-docker", action="store_true")
    args = ap.parse_args()
    if not args.skip_docker:
        client = docker.from_env()
        with tempfile.TemporaryDirectory() as tmp:
            store = LmdbObjectStore(Path(tmp) / "s", create=True)
            svc = WorkflowService(store)
            executor = DockerExecutor(client)
            worker = Worker(store, lambda: executor, concurrency=2, worker_id="bench")
            worker.executor = executor
            engine, bare = bench_one_task(svc, worker, client, args.reps)
            print(f"1. one-task `true` run:  engine {engine * 1000:7.1f} ms   bare SDK "
                  f"{bare * 1000:7.1f} ms   ratio {engine / bare:.2f}x  (target <= 1.3x, "
                  f"median of {args.reps})")
            engine, bare = bench_fanout(svc, worker, client, args.fanout)
            print(f"2. {args.fanout}-task fan-out + fan-in, concurrency 2:  engine {engine:6.2f} s"
                  f"   bare SDK 2 threads {bare:6.2f} s   ratio {engine / bare:.2f}x  (target <= 1.3x)")
            store.close()
    rate, raw = bench_scheduling(args.tasks, args.sched_concurrency)
    print(f"3. scheduling {args.tasks} fake tasks (concurrency {args.sched_concurrency}, full "
          f"evidence + audit):  {rate:,.0f} tasks/s   raw one-object-per-transaction writes "
          f"{raw:,.0f}/s   ratio {rate / raw:.2f}x  (target >= 2,000 tasks/s)")


if __name__ == "__main__":
    main()
