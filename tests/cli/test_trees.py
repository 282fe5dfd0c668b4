"""`wfobj put DIR`, `ls-tree`, `cat HASH:PATH`, `checkout` and `-p NAME=@DIR` on a local
LMDB store, through click's CliRunner (over --server: tests/e2e/test_cli_trees.py)."""

from __future__ import annotations

import io
import json
import os
import socket

import blake3
import pytest
import requests
from click.testing import CliRunner

from tests.objstore.test_trees import SAMPLE, make_folder
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.objstore import ChecksumMismatch, LmdbObjectStore, MemoryObjectStore, put_directory
from wfobj.objstore import trees as trees_module


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "store"
    assert CliRunner().invoke(cli, ["--store", str(path), "init"]).exit_code == 0
    return path


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "data", SAMPLE, executable={"bin/run.sh"},
                       empty_dirs={"empty"})


def run(store_path, *args):
    return CliRunner().invoke(cli, ["--store", str(store_path), *args], obj=CliContext())


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def one_error_line(result, *words):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def tree_of(folder) -> str:
    return put_directory(MemoryObjectStore(), folder).oid


def objects_in(store_path) -> dict[str, str]:
    store = LmdbObjectStore(store_path)
    try:
        return {oid: store.type_of(oid) for oid in store}
    finally:
        store.close()


def test_put_dir_prints_the_tree_hash_and_put_file_is_unchanged(store_path, folder):
    result = ok(run(store_path, "put", str(folder)))
    assert result.output.strip() == tree_of(folder)
    rows = json.loads(ok(run(store_path, "put", str(folder / "genome.fa"), str(folder),
                             "--json")).output)
    assert rows == [
        {"path": str(folder / "genome.fa"), "hash": blake3.blake3(SAMPLE["genome.fa"]).hexdigest(),
         "size": len(SAMPLE["genome.fa"])},
        {"path": str(folder), "hash": tree_of(folder), "files": 4,
         "size": sum(len(v) for v in SAMPLE.values())}]


def test_ls_tree_lists_entries_and_with_r_every_file(store_path, folder):
    oid = ok(run(store_path, "put", str(folder))).output.strip()
    lines = ok(run(store_path, "ls-tree", oid[:10])).output.splitlines()
    assert lines[0].split() == ["KIND", "SIZE", "HASH", "NAME"]
    assert [(ln.split()[0], ln.split()[-1]) for ln in lines[1:]] == [
        ("dir", "bin"), ("dir", "empty"), ("file", "genome.fa"), ("dir", "reads")]
    listed = json.loads(ok(run(store_path, "ls-tree", oid, "--json")).output)
    assert listed["hash"] == oid and listed["size"] == sum(len(v) for v in SAMPLE.values())
    genome = next(e for e in listed["entries"] if e["name"] == "genome.fa")
    assert genome == {"name": "genome.fa", "kind": "file", "size": len(SAMPLE["genome.fa"]),
                      "hash": blake3.blake3(SAMPLE["genome.fa"]).hexdigest(),
                      "executable": False}
    deep = ok(run(store_path, "ls-tree", "-r", oid)).output.splitlines()
    assert deep[0].split()[-1] == "PATH"
    assert [(ln.split()[0], ln.split()[-1]) for ln in deep[1:]] == [
        ("exec", "bin/run.sh"), ("file", "genome.fa"), ("file", "reads/a.fq"),
        ("file", "reads/b.fq")]
    every = json.loads(ok(run(store_path, "ls-tree", "--recursive", oid, "--json")).output)
    assert [e["path"] for e in every["entries"]] == ["bin/run.sh", "genome.fa", "reads/a.fq",
                                                     "reads/b.fq"]


def test_cat_hash_path_prints_one_file_of_a_tree(store_path, folder):
    oid = ok(run(store_path, "put", str(folder))).output.strip()
    assert ok(run(store_path, "cat", f"{oid[:8]}:reads/a.fq")).stdout_bytes == SAMPLE["reads/a.fq"]
    assert ok(run(store_path, "cat", f"{oid}:./bin/run.sh")).stdout_bytes == SAMPLE["bin/run.sh"]
    one_error_line(run(store_path, "cat", f"{oid}:reads"), "reads", "is a directory")
    one_error_line(run(store_path, "cat", f"{oid}:reads/c.fq"), "no 'reads/c.fq'", oid)
    one_error_line(run(store_path, "cat", f"{oid}:genome.fa/x"), "genome.fa/x")
    blob = blake3.blake3(SAMPLE["genome.fa"]).hexdigest()
    one_error_line(run(store_path, "cat", f"{blob}:x"), "is not a tree", "blob")
    assert ok(run(store_path, "cat", blob)).stdout_bytes == SAMPLE["genome.fa"]  # plain cat


def test_checkout_writes_the_tree_with_executable_bits(store_path, folder, tmp_path):
    oid = ok(run(store_path, "put", str(folder))).output.strip()
    out = tmp_path / "new" / "copy"
    done = ok(run(store_path, "checkout", oid[:12], str(out)))
    assert oid in done.output and str(out) in done.output
    for path, data in SAMPLE.items():
        assert (out / path).read_bytes() == data
    assert (out / "empty").is_dir() and not any((out / "empty").iterdir())
    assert os.stat(out / "bin" / "run.sh").st_mode & 0o777 == 0o755
    assert os.stat(out / "genome.fa").st_mode & 0o777 == 0o644
    (tmp_path / "empty").mkdir()
    shown = json.loads(ok(run(store_path, "checkout", oid, str(tmp_path / "empty"),
                              "--json")).output)
    assert shown == {"path": str(tmp_path / "empty"), "hash": oid, "files": 4,
                     "size": sum(len(v) for v in SAMPLE.values())}
    assert tree_of(tmp_path / "empty") == oid


