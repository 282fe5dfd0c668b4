"""Webhooks bench: what hooks cost the engine.

--runs (default 1,000) one-task runs on the fake executor, each triggered and run to its
end by a warm in-process `Worker` on a real LMDB store, with the webhook deliverer running
beside it as `wfobj serve` runs it (`wfobj hook deliver`, its own process) and:

  - baseline: no hook;
  - wfobj: one hook wanting every event (3 per run) whose receiver, a process of its own
    on loopback, sleeps --receiver-sleep seconds (default 1) before answering each one.

The figure is the engine's wall time for all the runs, hook beside no hook (goal ≤ 1.05×).
Both stores are set up first, each with its deliverer, and they take turns running
--batch runs (default 25), so load from elsewhere weighs on both alike. Deliveries still pending
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

    def __init__(self, folder: Path, hook_url: str | None) -> None:
        self.store = LmdbObjectStore(folder, create=True)
        self.svc = WorkflowService(self.store)
        self.svc.apply_workflow("one", ONE_TASK, user="bench")
        if hook_url:
            self.svc.add_hook(hook_url, list(EVENT_NAMES), user="bench")
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

    def close(self) -> None:
        self.worker.shutdown()
        stop(self.deliverer)
        self.store.close()


def compare(runs: int, batch: int, hook_url: str) -> tuple[float, float, int]:
    """(seconds with the hook, seconds without, deliveries done), the two engines taking
    turns at `batch` runs each, so a load that comes and goes weighs on both alike."""
    with tempfile.TemporaryDirectory() as tmp:
        bare = Engine(Path(tmp) / "bare", None)
        hooked = Engine(Path(tmp) / "hooked", hook_url)
        try:
            time.sleep(1.0)  # both deliverers up before anything is measured
            done = 0
            while done < runs:
                step = min(batch, runs - done)
                for engine in (bare, hooked) if done // batch % 2 else (hooked, bare):
                    engine.run(step)
                done += step
            return hooked.seconds, bare.seconds, hooked.delivered()
        finally:
            bare.close()
            hooked.close()


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
        hooked, bare, sent = compare(args.runs, args.batch, f"http://127.0.0.1:{port}/hook")
    finally:
        stop(receiver)
    print(f"# {sent} of {3 * args.runs} events delivered while the runs ran "
          f"(receiver sleeps {args.receiver_sleep:g} s each)")
    figure(f"{args.runs} one-task fake runs, a hook to a receiver sleeping "
           f"{args.receiver_sleep:g} s", hooked, "no hook", bare, "s")


if __name__ == "__main__":
    main()
