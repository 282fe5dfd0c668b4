"""Cache benchmark (docs/cache.md): resume where every task hits, and file lineage lookups
in a large store.

  1. resume: a --tasks (default 1,000) task run on the fake executor, finished once; then
     `resume` of it, in which every task is a cache hit (no attempt runs), trigger → end
     by a warm `Worker`, beside triggering and scheduling the same run with the cache off
     (every task run by the fake executor), interleaved, --reps each (medians); in total
     and per task. Every resumed task must be a hit (else exit 1).
  2. `GET /api/files/{hash}` through `wfobj`'s API under gunicorn, one keep-alive
     connection, --requests each (median latency), in a store holding --runs (default
     10,000) one-task runs beside one holding --small-runs (default 10); the file asked
     about is one run's parameter (the same answer size in both stores). Both stores are
     built with the engine's library calls and the fake executor, on /dev/shm when there
     is one (building commits a few transactions per run, and their fsyncs are not what
     is measured; the lookups read the page cache either way).

    .venv/bin/python bench/cache.py [--tasks 1000] [--reps 3] [--runs 10000] [--small-runs 10]
                                    [--requests 500] [--smoke]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import start_gunicorn  # noqa: E402
from bench.engine import claim_and_run  # noqa: E402
from bench.harness import figure, parse_args  # noqa: E402
from wfobj.engine.access.tokens import TokenStore  # noqa: E402
from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior  # noqa: E402
from wfobj.engine.scheduling.worker import Worker  # noqa: E402
from wfobj.engine.service import WorkflowService  # noqa: E402
from wfobj.objstore import LmdbObjectStore  # noqa: E402


def warm_worker(store) -> Worker:
    fake = FakeExecutor(default=TaskBehavior(outputs={"o.txt": b"result\n"}))
    worker = Worker(store, lambda: fake, concurrency=16, worker_id="bench")
    worker.initialize()
    return worker


# ---- 1. resume -----------------------------------------------------------------------------
def timed_run(svc: WorkflowService, worker: Worker, start) -> tuple[float, str]:
    """(seconds from trigger to the run's end, run id); `start` triggers."""
    t0 = time.perf_counter()
    run_id = start()["run_id"]
    claim_and_run(svc, worker, run_id)
    return time.perf_counter() - t0, run_id


def bench_resume(n: int, reps: int) -> None:
    with tempfile.TemporaryDirectory(prefix="wfobj-bench-cache-") as tmp:
        store = LmdbObjectStore(Path(tmp) / "s", create=True)
        svc = WorkflowService(store)
        worker = warm_worker(store)
        tasks = {f"t{i:05d}": {"image": "none", "command": ["echo", str(i)],
                               "outputs": {"files": ["o.txt"]}} for i in range(n)}
        svc.apply_workflow("big", {"tasks": tasks}, user="bench")
        _, first = timed_run(svc, worker, lambda: svc.trigger(name="big", user="bench"))
        scheduled, resumed = [], []
        for _ in range(reps):  # interleaved so drift hits both sides alike
            seconds, _ = timed_run(svc, worker, lambda: svc.trigger(
                name="big", user="bench", cache=False))
            scheduled.append(seconds)
            seconds, run_id = timed_run(svc, worker, lambda: svc.resume(first, user="bench"))
            resumed.append(seconds)
            hits = sum(1 for row in svc.run_tasks(run_id) if row["cached_from"])
            if hits != n:
                raise SystemExit(f"resume hit {hits} of {n} tasks")
        worker.shutdown()
        store.close()
    resume_s, sched_s = statistics.median(resumed), statistics.median(scheduled)
    figure(f"resume of a {n}-task run, every task a hit, total (median of {reps})",
           resume_s, "trigger + schedule with the fake executor", sched_s, "s")
    figure(f"resume of a {n}-task run, every task a hit, per task", resume_s / n * 1000,
           "trigger + schedule with the fake executor", sched_s / n * 1000, "ms")


# ---- 2. /api/files/{hash} ------------------------------------------------------------------
ONE_TASK = {"params": {"f": {"type": "file"}},
            "tasks": {"t": {"image": "none", "command": ["cp", "/in/f", "/out/o.txt"],
                            "inputs": {"f": {"param": "f"}}, "outputs": {"files": ["o.txt"]}}}}


def build_store(path: Path, runs: int) -> tuple[str, str]:
    """A store of `runs` one-task runs, each with its own parameter file; (reader token,
    the parameter file of the middle run)."""
    store = LmdbObjectStore(path, create=True)
    svc = WorkflowService(store)
    worker = warm_worker(store)
    svc.apply_workflow("one", ONE_TASK, user="bench")
    asked = ""
    for i in range(runs):
        oid = store.put_blob(f"input of run {i}\n".encode())
        run_id = svc.trigger(name="one", parameters={"f": oid}, user="bench")["run_id"]
        claim_and_run(svc, worker, run_id)
        if i == runs // 2:
            asked = oid
    token, _ = TokenStore(store).create("bench", "reader")
    worker.shutdown()
    store.close()
    return token, asked


def get_latencies(conn: http.client.HTTPConnection, path: str, token: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
        out.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise SystemExit(f"GET {path}: HTTP {resp.status} {body[:200]!r}")
    return out


def check_answer(conn, path: str, token: str) -> None:
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    answer = json.loads(conn.getresponse().read())
    if len(answer["parameter_of"]) != 1 or len(answer["used_by"]) != 1:
        raise SystemExit(f"GET {path}: unexpected answer {answer}")


def bench_files(runs: int, small_runs: int, requests: int) -> None:
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="wfobj-bench-files-", dir=shm) as tmp:
        t0 = time.perf_counter()
        big = build_store(Path(tmp) / "big", runs)
        build_s = time.perf_counter() - t0
        small = build_store(Path(tmp) / "small", small_runs)
        print(f"built a store of {runs} runs in {build_s:.1f} s")
        servers, conns = [], []
        for name, (token, oid) in (("big", big), ("small", small)):
            proc, port = start_gunicorn("wfobj.api.app:get_app()",
                                        dict(os.environ, WFOBJ_STORE=str(Path(tmp) / name)))
            servers.append(proc)
            conns.append((http.client.HTTPConnection("127.0.0.1", port, timeout=30),
                          f"/api/files/{oid}", token))
        try:
            for conn, path, token in conns:
                check_answer(conn, path, token)
                get_latencies(conn, path, token, 20)  # warm-up
            samples: list[list[float]] = [[], []]
            rounds = max(1, requests // 50)
            for _ in range(rounds):  # interleaved rounds
                for side, (conn, path, token) in enumerate(conns):
                    samples[side] += get_latencies(conn, path, token, max(1, requests // rounds))
        finally:
            for conn, _, _ in conns:
                conn.close()
            for proc in servers:
                proc.terminate()
                proc.wait()
    big_ms, small_ms = (statistics.median(s) * 1000 for s in samples)
    figure(f"GET /api/files/{{hash}}, {runs} runs in the store (median of {len(samples[0])})",
           big_ms, f"{small_runs} runs in the store", small_ms, "ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--small-runs", type=int, default=10)
    ap.add_argument("--requests", type=int, default=500)
    args = parse_args(ap, smoke={"tasks": 50, "reps": 1, "runs": 100, "small_runs": 10,
                                 "requests": 50})
    bench_resume(args.tasks, args.reps)
    bench_files(args.runs, args.small_runs, args.requests)


if __name__ == "__main__":
    main()
