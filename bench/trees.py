"""Trees benchmark: storing a folder of many small files and writing it out again, and
one large file, each beside a baseline run on the same input in the same run.

  1. `wfobj --store S put DIR` of --files small files (1-8 KiB of seeded random bytes, in
     --folders folders two levels deep) into a fresh store vs `git init` + `git add -A` +
     `git commit -q` of the same folder in a fresh repository (its git dir beside the
     folder, so the folder stays as it is), and vs `dvc add` of a copy of the folder in a
     fresh `git init` + `dvc init` repo (when a dvc is found; a line says so when not);
     then the store's size on disk vs the repository's after `git gc` (see below)
  2. `wfobj --store S checkout HASH OUT` into a new OUT vs `git worktree add --detach OUT
     HEAD`: both write a tree their store already holds into an empty folder (git also
     writes OUT's index and a `.git` file). `git clone` of the repository would also copy
     or link its objects into a new repository, which the checkout does not. --checkouts
     rounds (default 3), each side into a new folder after a sync; every round is printed
     with the load average, the figure gives the medians
  3. `wfobj --store S fsck` of that store vs `git fsck --full` of that repository
  4. `wfobj --store S put FILE` of one --size file of random bytes into a fresh store vs
     `b3sum FILE` + `cp FILE DEST` + `sync` (ingest.py's baseline), with the peak RSS of the
     `wfobj put` process; then `wfobj fsck` of that store vs `b3sum FILE`
  5. `POST /api/trees` of an --api-upload tar (files of 64 MiB and 1,000 files of 1-8 KiB,
     made as it is sent from BLAKE3's output stream: unique bytes, nothing on disk) into a
     real `wfobj serve` (one gunicorn API worker, no engine workers): the API worker's peak
     RSS (VmHWM) vs its RSS after a warm-up upload of 8 MiB, the ratio saying how flat it
     stayed, beside the bytes sent and the time; the answer's file count, size and hash
     are checked against the tree the client hashed as it sent it. `--api-upload 0` skips it

Every side starts after a `sync`, its input in the page cache. Each checkout is compared
with the folder, and each put's hash checked (the tree's by that checkout, the file's
against b3sum): a difference exits 1. Git runs without the user's config and with auto gc
off: past 6,700 loose objects `git commit` starts a detached `git gc` that would run into
the next measurement. The bench runs that `git gc` itself after the put figures, timed but
in no figure, so git's checkout and fsck read the pack a user's repository soon holds
(faster than the loose objects the commit wrote). Git does not fsync loose objects
(core.fsync's default); LMDB syncs each commit: the `sync` after each put is printed
beside the figure, not in it. DVC comes from --dvc PATH or PATH (see
ingest.py); b3sum as in ingest.py (only --smoke falls back to Python's blake3).

    .venv/bin/python bench/trees.py [--files 10000] [--folders 100] [--size 512M]
                                    [--api-upload 5G] [--checkouts 3] [--dvc PATH]
                                    [--dir DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import blake3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    Measured,
    MiB,
    figure,
    free_port,
    parse_args,
    parse_size,
    run_measured,
    wait_for_port,
    wfobj_cmd,
)
from bench.ingest import b3sum_cmd, find_dvc, hash_copy_sync, make_file, measured  # noqa: E402
from wfobj.engine.access.tokens import TokenStore  # noqa: E402
from wfobj.objstore import init_store  # noqa: E402
from wfobj.objstore.trees import TreeBuilder  # noqa: E402

SEED = 20261205
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gc.auto", "GIT_CONFIG_VALUE_0": "0",
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def make_tree(root: Path, files: int, folders: int) -> int:
    """`files` files of 1-8 KiB of seeded random bytes, spread over `folders` folders
    ten to a parent (d00/d00 … d09/d09 for 100); returns their total size."""
    rng = random.Random(SEED)
    total = 0
    for i in range(files):
        k = i % folders
        folder = root / f"d{k // 10:02d}" / f"d{k % 10:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.randint(1024, 8192))
        (folder / f"f{i:05d}.bin").write_bytes(data)
        total += len(data)
    return total


def tree_difference(want: Path, got: Path, ignore: frozenset[str] = frozenset()) -> str | None:
    """The first path where `got` differs from `want` (names, bytes, executable bits), or
    None; names in `ignore` are skipped at got's top level."""
    for folder, dirs, files in os.walk(want):
        rel = Path(folder).relative_to(want)
        there = got / rel
        names = set(os.listdir(there)) - (ignore if rel == Path() else set())
        if names != set(dirs) | set(files):
            return f"{rel}: {sorted(names ^ (set(dirs) | set(files)))[:5]}"
        for name in files:
            a, b = Path(folder) / name, there / name
            if (a.read_bytes() != b.read_bytes() or b.is_dir()
                    or os.access(a, os.X_OK) != os.access(b, os.X_OK)):
                return str(rel / name)
    return None


