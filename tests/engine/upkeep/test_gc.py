"""gc of an engine store: runs and attempts in progress keep all they need; what nothing
reaches and is old goes; `wfobj gc` reports it; fsck is clean afterwards."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import blake3
from click.testing import CliRunner

from tests import ROOT
from tests.support_engine import run_with, trigger, wordcount
from wfobj.cli.main import cli
from wfobj.engine.layout import ATTEMPT_TOKENS_NS, JOBS_NS, REPORTS_NS
from wfobj.engine.runs.state import run_ref
from wfobj.engine.service import WorkflowService
from wfobj.engine.upkeep.gc import collect_garbage, in_progress_roots
from wfobj.objstore import Link, LmdbObjectStore, TreeBuilder, open_store, read_tree, walk_tree
from wfobj.objstore.fsck import fsck_store


def three_hours_ago() -> float:
    return time.time() - 3 * 3600


def old_store(tmp_path) -> LmdbObjectStore:
    """A real LMDB store whose writes are stamped three hours in the past."""
    return LmdbObjectStore(tmp_path / "store", create=True, clock=three_hours_ago)


def test_runs_and_attempts_in_progress_are_kept(tmp_path):
    store = old_store(tmp_path)
    svc = WorkflowService(store)
    upload = svc.put_file(io.BytesIO(b"some words to count here"))["hash"]
    pending = trigger(svc, wordcount(), "wordcount", corpus=upload)
    default = svc.put_file(io.BytesIO(b"a default file, named by hash only"))["hash"]
    done = trigger(svc, {"params": {"f": {"type": "file", "default": default}},
                         "tasks": {"t": {"image": "wfobj/toolbox:local",
                                         "command": ["true"]}}}, "tiny")
    assert run_with(store, done)[0] == "success"
    spec_input = store.put_blob(b"an input the node still has to fetch")
    spec = store.put_object({"type": "attempt_spec", "inputs": [Link.blob(spec_input)]})
    report = store.put_object({"type": "attempt_report", "spec": Link(spec, 0x71)})
    other_spec = store.put_object({"type": "attempt_spec", "inputs": []})
    token_spec = store.put_object({"type": "attempt_spec", "inputs": [], "n": 3})
    with store.batch() as b:
        b.meta_put(ATTEMPT_TOKENS_NS, "ab" * 32, json.dumps({"spec": token_spec}).encode())
        b.meta_put(JOBS_NS, f"{pending}/split/1",
                   json.dumps({"job_id": "7", "spec": spec, "token": "x"}).encode())
        b.meta_put(REPORTS_NS, other_spec, report.encode())
    stray = store.put_blob(b"an upload nobody used")
    before = set(store)

    roots = in_progress_roots(store)
    assert {store.get_ref(run_ref(pending)), spec, other_spec, report, token_spec} <= set(roots)
    assert store.get_ref(run_ref(done)) not in roots  # ended: kept by its ref alone
    result = collect_garbage(store)

    assert result.removed == [stray]
    assert set(store) == before - {stray}
    assert svc.get_run(pending)["state"] == "pending"
    assert store.get_raw(upload) == b"some words to count here"  # a pending run's parameter
    assert store.get_raw(default) == b"a default file, named by hash only"
    check = fsck_store(store)
    assert check.ok, check.damage


def test_cli_gc_dry_run_then_gc(tmp_path):
    store = old_store(tmp_path)
    keep = store.put_blob(b"kept by a ref")
    store.add_ref_if_new("keep/it", store.put_object(
        {"type": "tree", "file": Link.blob(keep)}))
    stray = store.put_blob(b"stray bytes")
    store.close()
    path = str(tmp_path / "store")
    runner = CliRunner()

    dry = runner.invoke(cli, ["--store", path, "gc", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("would remove 1 of 3 objects, 12 bytes")
    assert stray in open_store(path)

    real = runner.invoke(cli, ["--store", path, "--json", "gc", "--grace", "2h"])
    assert real.exit_code == 0, real.output
    data = json.loads(real.output)
    assert data["removed_hashes"] == [stray] and data["freed_bytes"] == 12
    assert not data["dry_run"] and data["grace_s"] == 7200
    assert stray not in open_store(path) and keep in open_store(path)

    again = runner.invoke(cli, ["--store", path, "gc"])
    assert again.output.startswith("removed 0 of 2 objects, 0 bytes")
    assert runner.invoke(cli, ["--store", path, "fsck"]).exit_code == 0


def test_cli_gc_refuses_bad_and_short_grace(tmp_path):
    old_store(tmp_path).close()
    path = str(tmp_path / "store")
    runner = CliRunner()
    bad = runner.invoke(cli, ["--store", path, "gc", "--grace", "soon"])
    assert bad.exit_code == 2 and "not a duration like 30m" in bad.output
    short = runner.invoke(cli, ["--store", path, "gc", "--grace", "5m"])
    assert short.exit_code == 1
    assert short.output.strip() == ("Error: gc refused: grace period 300s is shorter than "
                                    "the minimum 600s")


def test_gc_refuses_a_workflow_chain_it_cannot_read(tmp_path):
    """A `workflows/` ref whose chain holds something other than a workflow_version could
    root file defaults gc cannot see: gc stops naming the object and removes nothing."""
    store = old_store(tmp_path)
    svc = WorkflowService(store)
    svc.apply_workflow("wordcount", wordcount(), user="t")
    head = store.get_object(store.get_ref("workflows/wordcount"))
    note = store.put_object({"type": "note", "text": "not a version"})
    forged = store.put_object({**head, "version": 2, "previous": Link(note, 0x71)})
    assert store.set_ref_if_equals("workflows/wordcount", store.get_ref("workflows/wordcount"),
                                  forged)
    stray = store.put_blob(b"stray bytes")
    store.close()
    path = str(tmp_path / "store")
    result = CliRunner().invoke(cli, ["--store", path, "gc"])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: object {note} is not a valid workflow_version: "
                                     "it is a 'note'")
    assert stray in open_store(path)


WRITER = """
import sys
from wfobj.objstore import Link, LmdbObjectStore, MissingLinks
store = LmdbObjectStore(sys.argv[1])
written = refused = 0
for n, oid in enumerate(sys.argv[2:]):
    try:
        top = store.put_object({"type": "tree", "n": n, "leaf": Link.blob(oid)})
        if n % 2:
            store.add_ref_if_new(f"keep/{n}", top)
        written += 1
        if n == 20:
            print("started", flush=True)
    except MissingLinks:
        refused += 1  # gc removed the leaf first: the whole write is refused
