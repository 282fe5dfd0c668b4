"""Fan-out benchmark (docs/bench.md): instances of one fanned-out task scheduled on the
fake executor beside the same number of separate tasks, at growing sizes, in one run.

  1. --tasks (default 10,000) instances of one task fanned out over a `list` param vs
     --tasks separate tasks (runs of 2,000, a definition being at most 1 MiB): tasks/s
  2. --big (default 100,000) instances vs the --tasks fan-out: tasks/s (flat), and the
     peak RSS each added instance costs (each size runs in a child process of its own)
  3. GET /api/runs/{id} of the --big run (Falcon app, first 1000 rows) vs GET of a
     one-task run in the same store
  4. rerun of a --samples (default 1,000) sample fan-out over a folder with one sample
     added: instances run (cache on) vs the instances a cacheless tool would run

Full evidence, audit and manifests in LMDB, as `wfobj worker` writes them.

    .venv/bin/python bench/fanout.py [--tasks 10000] [--big 100000] [--samples 1000] [--smoke]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import figure, parse_args  # noqa: E402

CONCURRENCY = 16
RUN_TASKS = 2000  # separate tasks per run (a definition is at most 1 MiB)


def fresh_store(tmp: str):
    from wfobj.objstore import LmdbObjectStore

    return LmdbObjectStore(Path(tmp) / "s", create=True)


def worker_for(store):
    from wfobj.engine.executors.fake import FakeExecutor, TaskBehavior
    from wfobj.engine.scheduling.worker import Worker

    fake = FakeExecutor(default=TaskBehavior(outputs={"o.txt": b"result\n"}))
    worker = Worker(store, lambda: fake, concurrency=CONCURRENCY, worker_id="bench",
                    max_instances=10_000_000)
    worker.initialize()
    return worker


def timed_run(svc, worker, name: str, **params) -> tuple[float, str]:
    run_id = svc.trigger(name=name, parameters=params, user="bench", cache=False)["run_id"]
    t0 = time.perf_counter()
    if not worker.claim(run_id) or worker.execute(run_id) != "success":
        raise SystemExit(f"run {run_id} of {name} did not succeed")
    return time.perf_counter() - t0, run_id


def task(command: str = "true", **extra) -> dict:
    return {"image": "none", "command": [command], "outputs": {"files": ["o.txt"]}, **extra}


def separate_rate(n: int) -> float:
    from wfobj.engine.service import WorkflowService

    with tempfile.TemporaryDirectory() as tmp:
        store = fresh_store(tmp)
        svc, worker = WorkflowService(store), worker_for(store)
        seconds = 0.0
        for first in range(0, n, RUN_TASKS):
            size = min(RUN_TASKS, n - first)
            svc.apply_workflow(f"sep{first}", {"tasks": {f"t{i:05d}": task() for i in range(size)}},
                               user="bench")
            seconds += timed_run(svc, worker, f"sep{first}")[0]
        worker.shutdown()
        store.close()
    return n / seconds


FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": task("run {{item}}", for_each={"param": "n"})}}


def fanout_child(n: int) -> dict:
    """In a child process: one run of n instances; its rate and what it added to peak RSS."""
    from wfobj.engine.service import WorkflowService

    with tempfile.TemporaryDirectory() as tmp:
        store = fresh_store(tmp)
        svc, worker = WorkflowService(store), worker_for(store)
        svc.apply_workflow("fan", FAN, user="bench")
        base = resident_kib()
        seconds, run_id = timed_run(svc, worker, "fan", n=list(range(n)))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        from falcon.testing import TestClient

        from wfobj.api import create_app
        from wfobj.engine.access.tokens import TokenStore

        tokens = TokenStore(store)
        token = tokens.create("bench", "reader")[0]
        client = TestClient(create_app(store, svc, tokens))
        h = {"Authorization": f"Bearer {token}"}
        small = one_task_run(svc, worker)
        get_big = median_get(client, f"/api/runs/{run_id}", h)
        get_small = median_get(client, f"/api/runs/{small}", h)
        worker.shutdown()
        store.close()
    return {"rate": n / seconds, "rss_kib": peak - base, "get_big": get_big, "get_small": get_small}


def resident_kib() -> int:
    """This process's resident set now (the peak is ru_maxrss): what the run adds to it
    counts, heap and the store's mapped pages alike."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (resource.getpagesize() // 1024)


