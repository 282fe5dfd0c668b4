"""Ingest benchmark: `wfobj put` of one large file of random bytes, beside baselines run on
the same file in the same run.

  1. `wfobj put FILE` (the real CLI, a fresh store) vs `b3sum FILE` + `cp FILE DEST` +
     `sync`: wall time of each and their ratio; the peak RSS of the `wfobj put` process
     (beside the baseline's, which is no yardstick: b3sum maps the file)
  2. the same vs `dvc add FILE` in a fresh `dvc init --no-scm` repo: time, ratio, DVC's
     peak RSS and version (skipped, with one line saying so, if no dvc is found)
  3. `wfobj fsck` of that store vs `b3sum FILE`: wall time and ratio

Every side starts after a `sync`, with FILE in the page cache. DVC comes from --dvc PATH or
PATH (install it outside the repo: `python3 -m venv /work/dvc-venv && /work/dvc-venv/bin/pip
install dvc`). Without b3sum (apt-get install b3sum) the bench stops, except with --smoke,
where Python's blake3 package stands in for it and the baseline line says so.

    .venv/bin/python bench/ingest.py [--size 512M] [--dvc PATH] [--dir DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    Measured,
    MiB,
    figure,
    parse_args,
    parse_size,
    run_measured,
    wfobj_cmd,
)

# what stands in for b3sum in smoke mode: the same hash, printed the way b3sum prints it
PY_B3SUM = ("import sys, blake3\n"
            "h = blake3.blake3(max_threads=blake3.blake3.AUTO)\n"
            "with open(sys.argv[1], 'rb') as f:\n"
            "    while b := f.read(1 << 20):\n"
            "        h.update(b)\n"
            "print(h.hexdigest(), sys.argv[1])\n")


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, 8 * MiB)
            fh.write(os.urandom(n))
            left -= n


def b3sum_cmd(smoke: bool) -> tuple[list[str], str]:
    found = shutil.which("b3sum")
    if found:
        return [found], "b3sum"
    if not smoke:
        raise SystemExit("b3sum not found (apt-get install b3sum); only --smoke may fall back "
                         "to Python's blake3 package")
    print("b3sum not found: the baseline hashes with Python's blake3 package (smoke mode only)")
    return [sys.executable, "-c", PY_B3SUM], "python blake3"


def measured(cmd: list[str], **kwargs) -> Measured:
    subprocess.run(["sync"], check=True)  # no side pays for the previous side's writeback
    return run_measured(cmd, **kwargs)


def hash_copy_sync(b3sum: list[str], path: Path, dest: Path) -> tuple[Measured, str]:
    """The baseline: hash, copy, flush to disk; one time, the peak RSS of the three."""
    steps = [measured([*b3sum, str(path)]), run_measured(["cp", str(path), str(dest)]),
             run_measured(["sync"])]
    total = Measured(sum(s.seconds for s in steps), max(s.peak_rss for s in steps), "")
    return total, steps[0].stdout.split()[0]


def find_dvc(option: str | None) -> str | None:
    if option:
        return option if shutil.which(option) else None
    return shutil.which("dvc")


def dvc_add(dvc: str, path: Path, repo: Path) -> tuple[Measured, str]:
    """`dvc add` of a copy of the file in a fresh `dvc init --no-scm` repo; (time, version)."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    repo.mkdir()
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=repo, env=env, check=True)
    shutil.copyfile(path, repo / path.name)
    version = subprocess.run([dvc, "--version"], capture_output=True, text=True, env=env,
                             check=True).stdout.strip()
    return measured([dvc, "add", "-q", path.name], cwd=repo, env=env), version


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="512M", help="file size (e.g. 64M, 512M, 1G)")
    parser.add_argument("--dvc", default=None, help="dvc executable (default: dvc on PATH)")
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    args = parse_args(parser, smoke={"size": "8M"})
    size = parse_size(args.size)
    b3sum, b3sum_name = b3sum_cmd(args.smoke)
    wfobj = wfobj_cmd()
    work = Path(tempfile.mkdtemp(prefix="wfobj-bench-ingest-", dir=args.dir))
    try:
        path = work / "file.bin"
        make_file(path, size)
        print(f"file: {size / MiB:,.0f} MiB of random bytes in {work}")
        base, expected = hash_copy_sync(b3sum, path, work / "copy.bin")

        store = work / "store"
        run_measured([*wfobj, "init", str(store)])
        put = measured([*wfobj, "--store", str(store), "put", str(path)])
        if put.stdout.strip() != expected:
            raise SystemExit(f"wfobj put printed {put.stdout.strip()!r}, {b3sum_name} "
                             f"says {expected}")
        figure("put time", put.seconds, f"{b3sum_name} + cp + sync", base.seconds, "s")
        # not a figure: b3sum maps the whole file, so its RSS grows with the file's size
        print(f"put peak RSS: wfobj {put.peak_rss / MiB:,.0f} MiB ({b3sum_name} + cp + sync: "
              f"{base.peak_rss / MiB:,.0f} MiB, b3sum's mapped file included)")

        dvc = find_dvc(args.dvc)
        if dvc is None:
            print(f"DVC baseline unavailable: no dvc at {args.dvc or 'PATH'}")
        else:
            add, version = dvc_add(dvc, path, work / "dvc")
            print(f"dvc: {dvc}, version {version}")
            figure("put time vs dvc", put.seconds, "dvc add", add.seconds, "s")
            figure("put peak RSS vs dvc", put.peak_rss / MiB, "dvc add", add.peak_rss / MiB,
                   "MiB")

        check = measured([*wfobj, "--store", str(store), "fsck"])
        hashed = measured([*b3sum, str(path)])
        figure("fsck time", check.seconds, b3sum_name, hashed.seconds, "s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