def synced(cmd: list[str], **kwargs) -> tuple[Measured, float]:
    """`cmd` after a sync, then the seconds of the sync that flushes what it left."""
    result = measured(cmd, **kwargs)
    return result, run_measured(["sync"]).seconds


def git_commit(tree: Path, repo: Path) -> tuple[Measured, float]:
    """`git init` + `git add -A` + `git commit -q` of `tree`, its git dir at `repo`."""
    env = dict(os.environ, **GIT_ENV, GIT_DIR=str(repo), GIT_WORK_TREE=str(tree))
    steps = [measured(["git", "init", "-q"], env=env),
             run_measured(["git", "add", "-A"], env=env),
             run_measured(["git", "commit", "-q", "-m", "bench"], env=env)]
    total = Measured(sum(s.seconds for s in steps), max(s.peak_rss for s in steps), "")
    return total, run_measured(["sync"]).seconds


def disk_use(path: Path) -> int:
    """Bytes the files under `path` take on disk (allocated blocks, as du counts them)."""
    return sum(os.lstat(Path(folder) / name).st_blocks * 512
               for folder, dirs, files in os.walk(path) for name in files + dirs)


def git(repo: Path, *args: str) -> list[str]:
    return ["git", f"--git-dir={repo}", *args]


def dvc_add_tree(dvc: str, tree: Path, repo: Path) -> tuple[Measured, float, str]:
    """`dvc add` of a copy of `tree` in a fresh `git init` + `dvc init` repo; its time,
    the sync after it and DVC's version."""
    env = dict(os.environ, **GIT_ENV, DVC_NO_ANALYTICS="1")
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, env=env, check=True)
    subprocess.run([dvc, "init", "-q"], cwd=repo, env=env, check=True)
    shutil.copytree(tree, repo / tree.name)
    version = subprocess.run([dvc, "--version"], capture_output=True, text=True, env=env,
                             check=True).stdout.strip()
    return *synced([dvc, "add", "-q", tree.name], cwd=repo, env=env), version


def check_same(want: Path, got: Path, what: str, ignore: frozenset[str] = frozenset()) -> None:
    difference = tree_difference(want, got, ignore)
    if difference is not None:
        raise SystemExit(f"{what} differs from the folder at {difference}")


def bench_tree(args: argparse.Namespace, work: Path, wfobj: list[str]) -> None:
    tree = work / "tree"
    size = make_tree(tree, args.files, args.folders)
    print(f"tree: {args.files:,} files, {size / MiB:,.1f} MiB, {args.folders} folders, "
          f"in {work}")
    store = work / "tree-store"
    run_measured([*wfobj, "init", str(store)])
    put, put_sync = synced([*wfobj, "--store", str(store), "put", str(tree)])
    oid = put.stdout.split()[0]
    repo = work / "tree.git"
    commit, commit_sync = git_commit(tree, repo)
    name = f"put of {args.files:,} files"
    figure(name, put.seconds, "git init + add + commit", commit.seconds, "s")
    print(f"sync after: wfobj put {put_sync:.3g} s, git {commit_sync:.3g} s; peak RSS: "
          f"wfobj put {put.peak_rss / MiB:,.0f} MiB, git {commit.peak_rss / MiB:,.0f} MiB")

    dvc = find_dvc(args.dvc)
    if dvc is None:
        print(f"DVC baseline unavailable: no dvc at {args.dvc or 'PATH'}")
    else:
        add, add_sync, version = dvc_add_tree(dvc, tree, work / "dvc")
        print(f"dvc: {dvc}, version {version}; sync after dvc add {add_sync:.3g} s; peak "
              f"RSS {add.peak_rss / MiB:,.0f} MiB")
        figure(f"{name} vs dvc", put.seconds, "dvc add", add.seconds, "s")

    loose = disk_use(repo)
    packing = measured(git(repo, "gc", "-q"), env=dict(os.environ, **GIT_ENV))
    print(f"git gc (auto gc's work after that commit; in no figure): {packing.seconds:.3g} s")
    figure(f"disk use of {args.files:,} files", disk_use(store) / MiB, "git repository "
           "after gc", disk_use(repo) / MiB, "MiB")
    print(f"disk use: the folder itself {disk_use(tree) / MiB:,.1f} MiB, git repository "
          f"before gc {loose / MiB:,.1f} MiB")

    bench_checkout(args, work, wfobj, store, oid, repo, tree)

    check = measured([*wfobj, "--store", str(store), "fsck"])
    git_check = measured(git(repo, "fsck", "--full", "--no-progress"),
                         env=dict(os.environ, **GIT_ENV))
    figure(f"fsck of {args.files:,} files", check.seconds, "git fsck --full",
           git_check.seconds, "s")