def one_task_run(svc, worker) -> str:
    svc.apply_workflow("one", {"tasks": {"a": task()}}, user="bench")
    return timed_run(svc, worker, "one")[1]


def median_get(client, path: str, headers: dict, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = client.simulate_get(path, headers=headers)
        times.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise SystemExit(f"GET {path}: {r.status_code}")
    return sorted(times)[reps // 2]


def in_child(n: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rerun_one_more(samples: int) -> tuple[int, int, float, float]:
    """(instances run, instances, seconds of the first run, seconds of the rerun)."""
    from wfobj.engine.service import WorkflowService
    from wfobj.objstore import TreeBuilder

    definition = {"params": {"d": {"type": "dir"}},
                  "tasks": {"each": task("count {{item}}", for_each={"param": "d"},
                                         inputs={"f": {"item": True}})}}

    def folder(store, n: int) -> str:
        builder = TreeBuilder(store)
        for i in range(n):
            builder.add_file(f"s{i:06d}.fq", io.BytesIO(b"reads %d\n" % i))
        return builder.finish().oid

    with tempfile.TemporaryDirectory() as tmp:
        store = fresh_store(tmp)
        svc, worker = WorkflowService(store), worker_for(store)
        svc.apply_workflow("samples", definition, user="bench")
        runs = []
        for n in (samples, samples + 1):
            run_id = svc.trigger(name="samples", parameters={"d": folder(store, n)},
                                 user="bench")["run_id"]
            t0 = time.perf_counter()
            if not worker.claim(run_id) or worker.execute(run_id) != "success":
                raise SystemExit("the samples run failed")
            runs.append((time.perf_counter() - t0, run_id))
        tasks = [t for t in every_task(svc, runs[1][1]) if t["task"].startswith("each[")]
        ran = sum(1 for t in tasks if t.get("cached_from") is None)
        worker.shutdown()
        store.close()
    return ran, len(tasks), runs[0][0], runs[1][0]


def every_task(svc, run_id: str) -> list[dict]:
    out: list[dict] = []
    while True:
        got = svc.run_tasks(run_id, start=len(out), limit=1000)
        out.extend(got)
        if len(got) < 1000:
            return out


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(fanout_child(int(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=1000)
    args = parse_args(parser, {"tasks": 300, "big": 1500, "samples": 30})
    separate = separate_rate(args.tasks)
    small, big = in_child(args.tasks), in_child(args.big)
    figure(f"{args.tasks} instances of one fanned-out task, concurrency {CONCURRENCY}",
           small["rate"], f"{args.tasks} separate tasks", separate, "tasks/s")
    figure(f"{args.big} instances vs {args.tasks}, per-task rate", big["rate"],
           f"{args.tasks} instances", small["rate"], "tasks/s")
    figure(f"{args.big} instances, peak RSS added per instance", big["rss_kib"] * 1024 / args.big,
           f"{args.tasks} instances", max(small["rss_kib"], 1) * 1024 / args.tasks, "bytes")
    figure(f"GET /api/runs/{{id}} of a {args.big}-instance run", big["get_big"] * 1000,
           "GET of a one-task run", big["get_small"] * 1000, "ms")
    ran, total, first, rerun = rerun_one_more(args.samples)
    figure(f"rerun of a {args.samples}-sample fan-out with one sample more, instances run", ran,
           "instances without a cache", total, "instances")
    figure(f"rerun of a {args.samples}-sample fan-out with one sample more, time", rerun * 1000,
           "the first run", first * 1000, "ms")


if __name__ == "__main__":
    main()
