"""`wfobj` object commands through click's CliRunner: exit codes and output."""

from __future__ import annotations

import json
import os

import blake3
import pytest
from click.testing import CliRunner

from tests import ROOT
from tests.support_damage import flip_byte_on_disk
from wfobj.cli.main import cli
from wfobj.objstore import Link, LmdbObjectStore


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "store"
    result = CliRunner().invoke(cli, ["--store", str(path), "init"])
    assert result.exit_code == 0, result.output
    assert "initialized" in result.output
    return path


def run(store_path, *args, input=None):
    return CliRunner().invoke(cli, ["--store", str(store_path), *args], input=input)


def with_store(store_path, fn):
    store = LmdbObjectStore(store_path)
    try:
        return fn(store)
    finally:
        store.close()


def test_no_store_is_a_usage_error(tmp_path):
    result = CliRunner(env={"WFOBJ_STORE": None}).invoke(cli, ["ls"])
    assert result.exit_code != 0
    assert "no store" in result.output
    missing = CliRunner().invoke(cli, ["--store", str(tmp_path / "nope"), "ls"])
    assert missing.exit_code == 1
    assert "wfobj init" in missing.output


def test_put_prints_b3sum_hashes_and_cat_returns_bytes(store_path, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.bin"
    a.write_bytes(b"alpha\n")
    b.write_bytes(bytes(range(256)) * 10)
    result = run(store_path, "put", str(a), str(b))
    assert result.exit_code == 0, result.output
    hashes = result.output.split()
    assert hashes == [blake3.blake3(a.read_bytes()).hexdigest(),
                      blake3.blake3(b.read_bytes()).hexdigest()]
    cat = CliRunner().invoke(cli, ["--store", str(store_path), "cat", hashes[1][:8]])
    assert cat.exit_code == 0
    assert cat.stdout_bytes == b.read_bytes()


def test_put_stdin_and_json(store_path):
    result = run(store_path, "put", "-", "--json", input=b"from stdin")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows == [{"path": "-", "hash": blake3.blake3(b"from stdin").hexdigest(), "size": 10}]


def test_a_bad_folder_or_unreadable_file_stores_nothing(store_path, tmp_path):
    good = tmp_path / "good.txt"
    good.write_bytes(b"good")
    bad_folder = tmp_path / "folder"
    bad_folder.mkdir()
    (bad_folder / "link").symlink_to(good)
    result = run(store_path, "put", str(good), str(bad_folder))  # a folder is a tree (test_trees.py)
    assert result.exit_code == 1
    assert "link: is a symbolic link" in result.output
    result = run(store_path, "put", str(good), str(tmp_path / "missing.txt"))
    assert result.exit_code == 1
    assert "cannot read" in result.output and "missing.txt" in result.output
    assert len(result.output.strip().splitlines()) == 1
    if os.geteuid() != 0:  # root reads everything
        locked = tmp_path / "locked"
        locked.write_bytes(b"x")
        locked.chmod(0)
        assert run(store_path, "put", str(locked)).exit_code == 1
    assert with_store(store_path, lambda s: list(s)) == []


def build_graph(store_path):
    def build(store):
        leaf = store.put_blob(b"leaf")
        v1 = store.put_object({"type": "workflow_version", "version": 1,
                               "registered_at": "2026-11-24T10:00:00.000000Z",
                               "definition": Link.blob(leaf)})
        v2 = store.put_object({"type": "workflow_version", "version": 2,
                               "registered_at": "2026-11-24T11:00:00.000000Z",
                               "definition": Link.blob(leaf), "previous": Link.obj(v1)})
        store.add_ref_if_new("workflows/wc", v2)
        return leaf, v1, v2

    return with_store(store_path, build)


def test_show_type_and_links_as_hashes(store_path):
    leaf, v1, v2 = build_graph(store_path)
    result = run(store_path, "show", v2[:10])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["previous"] == v1 and shown["definition"] == leaf
    assert shown["version"] == 2
    assert run(store_path, "type", v2).output.strip() == "workflow_version"
    assert run(store_path, "type", leaf).output.strip() == "blob"
    blob = run(store_path, "show", leaf)
    assert blob.exit_code == 0 and "blob" in blob.output and "4 bytes" in blob.output


def test_cat_of_structured_object_is_its_cbor(store_path):
    _, _, v2 = build_graph(store_path)
    result = CliRunner().invoke(cli, ["--store", str(store_path), "cat", v2])
    assert blake3.blake3(result.stdout_bytes).hexdigest() == v2


def test_ls_and_refs(store_path):
    leaf, v1, v2 = build_graph(store_path)
    rows = json.loads(run(store_path, "ls", "--json").output)
    assert {r["hash"] for r in rows} == {leaf, v1, v2}
    assert next(r for r in rows if r["hash"] == leaf) == {"hash": leaf, "type": "blob", "size": 4}
    human = run(store_path, "ls").output
    assert leaf in human and "workflow_version" in human
    assert json.loads(run(store_path, "refs", "--json").output) == [
        {"name": "workflows/wc", "hash": v2}]
    assert run(store_path, "refs").output.splitlines()[1:] == [f"{v2}  workflows/wc"]


def test_log_follows_previous_links(store_path):
    _, v1, v2 = build_graph(store_path)
    result = run(store_path, "log", "workflows/wc")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"{v2}  workflow_version")
    assert "registered_at=2026-11-24T11:00:00.000000Z" in lines[0] and "version=2" in lines[0]
    assert lines[1].startswith(v1)
    entries = json.loads(run(store_path, "--json", "log", "workflows/wc").output)
    assert [e["hash"] for e in entries] == [v2, v1]
    missing = run(store_path, "log", "workflows/none")
    assert missing.exit_code == 1 and "not found" in missing.output


