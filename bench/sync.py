"""Sync benchmark: `wfobj push` to `wfobj serve` over loopback HTTP vs `git push` of the
same files into an empty bare repo (file protocol), both in the same run.

The data: --runs manifests, each over --small small objects (half blobs, half structured)
and one --file-mib file of random bytes, one ref each; the same bytes are files in a git
work tree, one commit. Then:
  1. full push: `wfobj push URL` (the CLI, an admin token from `wfobj token create`) to
     `wfobj serve --workers 2` through a counting TCP proxy, vs `git push`: time, and
     bytes on the wire vs the bytes git's pack holds
  2. incremental push after adding 1 % more runs (a second git commit): the same figures

Exits 1 if a push sends other objects than the new ones or a ref is refused.

    .venv/bin/python bench/sync.py [--runs 200] [--small 99] [--file-mib 1] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    MiB,
    figure,
    free_port,
    parse_args,
    run_measured,
    wait_for_port,
)
from wfobj.engine.model import RunManifest  # noqa: E402
from wfobj.objstore import Link, LmdbObjectStore  # noqa: E402

CLI = [sys.executable, "-m", "wfobj.cli.main"]


# ---- data ---------------------------------------------------------------------------------
def build_runs(store_path: Path, tree: Path, first: int, count: int, small: int,
               file_bytes: int) -> set[str]:
    """`count` manifests, each over `small` small objects and one file, with a ref each;
    the same bytes are written under `tree` for git. Returns the ids added."""
    store = LmdbObjectStore(store_path, create=True)
    before = set(store)
    for run in range(first, first + count):
        folder = tree / f"run{run:05d}"
        folder.mkdir(parents=True)
        with store.batch() as b:
            links = [small_object(b, run, i) for i in range(small)]
        for i, link in enumerate(links):
            (folder / f"o{i:03d}").write_bytes(store.get_raw(link.oid))
        content = os.urandom(file_bytes)
        (folder / "file.bin").write_bytes(content)
        run_id = str(uuid.uuid4())
        # the items hang off a run-shaped record; the ref names a valid run_manifest (the
        # only object the ref policy reads)
        record = store.put_object({"type": "run_record", "run_id": run_id, "seq": run,
                                   "items": links,
                                   "file": Link.blob(store.put_blob(content))})
        manifest = store.put_object(RunManifest(run_id=run_id, run=Link.obj(record),
                                                state="success", tasks=[]).to_value())
        store.add_ref_if_new(f"runs/{run_id}", manifest)
    added = set(store) - before
    store.close()
    return added


def small_object(batch, run: int, i: int) -> Link:
    if i % 2:
        return Link.blob(batch.put_blob(os.urandom(96 + (i * 7) % 160)))
    return Link.obj(batch.put_object({"type": "bench_item", "run": run, "i": i,
                                      "note": os.urandom(24).hex()}))


# ---- a counting proxy ----------------------------------------------------------------------
class CountingProxy:
    """Forwards loopback TCP to `target`, counting bytes both ways (headers included)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.total = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.sock.accept()
            server = socket.create_connection(self.target)
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        try:
            while n := src.recv_into(buf):
                dst.sendall(view[:n])
                with self.lock:
                    self.total += n
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def reset(self) -> int:
        with self.lock:
            total, self.total = self.total, 0
        return total


# ---- the two sides -------------------------------------------------------------------------
def start_server(store_path: Path) -> tuple[subprocess.Popen, int, str]:
    """`wfobj serve` on a fresh store, and an admin token for it."""
    run_measured([*CLI, "init", str(store_path)], cwd=ROOT)
    made = run_measured([*CLI, "--store", str(store_path), "--json", "token", "create",
                         "bench", "--role", "admin"], cwd=ROOT)
    port = free_port()
    proc = subprocess.Popen([*CLI, "--store", str(store_path), "serve", "--bind",
                             f"127.0.0.1:{port}", "--workers", "2", "--engine-workers", "0"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, "wfobj serve")
    return proc, port, json.loads(made.stdout)["token"]


def wfobj_push(src: Path, url: str, token: str) -> tuple[float, dict]:
    done = run_measured([*CLI, "--store", str(src), "--json", "push", url, "--token", token],
                        cwd=ROOT)
    return done.seconds, json.loads(done.stdout)


def git(*args, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def git_commit(tree: Path) -> None:
    if not (tree / ".git").exists():
        git("init", "-q", "-b", "main", cwd=tree)
    git("add", "-A", cwd=tree)
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "bench", cwd=tree)


def git_push(tree: Path, bare: Path) -> tuple[float, int]:
    """Seconds of `git push`, and how many bytes the bare repo's objects grew by."""
    before = dir_bytes(bare / "objects")
    seconds = run_measured(["git", "push", "-q", f"file://{bare}", "main"], cwd=tree).seconds
    return seconds, dir_bytes(bare / "objects") - before


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---- main ---------------------------------------------------------------------------------
def push_both(label: str, src: Path, url: str, token: str, proxy: CountingProxy,
              tree: Path, bare: Path, expected: set[str]) -> bool:
    git_commit(tree)
    git_s, git_bytes = git_push(tree, bare)
    proxy.reset()
    ours_s, report = wfobj_push(src, url, token)
    wire = proxy.reset()
    print(f"{label}: {report['objects']} objects sent ({len(expected)} new), "
          f"{report['rounds']} requests")
    figure(f"{label} time", ours_s, "git push", git_s, "s")
    figure(f"{label} bytes", wire / MiB, "git pack", git_bytes / MiB, "MiB")
    if report["objects"] != len(expected):
        print(f"FAIL: {label} sent {report['objects']} objects, {len(expected)} were new")
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--small", type=int, default=99)
    parser.add_argument("--file-mib", type=float, default=1.0)
    args = parse_args(parser, smoke={"runs": 4, "small": 9, "file_mib": 0.25})
    work = Path(tempfile.mkdtemp(prefix="wfobj-bench-sync-"))
    src, tree, bare = work / "src", work / "tree", work / "bare.git"
    file_bytes = int(args.file_mib * MiB)
    proc = None
    try:
        added = build_runs(src, tree, 0, args.runs, args.small, file_bytes)
        print(f"store: {len(added)} objects ({args.runs * args.small} small), "
              f"{args.runs * file_bytes / MiB:.0f} MiB of file content")
        git("init", "-q", "--bare", str(bare), cwd=work)
        proc, port, token = start_server(work / "dst")
        proxy = CountingProxy(("127.0.0.1", port))
        url = f"http://127.0.0.1:{proxy.port}"
        ok = push_both("full push", src, url, token, proxy, tree, bare, added)
        extra = max(1, args.runs // 100)
        added = build_runs(src, tree, args.runs, extra, args.small, file_bytes)
        ok &= push_both(f"incremental push (+{extra} runs)", src, url, token, proxy, tree,
                        bare, added)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
