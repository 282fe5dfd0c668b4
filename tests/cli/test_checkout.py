"""`wfobj checkout` of a damaged store and under a strict umask, through the real command
line in a fresh interpreter (the `wfobj` program's own start: lazy command loading,
config, the store opened by the command), on a real LMDB store."""

from __future__ import annotations

import os
import subprocess
import sys

import blake3

from tests.objstore.test_trees import make_folder
from tests.support_damage import flip_byte_on_disk

FILES = {f"sub/f{i:02d}.txt": b"file %02d, " % i * 30 for i in range(40)}
FILES["run.sh"] = b"#!/bin/sh\necho ok\n"


def wfobj(store, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFOBJ_")}
    return subprocess.run(
        [sys.executable, "-c", f"import os; os.umask({umask}); "
         "from wfobj.cli.main import main; main()", "--store", str(store), *args],
        capture_output=True, text=True, env=env, timeout=120)


def stored_folder(tmp_path) -> tuple[object, str]:
    store = tmp_path / "store"
    assert wfobj(store, "init").returncode == 0
    put = wfobj(store, "put", str(make_folder(tmp_path / "d", FILES, executable={"run.sh"})))
    assert put.returncode == 0, put.stderr
    return store, put.stdout.strip()


def test_a_damaged_file_is_refused_in_one_line_and_never_written(tmp_path):
    store, oid = stored_folder(tmp_path)
    flip_byte_on_disk(store, FILES["sub/f20.txt"][:60])
    out = tmp_path / "out"
    done = wfobj(store, "checkout", oid, str(out))
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    damaged = blake3.blake3(FILES["sub/f20.txt"]).hexdigest()
    assert f"checksum mismatch for {damaged}" in done.stderr, done.stderr
    assert not (out / "sub/f20.txt").exists()
    written = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert all(FILES[path] == data for path, data in written.items())
    assert not [p for p in out.rglob("*") if "wfobj-part" in p.name]


def test_modes_are_the_trees_under_a_strict_umask(tmp_path):
    store, oid = stored_folder(tmp_path)
    out = tmp_path / "out"
    done = wfobj(store, "checkout", oid, str(out), umask=0o077)
    assert done.returncode == 0, done.stderr
    assert f"{len(FILES)} files" in done.stdout
    assert os.stat(out / "run.sh").st_mode & 0o777 == 0o755
    assert all(os.stat(out / path).st_mode & 0o777 == 0o644 for path in FILES if path != "run.sh")
    assert {path: (out / path).read_bytes() for path in FILES} == FILES