def bench_checkout(args: argparse.Namespace, work: Path, wfobj: list[str], store: Path,
                   oid: str, repo: Path, tree: Path) -> None:
    """--checkouts rounds of `wfobj checkout` then `git worktree add`, each into a new
    folder after a sync, each round's times and the load average printed; the figure is
    the median of each side (the machine's load moves between rounds)."""
    ours, theirs = [], []
    for i in range(args.checkouts):
        out, git_out = work / f"out-wfobj-{i}", work / f"out-git-{i}"
        ours.append(measured([*wfobj, "--store", str(store), "checkout", oid, str(out)]).seconds)
        theirs.append(measured(git(repo, "worktree", "add", "-q", "--detach", str(git_out),
                                   "HEAD"), env=dict(os.environ, **GIT_ENV)).seconds)
        print(f"checkout round {i + 1}: wfobj {ours[-1]:.3g} s, git worktree add "
              f"{theirs[-1]:.3g} s, ratio {ours[-1] / theirs[-1]:.2f}x, load average "
              f"{os.getloadavg()[0]:.2f}")
        check_same(tree, out, f"wfobj checkout of {oid}")
        if i == 0:
            check_same(tree, git_out, "git worktree add", frozenset({".git"}))
    figure(f"checkout of {args.files:,} files", statistics.median(ours), "git worktree add",
           statistics.median(theirs), "s")


def bench_file(args: argparse.Namespace, work: Path, wfobj: list[str]) -> None:
    b3sum, b3sum_name = b3sum_cmd(args.smoke)
    size = parse_size(args.size)
    path = work / "file.bin"
    make_file(path, size)
    print(f"file: {size / MiB:,.0f} MiB of random bytes")
    base, expected = hash_copy_sync(b3sum, path, work / "copy.bin")
    store = work / "file-store"
    run_measured([*wfobj, "init", str(store)])
    put = measured([*wfobj, "--store", str(store), "put", str(path)])
    if put.stdout.split()[0] != expected:
        raise SystemExit(f"wfobj put printed {put.stdout.strip()!r}, {b3sum_name} "
                         f"says {expected}")
    figure(f"put of one {size / MiB:,.0f} MiB file", put.seconds, f"{b3sum_name} + cp + sync",
           base.seconds, "s")
    print(f"put peak RSS: wfobj {put.peak_rss / MiB:,.0f} MiB")
    check = measured([*wfobj, "--store", str(store), "fsck"])
    hashed = measured([*b3sum, str(path)])
    figure(f"fsck of one {size / MiB:,.0f} MiB file", check.seconds, b3sum_name,
           hashed.seconds, "s")


class GeneratedTar:
    """A tar of files of random bytes made as it is read: `size` bytes in files of up to
    UPLOAD_FILE bytes under big/, and SMALL_FILES files of 1-8 KiB under small/. Each
    file's bytes are BLAKE3's output stream for `salt` and its name (unique, so nothing
    dedups), and
    are hashed as they go by, so `expected()` is the tree the server must answer."""

    UPLOAD_FILE = 64 * MiB
    SMALL_FILES = 1000
    PIECE = MiB

    def __init__(self, size: int, salt: str = ""):
        rng = random.Random(SEED)
        self.salt = salt.encode()
        big = [(f"big/f{i:04d}.bin", min(self.UPLOAD_FILE, size - at))
               for i, at in enumerate(range(0, size, self.UPLOAD_FILE))]
        small = [(f"small/s{i:04d}.bin", rng.randint(1024, 8192))
                 for i in range(self.SMALL_FILES)]
        self.files = big + small
        self.hashes = TreeBuilder(None)

    def length(self) -> int:
        return sum(512 + n + -n % 512 for _, n in self.files) + 1024

    def pieces(self) -> Iterator[bytes]:
        for name, size in self.files:
            info = tarfile.TarInfo(name)
            info.size, info.mode = size, 0o644
            yield info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")
            source, whole = blake3.blake3(self.salt + name.encode()), blake3.blake3()
            for at in range(0, size, self.PIECE):
                piece = source.digest(length=min(self.PIECE, size - at), seek=at)
                whole.update(piece)
                yield piece
            self.hashes.add_hashed(name, lambda h=whole, n=size: (h.hexdigest(), n))
            yield bytes(-size % 512)
        yield bytes(1024)

    def expected(self) -> dict:
        return self.hashes.hashed().to_json()


def descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children + [d for c in children for d in descendants(c)]


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} for process {pid}")


