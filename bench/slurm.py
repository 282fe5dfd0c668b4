"""Slurm executor benchmark (docs/executors.md): what an attempt costs when it runs as a
Slurm batch job through `wfobj exec`, beside the local Docker executor on the same machine.

  1. a --fanout (default 40) task fan-out of `true` (64 MiB memory cap each, so both
     nodes take two jobs at once), trigger → end by a warm `Worker` at concurrency 4,
     with the slurm executor and with the local one, interleaved, --reps each (medians);
     per attempt.
  2. bytes moved per attempt: a task reading a --size input and writing a --size output
     of random bytes, held to one node (--nodelist), counted by `wfobj exec` itself (the
     packs it fetched and sent), beside the size of the attempt's inputs and outputs;
     then the same attempt again on that node, which already holds the input: what it
     fetches (only the new spec object should come, never the input).

The API (`wfobj`'s app under gunicorn, engine-less) serves the nodes; the workers run in
this process on the same LMDB store. Needs Docker and the private cluster:

    eval "$(bash scripts/ensure-docker.sh)"; eval "$(bash scripts/slurm-cluster.sh)"
    .venv/bin/python bench/slurm.py [--fanout 40] [--reps 2] [--size 8M] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import start_gunicorn  # noqa: E402
from bench.engine import engine_run  # noqa: E402
from bench.harness import figure, parse_args, parse_size  # noqa: E402
from wfobj.engine.executors.docker import DockerExecutor  # noqa: E402
from wfobj.engine.executors.settings import SlurmSettings  # noqa: E402
from wfobj.engine.executors.slurm import SlurmExecutor  # noqa: E402
from wfobj.engine.scheduling.worker import Worker  # noqa: E402
from wfobj.engine.service import WorkflowService  # noqa: E402
from wfobj.objstore import LmdbObjectStore  # noqa: E402

IMAGE = "wfobj/toolbox:local"
CONCURRENCY = 4  # two nodes of two CPUs: four one-CPU jobs at once
NODE = "node1"
EXEC_LINE = re.compile(r"^(?P<spec>[0-9a-f]{64}) (?P<state>\w+): fetched (?P<fo>\d+) object\(s\), "
                       r"(?P<fb>\d+) bytes; sent (?P<so>\d+) object\(s\), (?P<sb>\d+) bytes$", re.M)


def slurm_worker(store, tmp: Path, url: str, *sbatch_args: str) -> Worker:
    settings = SlurmSettings(server_url=url, node_store=str(tmp / "nodes" / "%n"),
                             job_output=str(tmp / "job-%j.out"), poll=0.3,
                             sbatch_args=sbatch_args, wfobj_command=(sys.executable, "-m",
                                                                     "wfobj.cli.main"))
    worker = Worker(store, lambda: SlurmExecutor(settings), concurrency=CONCURRENCY,
                    worker_id="bench-slurm")
    worker.initialize()
    return worker


def bench_fanout(svc, local: Worker, slurm: Worker, width: int, reps: int) -> None:
    tasks = {f"fan{i:03d}": {"image": IMAGE, "command": ["true"],
                             "resources": {"memory": "64m"}} for i in range(width)}
    svc.apply_workflow("fanout", {"tasks": tasks}, user="bench")
    engine_run(svc, local, "fanout")  # warm-up: image and host facts, page cache
    engine_run(svc, slurm, "fanout")
    on_slurm, on_local = [], []
    for _ in range(reps):  # interleaved so drift hits both sides alike
        on_slurm.append(engine_run(svc, slurm, "fanout")[0])
        on_local.append(engine_run(svc, local, "fanout")[0])
    per_slurm, per_local = (statistics.median(s) / width * 1000 for s in (on_slurm, on_local))
    figure(f"{width}-task fan-out of `true`, per attempt, concurrency {CONCURRENCY} "
           f"(median of {reps})", per_slurm, "local executor", per_local, "ms")
    print(f"slurm executor overhead per attempt: {per_slurm - per_local:.0f} ms "
          f"(runs: slurm {statistics.median(on_slurm):.1f} s, "
          f"local {statistics.median(on_local):.1f} s)")


def exec_summary(svc: WorkflowService, tmp: Path, run_id: str) -> dict:
    """What `wfobj exec` printed for the run's one attempt (its job's output file)."""
    row = svc.run_task(run_id, "work")
    job = row["executor"]["job_id"]
    found = EXEC_LINE.search((tmp / f"job-{job}.out").read_text())
    if found is None or row["executor"]["node"] != NODE:
        raise SystemExit(f"job {job}: no `wfobj exec` summary, or not on {NODE}")
    return {"spec": found["spec"], "row": row, **{k: int(found[k]) for k in ("fo", "fb", "so", "sb")}}


def bench_bytes(svc, store, slurm: Worker, tmp: Path, size: int) -> None:
    svc.apply_workflow("bytes", {"params": {"data": {"type": "file"}}, "tasks": {"work": {
        "image": IMAGE, "resources": {"memory": "64m"},
        "command": ["sh", "-c", f"cat /in/data > /dev/null; head -c {size} /dev/urandom > /out/out.bin"],
        "inputs": {"data": {"param": "data"}}, "outputs": {"files": ["out.bin"]}}}}, user="bench")
    data = store.put_blob(os.urandom(size))
    _, first_run = engine_run(svc, slurm, "bytes", data=data)
    first = exec_summary(svc, tmp, first_run)
    row = first["row"]
    payload = size + sum(o["size"] for o in row["outputs"]) + row["stdout"]["size"] + \
        row["stderr"]["size"]
    moved = first["fb"] + first["sb"]
    figure(f"bytes moved per attempt, {size:,} B in + {size:,} B out (fetched "
           f"{first['fb']:,}, sent {first['sb']:,})", moved, "inputs + outputs", payload, "B")
    _, again_run = engine_run(svc, slurm, "bytes", data=data)
    again = exec_summary(svc, tmp, again_run)
    spec_size = len(store.get_raw(again["spec"]))
    figure(f"bytes fetched by the same attempt on a node holding its input ({again['fo']} "
           f"object(s): the {spec_size:,} B spec and the pack's framing)", again["fb"],
           "input size", size, "B")
    if again["fo"] != 1:  # the node holds the input: only the new spec may come
        raise SystemExit(f"a node holding the input fetched {again['fo']} objects, not 1")

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fanout", type=int, default=40)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--size", default="8M")
    args = parse_args(ap, smoke={"fanout": 4, "reps": 1, "size": "64K"})
    if not os.environ.get("SLURM_CONF"):
        raise SystemExit("no Slurm cluster: eval \"$(bash scripts/slurm-cluster.sh)\" first")
    with tempfile.TemporaryDirectory(prefix="wfobj-bench-slurm-") as tmp_name:
        tmp = Path(tmp_name)
        store = LmdbObjectStore(tmp / "store", create=True)
        api, port = start_gunicorn("wfobj.api.app:get_app()",
                                   dict(os.environ, WFOBJ_STORE=str(tmp / "store")))
        url = f"http://127.0.0.1:{port}"
        svc = WorkflowService(store)
        local = Worker(store, DockerExecutor, concurrency=CONCURRENCY, worker_id="bench-local")
        local.initialize()
        workers = [local, slurm_worker(store, tmp, url), slurm_worker(
            store, tmp, url, f"--nodelist={NODE}")]
        try:
            bench_fanout(svc, local, workers[1], args.fanout, args.reps)
            bench_bytes(svc, store, workers[2], tmp, parse_size(args.size))
        finally:
            for worker in workers:
                worker.shutdown()
            api.terminate()
            api.wait()
            store.close()


if __name__ == "__main__":
    main()
