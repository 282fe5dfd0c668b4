"""What every bench shares: `--smoke`, sizes, ports, the `wfobj` command, measured child
processes, and the one format of a figure line (wfobj beside its baseline from the same
run, and their ratio)."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20


def parse_args(parser: argparse.ArgumentParser, smoke: dict) -> argparse.Namespace:
    """Parse argv; with --smoke, `smoke` replaces the defaults (explicit options still win)."""
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, a few seconds: checks the bench runs, not the figures")
    args = parser.parse_args()
    if args.smoke:
        parser.set_defaults(**smoke)
        args = parser.parse_args()
    return args


def parse_size(text: str) -> int:
    """Bytes from `512M`, `1G`, `64K` or a plain number."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def figure(name: str, ours: float, baseline_name: str, baseline: float, unit: str) -> None:
    """One figure line; the ratio is always wfobj / baseline (tests look for this shape)."""
    print(f"figure {name}: wfobj {_number(ours)} {unit} | {baseline_name} {_number(baseline)} "
          f"{unit} | ratio {ours / baseline:.2f}x")


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def wfobj_cmd() -> list[str]:
    """The installed `wfobj` script beside this interpreter, else the same CLI via -m."""
    script = Path(sys.executable).parent / "wfobj"
    return [str(script)] if script.exists() else [sys.executable, "-m", "wfobj.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{what} did not start listening on port {port}")


@dataclass
class Measured:
    """A finished child process: wall time, peak RSS (ru_maxrss) and what it printed."""

    seconds: float
    peak_rss: int
    stdout: str


def run_measured(cmd: list[str], **kwargs) -> Measured:
    """Run `cmd` to its end; raise if it fails. Peak RSS comes from the kernel (wait4)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, **kwargs)
        # communicate() or wait() would reap the child before wait4 could read its usage
        with proc.stdout:
            out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: "
                             f"{err.read().decode(errors='replace')[-2000:]}")
    return Measured(seconds, usage.ru_maxrss * 1024, out.decode())
