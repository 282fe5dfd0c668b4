"""Sync benchmark: `wfobj push` over loopback HTTP vs `git push` of the same files.

One run builds a store of 20,000 small objects plus 200 MiB of file content (200 runs,
each a manifest over 99 small objects and one 1 MiB file), pushes it to an empty server
(gunicorn, 2 workers) through a counting TCP proxy, and pushes the same files committed to
a git repo into an empty bare repo over the file protocol. Then it adds 1 % new objects
and pushes again. Prints figures and ratios; exits 1 if a target is missed.

    .venv/bin/python bench/sync.py [--runs 200] [--small 99] [--file-mib 1]
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.sync_http import HttpRemote  # noqa: E402
from objstore import Link, LmdbObjectStore, ObjectStore  # noqa: E402
from objstore.store import KIND_CHUNKED  # noqa: E402
from objstore.sync import push  # noqa: E402


# ---- a bare sync server, when the full API app is not available -------------------------
def bare_app():
    """gunicorn entry: only the sync routes over $WFOBJ_STORE (no auth)."""
    import falcon

    from api.sync import add_sync_routes

    app = falcon.App()
    add_sync_routes(app, LmdbObjectStore(os.environ["WFOBJ_STORE"]))
    return app


# ---- data ---------------------------------------------------------------------------------
def build_runs(store: ObjectStore, tree: Path, first: int, count: int, small: int, file_bytes: int):
    """`count` runs: `small` small objects (half blobs, half structured) and one file each;
    the same bytes are written under `tree` for git."""
    for run in range(first, first + count):
        folder = tree / f"run{run:05d}"
        folder.mkdir(parents=True)
        links = []
        with store.batch() as b:
            for i in range(small):
                if i % 2:
                    data = os.urandom(96 + (i * 7) % 160)
                    links.append(Link.blob(b.put_blob(data)))
                else:
                    value = {"type": "bench_item", "run": run, "i": i, "note": os.urandom(24).hex()}
                    oid = b.put_object(value)
                    data = store_bytes_of(b, oid)
                    links.append(Link.obj(oid))
                (folder / f"o{i:03d}").write_bytes(data)
        content = os.urandom(file_bytes)
        (folder / "file.bin").write_bytes(content)
        file_oid = store.put_blob(content)
        manifest = store.put_object(
            {"type": "run_manifest", "run": run, "items": links, "file": Link.blob(file_oid)}
        )
        store.add_ref_if_new(f"runs/bench-{run:05d}", manifest)


def store_bytes_of(batch, oid: str) -> bytes:
    for op in reversed(batch.objects):
        if op.digest.hex() == oid:
            return op.record[1:]
    raise KeyError(oid)


def stored_size(store: ObjectStore, oids) -> int:
    """Bytes the objects occupy as content (records without their kind byte)."""
    total = 0
    for oid in oids:
        rec = store.record(oid)
        total += 40 if rec[:1] == KIND_CHUNKED else len(rec) - 1
    return total


# ---- a counting proxy ----------------------------------------------------------------------
class CountingProxy:
    """Forwards loopback TCP to `target`, counting bytes both ways (headers included)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.up = self.down = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.sock.accept()
            server = socket.create_connection(self.target)
            for src, dst, up in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, up), daemon=True).start()

    def _pump(self, src, dst, up):
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        try:
            while n := src.recv_into(buf):
                dst.sendall(view[:n])
                with self.lock:
                    if up:
                        self.up += n
                    else:
                        self.down += n
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def reset(self):
        with self.lock:
            total = self.up + self.down
            self.up = self.down = 0
        return total


# ---- servers ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store_path: Path, port: int) -> tuple[subprocess.Popen, str | None]:
    """The real `wfobj serve` if the API is there (with an admin token), else a bare one."""
    env = dict(os.environ, WFOBJ_STORE=str(store_path))
    try:
        import api.app  # noqa: F401

        token = (
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cli.main",
                    "--store",
                    str(store_path),
                    "token",
                    "create",
                    "bench",
                    "--role",
                    "admin",
                ],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .split()[-1]
        )
        cmd = [
            str(ROOT / ".venv/bin/wfobj"),
            "--store",
            str(store_path),
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--engine-workers",
            "0",
        ]
        kind = "wfobj serve"
    except ImportError:
        token = None
        cmd = [
            str(ROOT / ".venv/bin/gunicorn"),
            "--pythonpath",
            f"{ROOT / 'bench'},{ROOT}",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "600",
            "--log-level",
            "warning",
            "sync:bare_app()",
        ]
        kind = "bare sync app on gunicorn"
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            print(f"server: {kind} on port {port}")
            return proc, token
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def git(*args, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def git_push_seconds(tree: Path, bare: Path) -> float:
    git("init", "-q", "-b", "main", cwd=tree)
    git("add", "-A", cwd=tree)
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "bench", cwd=tree)
    git("init", "-q", "--bare", str(bare), cwd=tree)
    start = time.perf_counter()
    git("push", "-q", f"file://{bare}", "main", cwd=tree)
    return time.perf_counter() - start


# ---- main ---------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--small", type=int, default=99)
    parser.add_argument("--file-mib", type=float, default=1.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wfobj-bench-sync-"))
    src = LmdbObjectStore(work / "src", create=True)
    dst_path = work / "dst"
    LmdbObjectStore(dst_path, create=True).close()
    file_bytes = int(args.file_mib * (1 << 20))
    build_runs(src, work / "tree", 0, args.runs, args.small, file_bytes)
    n = len(list(src))
    print(
        f"store: {n} objects ({args.runs * args.small} small), "
        f"{args.runs * file_bytes / (1 << 20):.0f} MiB of file content"
    )

    git_s = git_push_seconds(work / "tree", work / "bare.git")
    port = free_port()
    proc, token = start_server(dst_path, port)
    proxy = CountingProxy(("127.0.0.1", port))
    url = f"http://127.0.0.1:{proxy.port}"
    ok = True
    try:
        start = time.perf_counter()
        full = push(src, HttpRemote(url, token))
        ours_s = time.perf_counter() - start
        wire = proxy.reset()
        sent_size = stored_size(src, list(src))
        print(
            f"full push: {full.objects} objects, {full.rounds} requests, {ours_s:.2f} s; "
            f"git push: {git_s:.2f} s"
        )
        print(f"  time ratio wfobj/git = {ours_s / git_s:.2f}  (target <= 1.00)")
        print(
            f"  wire bytes / stored size = {wire} / {sent_size} = {wire / sent_size:.3f}"
            f"  (target <= 1.10)"
        )
        ok &= ours_s <= git_s and wire <= 1.1 * sent_size and full.objects == n

        before = set(src)
        extra = max(1, args.runs // 100)
        build_runs(src, work / "tree", args.runs, extra, args.small, file_bytes)
        new = set(src) - before
        new_size = stored_size(src, new)
        inc = push(src, HttpRemote(url, token))
        wire = proxy.reset()
        bound = math.ceil(math.log2(len(set(src))))
        print(
            f"incremental push (+{len(new)} objects = {len(new) / n:.1%}): {inc.objects} "
            f"objects sent, {inc.rounds} requests (log2 n = {bound})"
        )
        print(
            f"  wire bytes / new objects' size = {wire} / {new_size} = {wire / new_size:.3f}"
            f"  (target <= 1.10)"
        )
        ok &= inc.objects == len(new) and wire <= 1.1 * new_size and inc.rounds <= bound
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("PASS" if ok else "FAIL: a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
