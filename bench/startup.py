"""Startup benchmark: how long short `wfobj` commands take from exec to exit, beside
`python -c "import click"` (what any click command pays before its own code) measured in
the same run.

  1. `wfobj --help`
  2. `wfobj --store S cat HASH`: a small blob of a fresh local store (`wfobj --store S
     init`, `wfobj --store S put FILE`)
  3. `wfobj --version` (when the command has that option)

Each command runs once to warm up, then --runs times, the sides taking turns; a figure is
the median wall time beside the baseline's. Every side runs with its bytecode cached, in
a temporary PYTHONPYCACHEPREFIX that the warm-up writes (even where
PYTHONDONTWRITEBYTECODE is set), as an installed `wfobj` runs from its second start on;
no config file and no WFOBJ_* variable is seen.

    .venv/bin/python bench/startup.py [--runs 20] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import figure, parse_args, run_measured, wfobj_cmd  # noqa: E402

BASELINE = 'python -c "import click"'


def child_environment(work: Path) -> dict[str, str]:
    """This environment without WFOBJ_* or a config file, bytecode cached under `work`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WFOBJ_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["XDG_CONFIG_HOME"] = str(work / "config")
    return env


def medians(commands: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, float]:
    """The median wall time of each command (seconds): one warm-up, then `runs` rounds."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, cmd in commands.items():
            seconds = run_measured(cmd, env=env).seconds
            if round_:
                times[name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each command")
    args = parse_args(parser, smoke={"runs": 3})
    wfobj = wfobj_cmd()
    work = Path(tempfile.mkdtemp(prefix="wfobj-bench-startup-"))
    try:
        env = child_environment(work)
        store = str(work / "store")
        blob = work / "hello.txt"
        blob.write_bytes(b"hello, wfobj\n")
        run_measured([*wfobj, "--store", store, "init"], env=env)
        digest = run_measured([*wfobj, "--store", store, "put", str(blob)], env=env).stdout.strip()

        commands = {BASELINE: [sys.executable, "-c", "import click"],
                    "wfobj --help": [*wfobj, "--help"],
                    "wfobj --store S cat HASH": [*wfobj, "--store", store, "cat", digest]}
        if "--version" in run_measured([*wfobj, "--help"], env=env).stdout:
            commands["wfobj --version"] = [*wfobj, "--version"]
        else:
            print("wfobj has no --version option: not measured")
        print(f"python {sys.version.split()[0]}, {args.runs} runs of each after a warm-up, "
              "bytecode cached (a temporary PYTHONPYCACHEPREFIX)")
        times = medians(commands, args.runs, env)
        base = times.pop(BASELINE)
        for name, seconds in times.items():
            figure(name, seconds * 1000, BASELINE, base * 1000, "ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