def test_checkout_refuses_a_non_empty_dir_or_a_blob(store_path, folder, tmp_path):
    oid = ok(run(store_path, "put", str(folder))).output.strip()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_bytes(b"keep")
    one_error_line(run(store_path, "checkout", oid, str(tmp_path / "full")), "full",
                   "not an empty directory")
    assert os.listdir(tmp_path / "full") == ["mine.txt"]
    blob = blake3.blake3(SAMPLE["genome.fa"]).hexdigest()
    one_error_line(run(store_path, "checkout", blob, str(tmp_path / "b")), "not a tree")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("kind", ["symlink", "fifo", "socket"])
def test_a_special_file_is_refused_by_path_and_nothing_is_stored(store_path, folder, kind):
    odd = folder / "reads" / "odd"
    if kind == "symlink":
        odd.symlink_to("a.fq")
    elif kind == "fifo":
        os.mkfifo(odd)
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(odd))
    before = objects_in(store_path)
    line = one_error_line(run(store_path, "put", str(folder / "genome.fa"), str(folder)),
                          str(folder), "reads/odd")
    assert {"symlink": "symbolic link", "fifo": "FIFO", "socket": "socket"}[kind] in line
    assert objects_in(store_path) == before  # not even the file given before the folder


def test_put_dir_walks_the_folder_once_to_check_it_and_once_to_store_it(store_path, folder,
                                                                      monkeypatch):
    listed = []
    real_scandir = os.scandir

    def counting_scandir(path):
        listed.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    assert ok(run(store_path, "put", str(folder))).output.strip() == tree_of(folder)
    assert listed.count(str(folder)) == 3  # the check, the store, and tree_of here


def test_a_folder_that_gains_a_link_after_the_check_is_still_refused(store_path, folder,
                                                                    monkeypatch):
    from wfobj.cli import objects

    real_check = objects.check_folder

    def check_then_change(path):
        real_check(path)
        (folder / "reads" / "late").symlink_to("a.fq")

    monkeypatch.setattr(objects, "check_folder", check_then_change)
    before = objects_in(store_path)
    line = one_error_line(run(store_path, "put", str(folder)), str(folder), "reads/late")
    assert "symbolic link" in line
    assert "tree" not in set(objects_in(store_path).values()) - set(before.values())


def test_an_over_wide_or_over_deep_folder_is_refused_by_path(store_path, tmp_path,
                                                             monkeypatch):
    monkeypatch.setattr(trees_module, "MAX_ENTRIES", 3)
    wide = make_folder(tmp_path / "wide", {f"sub/f{i}": b"x" for i in range(4)})
    before = objects_in(store_path)
    one_error_line(run(store_path, "put", str(wide)), "sub/f3", "more than 3 entries")
    deep = tmp_path / "deep" / os.path.join(*["d"] * (trees_module.MAX_DEPTH + 1))
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"x")
    one_error_line(run(store_path, "put", str(tmp_path / "deep")), "d/d/d", "deep")
    assert objects_in(store_path) == before


def test_trigger_with_a_folder_passes_its_tree_hash(store_path, folder, tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text("name: flow\nparams:\n  data: {type: dir}\ntasks:\n"
                    "  a: {image: wfobj/toolbox:local, command: [ls, /in/data],\n"
                    "      inputs: {data: {param: data}}}\n")
    ok(run(store_path, "workflow", "apply", str(flow)))
    started = json.loads(ok(run(store_path, "run", "trigger", "flow", "-p", f"data=@{folder}",
                                "--json")).output)
    shown = json.loads(ok(run(store_path, "run", "show", started["run_id"], "--json")).output)
    oid = tree_of(folder)
    assert shown["parameters"] == {"data": oid}
    assert objects_in(store_path)[oid] == "tree"
    (folder / "link").symlink_to("genome.fa")
    one_error_line(run(store_path, "run", "trigger", "flow", "-p", f"data=@{folder}"),
                   "link", "symbolic link")


class LyingServer(requests.Session):
    """Answers every request with `status` and `body`, after reading what was sent."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        super().__init__()
        self.body, self.status, self.sent = body, status, 0

    def request(self, method, url, data=None, **kw):
        self.sent += sum(len(piece) for piece in data) if data is not None else 0
        resp = requests.Response()
        resp.status_code, resp.raw = self.status, io.BytesIO(self.body)
        return resp


def test_a_server_naming_another_tree_is_caught(folder):
    from wfobj.cli.client.service import RemoteService

    session = LyingServer(json.dumps({"hash": "0" * 64, "files": 4, "size": 1}).encode(), 201)
    with pytest.raises(ChecksumMismatch):
        RemoteService("http://wfobj.invalid", None, session=session).put_directory(str(folder))
    assert session.sent > sum(len(v) for v in SAMPLE.values())  # the tar went out whole


def test_a_tree_file_that_is_not_the_listed_one_is_caught():
    from wfobj.cli.client.service import RemoteService

    svc = RemoteService("http://wfobj.invalid", None, session=LyingServer(b"other bytes"))
    with pytest.raises(ChecksumMismatch):
        b"".join(svc.iter_tree_file("a" * 64, "x.txt", blake3.blake3(b"x").hexdigest()))
