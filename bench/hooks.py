"""Webhooks bench: what hooks cost the engine.

--runs (default 1,000) one-task runs on the fake executor, each triggered and run to its
end by a warm in-process `Worker` on a real LMDB store, with the webhook deliverer running
beside it as `wfobj serve` runs it (`wfobj hook deliver`, its own process) and:

  - baseline: no hook;
  - wfobj: one hook wanting every event (3 per run), and, on a third store, one wanting
    how runs end (`run.succeeded,run.failed,run.killed`: 1 per run), whose receiver, a
    process of its own on loopback, sleeps --receiver-sleep seconds (default 1) before
    answering each one.

The figures are the engine's wall time for all the runs, hook beside no hook (goal ≤ 1.05×).
The stores are set up first, each with its deliverer, and they take turns running
--batch runs (default 25), so load from elsewhere weighs on all alike. Deliveries still pending
when the runs are done are not waited for: they are the receiver's cost, not the engine's.

    .venv/bin/python bench/hooks.py [--runs 1000] [--batch 25] [--receiver-sleep 1] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import figure, free_port, parse_args, wait_for_port, wfobj_cmd  # noqa: E402
from wfobj.engine.executors.fake import FakeExecutor  # noqa: E402
from wfobj.engine.layout import DELIVERIES_NS  # noqa: E402
from wfobj.engine.scheduling.worker import Worker  # noqa: E402
from wfobj.engine.service import WorkflowService  # noqa: E402
from wfobj.engine.webhooks.events import EVENT_NAMES  # noqa: E402
from wfobj.objstore import LmdbObjectStore  # noqa: E402

ONE_TASK = {"tasks": {"t": {"image": "none", "command": ["true"]}}}


def receive(port: int, sleep: float) -> None:
    """The slow receiver (run as `bench/hooks.py --receive PORT`): sleeps, then 200."""

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(sleep)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Slow).serve_forever()


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class Engine:
    """A store with a warm in-process `Worker` and the deliverer process beside it."""

    def __init__(self, folder: Path, hook_url: str | None, events: list[str]) -> None:
        self.store = LmdbObjectStore(folder, create=True)
        self.svc = WorkflowService(self.store)
        self.svc.apply_workflow("one", ONE_TASK, user="bench")
        if hook_url:
            self.svc.add_hook(hook_url, events, user="bench")
        self.deliverer = start([*wfobj_cmd(), "--store", str(folder), "hook", "deliver"])
        fake = FakeExecutor()
        self.worker = Worker(self.store, lambda: fake, worker_id="bench")
        self.worker.initialize()
        self.seconds = 0.0

    def run(self, count: int) -> None:
        """Trigger and run `count` runs one after the other, adding up the time taken."""
        t0 = time.perf_counter()
        for _ in range(count):
            run_id = self.svc.trigger(name="one", user="bench", cache=False)["run_id"]
            if not self.worker.claim(run_id) or self.worker.execute(run_id) != "success":
                raise SystemExit(f"bench run {run_id} did not succeed")
        self.seconds += time.perf_counter() - t0

    def delivered(self) -> int:
        return sum(1 for _ in self.store.meta_scan(DELIVERIES_NS))

    def deliverer_cpu(self) -> float:
        """CPU seconds the deliverer process has used (user + system, from /proc)."""
        fields = Path(f"/proc/{self.deliverer.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.worker.shutdown()
        stop(self.deliverer)
        self.store.close()


ENDS = ["run.succeeded", "run.failed", "run.killed"]  # one event per run


def compare(runs: int, batch: int, hook_url: str) -> dict[str, Engine]:
    """Three engines on fresh stores: no hook, a hook wanting every event (3 per run), a
    hook wanting how runs end (1 per run). They take turns at `batch` runs each, in a
    rotating order, so a load that comes and goes weighs on all alike."""
    with tempfile.TemporaryDirectory() as tmp:
        engines = {"none": Engine(Path(tmp) / "none", None, []),
                   "every": Engine(Path(tmp) / "every", hook_url, list(EVENT_NAMES)),
                   "ends": Engine(Path(tmp) / "ends", hook_url, ENDS)}
        try:
            time.sleep(1.0)  # the deliverers up before anything is measured
            order, done = list(engines.values()), 0
            while done < runs:
                step = min(batch, runs - done)
                for engine in order:
                    engine.run(step)
                order = order[1:] + order[:1]
                done += step
            for name, engine in engines.items():
                print(f"# {name}: {engine.delivered()} deliveries done while the runs ran, "
                      f"deliverer CPU {engine.deliverer_cpu():.2f} s")
            return engines
        finally:
            for engine in engines.values():
                engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=25, help="runs per turn")
    ap.add_argument("--receiver-sleep", type=float, default=1.0)
    ap.add_argument("--receive", type=int, help=argparse.SUPPRESS)  # the receiver process
    args = parse_args(ap, smoke={"runs": 20, "batch": 5})
    if args.receive:
        receive(args.receive, args.receiver_sleep)
        return
    port = free_port()
    receiver = start([sys.executable, __file__, "--receive", str(port),
                      "--receiver-sleep", str(args.receiver_sleep)])
    try:
        wait_for_port(port, receiver, "the receiver")
        engines = compare(args.runs, args.batch, f"http://127.0.0.1:{port}/hook")
    finally:
        stop(receiver)
    bare = engines["none"].seconds
    sleep = f"{args.receiver_sleep:g} s"
    figure(f"{args.runs} one-task fake runs, a hook on every event to a receiver sleeping "
           f"{sleep}", engines["every"].seconds, "no hook", bare, "s")
    figure(f"{args.runs} one-task fake runs, a hook on run ends to a receiver sleeping "
           f"{sleep}", engines["ends"].seconds, "no hook", bare, "s")


if __name__ == "__main__":
    main()