def test_walk_shows_shared_subtrees_once(store_path):
    leaf, v1, v2 = build_graph(store_path)
    result = run(store_path, "walk", v2)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(v2)
    # canonical key order puts `previous` before `definition`: the leaf is met below v1
    assert lines[1].startswith(f"  previous: {v1} workflow_version")
    assert lines[2] == f"    definition: {leaf} blob 4"
    assert lines[3] == f"  definition: {leaf} (shown above)"
    rows = json.loads(run(store_path, "walk", v2, "--json").output)
    assert [r["depth"] for r in rows] == [0, 1, 2, 1]
    assert [r["repeated"] for r in rows] == [False, False, False, True]


def test_unknown_and_ambiguous_hashes(store_path):
    seen: dict[str, bytes] = {}
    i = 0
    while True:
        data = str(i).encode()
        oid = blake3.blake3(data).hexdigest()
        if oid[:6] in seen:
            break
        seen[oid[:6]] = data
        i += 1
    with_store(store_path, lambda s: (s.put_blob(seen[oid[:6]]), s.put_blob(data)))
    for command in ("cat", "show", "type", "walk"):
        result = run(store_path, command, oid[:6])
        assert result.exit_code == 1
        assert "ambiguous" in result.output and oid in result.output
    unknown = "0123456789ab" if not oid.startswith("012345") else "abcdefabcdef"
    result = run(store_path, "cat", unknown)
    assert result.exit_code == 1
    assert f"not found: {unknown}" in result.output
    short = run(store_path, "cat", oid[:4])
    assert short.exit_code == 1 and "at least 6" in short.output


def test_fsck_clean_then_damaged(store_path):
    leaf, _, v2 = build_graph(store_path)
    result = run(store_path, "fsck")
    assert result.exit_code == 0, result.output
    assert "checked 3 of 3 objects, 1 refs" in result.output and "ok" in result.output
    sampled = run(store_path, "fsck", "--sample", "50%", "--json")
    assert sampled.exit_code == 0
    assert json.loads(sampled.output)["objects"] == 3
    bad = run(store_path, "fsck", "--sample", "150%")
    assert bad.exit_code == 2 and "--sample" in bad.output

    marker = b"cli-corruption-marker-" * 30
    damaged = with_store(store_path, lambda s: s.put_blob(marker))
    flip_byte_on_disk(store_path, marker)
    result = run(store_path, "fsck")
    assert result.exit_code == 1
    assert f"damaged {damaged}: checksum" in result.output
    assert leaf not in result.output.split("damaged")[-1]
    cat = run(store_path, "cat", damaged)
    assert cat.exit_code == 1
    assert f"checksum mismatch for {damaged}" in cat.output


def test_python_dash_m_cli_main_runs_the_cli(tmp_path):
    """`python -m cli.main` is the CLI, not a silent import (bench/sync.py relies on it)."""
    import subprocess
    import sys

    root = ROOT
    proc = subprocess.run([sys.executable, "-m", "wfobj.cli.main", "init", str(tmp_path / "s")],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "initialized" in proc.stdout