class Server:
    """`wfobj serve` on a fresh store: one API worker, no engine workers, no deliverer."""

    def __init__(self, wfobj: list[str], work: Path, max_upload: int):
        store = work / "api-store"
        self.token, _ = TokenStore(init_store(store)).create("bench", "runner")
        self.port = free_port()
        self.log = (work / "serve.log").open("wb")
        self.proc = subprocess.Popen(
            [*wfobj, "--store", str(store), "serve", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--engine-workers", "0", "--no-hook-deliverer"],
            stdout=self.log, stderr=subprocess.STDOUT,
            env=dict(os.environ, WFOBJ_MAX_UPLOAD=str(max_upload)))
        wait_for_port(self.port, self.proc, "wfobj serve")

    def worker(self) -> int:
        """The API worker, once /api/health answers: the one process gunicorn's master
        (serve's child) started."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = [w for child in descendants(self.proc.pid) for w in descendants(child)]
            if len(workers) == 1 and self.healthy():
                return workers[0]
            time.sleep(0.1)
        raise SystemExit(f"no single API worker under wfobj serve (pid {self.proc.pid})")

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/api/health")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def upload(self, tar: GeneratedTar) -> tuple[dict, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        start = time.perf_counter()
        conn.putrequest("POST", "/api/trees")
        for key, value in (("Authorization", f"Bearer {self.token}"),
                           ("Content-Type", "application/x-tar"),
                           ("Content-Length", str(tar.length()))):
            conn.putheader(key, value)
        conn.endheaders()
        for piece in tar.pieces():
            conn.send(piece)
        resp = conn.getresponse()
        body = resp.read()
        seconds = time.perf_counter() - start
        conn.close()
        if resp.status != 201:
            raise SystemExit(f"POST /api/trees answered {resp.status}: {body[:500]!r}")
        return json.loads(body), seconds

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def bench_api_upload(args: argparse.Namespace, work: Path, wfobj: list[str]) -> None:
    size = parse_size(args.api_upload)
    server = Server(wfobj, work, max_upload=2 * size + 64 * MiB)
    try:
        worker = server.worker()
        server.upload(GeneratedTar(8 * MiB, "warm-up"))  # the worker's imports, first pages
        idle = proc_kib(worker, "VmRSS") * 1024
        tar = GeneratedTar(size)
        samples: list[tuple[int, int, int]] = []  # VmRSS, RssAnon, RssFile (KiB)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                samples.append(tuple(proc_kib(worker, f)
                                     for f in ("VmRSS", "RssAnon", "RssFile")))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        answer, seconds = server.upload(tar)
        done.set()
        sampler.join()
        peak = proc_kib(worker, "VmHWM") * 1024
    finally:
        server.stop()
    if answer != tar.expected():
        raise SystemExit(f"POST /api/trees answered {answer}, the client hashed "
                         f"{tar.expected()}")
    label = f"{size / MiB:,.0f} MiB" if size < 1 << 30 else f"{size / (1 << 30):,.3g} GiB"
    figure(f"API worker peak RSS during a {label} tree upload", peak / MiB,
           "the worker after an 8 MiB upload", idle / MiB, "MiB")
    rss, anon, mapped = (max((s[i] for s in samples), default=0) / 1024 for i in range(3))
    print(f"upload: {tar.length():,} bytes sent ({len(tar.files):,} files) in {seconds:.3g} s, "
          f"{tar.length() / MiB / seconds:,.0f} MiB/s; the worker's RSS sampled every 50 ms "
          f"peaked at {rss:,.0f} MiB (anonymous at most {anon:,.0f} MiB, file pages mapped "
          f"{mapped:,.0f} MiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="small files in the tree")
    parser.add_argument("--folders", type=int, default=100, help="folders they are spread over")
    parser.add_argument("--size", default="512M", help="the large file's size (e.g. 64M, 1G)")
    parser.add_argument("--api-upload", default="5G",
                        help="size of the tar sent to POST /api/trees (0: skip)")
    parser.add_argument("--checkouts", type=int, default=3,
                        help="checkout rounds (wfobj, then git); the figure is the medians")
    parser.add_argument("--dvc", default=None, help="dvc executable (default: dvc on PATH)")
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    args = parse_args(parser, smoke={"files": 200, "folders": 10, "size": "8M",
                                     "api_upload": "16M", "checkouts": 1})
    wfobj = wfobj_cmd()
    work = Path(tempfile.mkdtemp(prefix="wfobj-bench-trees-", dir=args.dir))
    try:
        bench_tree(args, work, wfobj)
        bench_file(args, work, wfobj)
        if parse_size(args.api_upload):
            bench_api_upload(args, work, wfobj)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