print(written, refused, flush=True)
"""


def test_gc_beside_a_writer_process_never_leaves_a_dangling_link(tmp_path):
    """A second process keeps linking old unreachable blobs while gc runs: whatever the
    interleaving, each write either keeps its leaf alive or is refused whole, and the
    store is whole afterwards."""
    store = old_store(tmp_path)
    with store.batch() as b:
        leaves = [b.put_blob(f"old leaf {i}".encode()) for i in range(3000)]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "store"), *leaves],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "started\n"  # gc runs while the writer writes
    collect_garbage(store)
    out, _ = writer.communicate(timeout=300)
    written, refused = map(int, out.split())
    assert written + refused == len(leaves)
    check = fsck_store(store)
    assert check.ok, check.damage
    kept = {leaf for leaf in leaves if leaf in store}
    linked = {store.get_object(top)["leaf"].oid for _, top in store.refs("keep/")}
    assert linked <= kept
    assert len(kept) == written  # every leaf a write used is kept, every other one removed


def test_dir_parameters_and_defaults_keep_their_trees(tmp_path):
    """A tree named by hash only, as a run's `dir` parameter or a registered `dir`
    default, is kept with every file in it; a tree nothing names goes."""
    store = old_store(tmp_path)
    svc = WorkflowService(store)

    def upload(files: dict[str, bytes]) -> str:
        builder = TreeBuilder(store)
        for path, data in files.items():
            builder.add_file(path, io.BytesIO(data))
        return builder.finish().oid

    given = upload({"a.txt": b"given", "sub/b.txt": b"given below"})
    default = upload({"d.txt": b"the default"})
    stray = upload({"s.txt": b"nobody's"})
    registered = upload({"r.txt": b"a default no run took yet"})
    svc.apply_workflow("unused", {"params": {"d": {"type": "dir", "default": registered}},
                                  "tasks": {"t": {"image": "i", "command": ["true"]}}},
                       user="alice")
    run_id = trigger(svc, {"params": {"data": {"type": "dir"},
                                      "more": {"type": "dir", "default": default}},
                           "tasks": {"t": {"image": "wfobj/toolbox:local", "command": ["true"]}}},
                     "dirs", data=given)
    assert run_with(store, run_id)[0] == "success"
    result = collect_garbage(store)
    kept = {path: e.oid for path, e in walk_tree(store, given)}
    assert set(result.removed) == {stray, blake3.blake3(b"nobody's").hexdigest()}
    assert store.get_raw(kept["sub/b.txt"]) == b"given below"
    assert [e.name for e in read_tree(store, default).entries] == ["d.txt"]
    assert store.get_raw(read_tree(store, registered).entries[0].oid).startswith(b"a default")
    check = fsck_store(store)
    assert check.ok, check.damage
