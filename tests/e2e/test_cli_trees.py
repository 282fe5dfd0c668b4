"""`wfobj put DIR`, `ls-tree`, `cat HASH:PATH`, `checkout` and `-p NAME=@DIR` with
--server against a real `wfobj serve`: the same answers as on a local store, folders
streamed as tars, every download checked."""

from __future__ import annotations

import json
import os

import blake3
import pytest
from click.testing import CliRunner

from tests.objstore.test_trees import SAMPLE, make_folder
from tests.support_e2e import served, snapshot
from wfobj.cli.client.service import RemoteService
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.objstore import MemoryObjectStore, put_directory

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TOTAL = sum(len(v) for v in SAMPLE.values())


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-cli-trees"))


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "data", SAMPLE, executable={"bin/run.sh"},
                       empty_dirs={"empty"})


def wfobj(server, *args, role="runner"):
    return CliRunner().invoke(cli, ["--server", server.url, "--token", server.tokens[role],
                                    *args], obj=CliContext())


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def one_error_line(result, *words):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert all(w in lines[0] for w in words), lines[0]


def tree_of(folder) -> str:
    return put_directory(MemoryObjectStore(), folder).oid


def test_put_dir_streams_the_folder_and_prints_the_same_tree_hash(server, folder):
    big = os.urandom(9 << 20)  # past the chunking threshold, so stored in chunks
    (folder / "big.bin").write_bytes(big)
    rows = json.loads(ok(wfobj(server, "put", str(folder), "--json")).output)
    assert rows == [{"path": str(folder), "hash": tree_of(folder), "files": 5,
                     "size": TOTAL + len(big)}]
    oid = rows[0]["hash"]
    assert ok(wfobj(server, "put", str(folder))).output.strip() == oid
    assert ok(wfobj(server, "cat", f"{oid}:big.bin", role="reader")).stdout_bytes == big


def test_ls_tree_over_the_server_is_the_api_answer(server, folder):
    oid = ok(wfobj(server, "put", str(folder))).output.strip()
    listed = json.loads(ok(wfobj(server, "ls-tree", oid[:10], "--json", role="reader")).output)
    assert listed["hash"] == oid and listed["size"] == TOTAL
    assert [(e["name"], e["kind"]) for e in listed["entries"]] == [
        ("bin", "dir"), ("empty", "dir"), ("genome.fa", "file"), ("reads", "dir")]
    lines = ok(wfobj(server, "ls-tree", "-r", oid, role="reader")).output.splitlines()
    assert lines[0].split() == ["KIND", "SIZE", "HASH", "PATH"]
    assert [(ln.split()[0], ln.split()[-1]) for ln in lines[1:]] == [
        ("exec", "bin/run.sh"), ("file", "genome.fa"), ("file", "reads/a.fq"),
        ("file", "reads/b.fq")]


def test_cat_hash_path_over_the_server(server, folder):
    oid = ok(wfobj(server, "put", str(folder))).output.strip()
    got = ok(wfobj(server, "cat", f"{oid}:reads/b.fq", role="reader")).stdout_bytes
    assert got == SAMPLE["reads/b.fq"]
    one_error_line(wfobj(server, "cat", f"{oid}:reads", role="reader"), "is a directory")
    one_error_line(wfobj(server, "cat", f"{oid}:reads/zz.fq", role="reader"), "reads/zz.fq")
    blob = blake3.blake3(SAMPLE["genome.fa"]).hexdigest()
    one_error_line(wfobj(server, "cat", f"{blob}:x", role="reader"), "not a tree")


def test_checkout_over_the_server_is_verified_and_restores_bits(server, folder, tmp_path):
    oid = ok(wfobj(server, "put", str(folder))).output.strip()
    out = tmp_path / "copy"
    shown = json.loads(ok(wfobj(server, "checkout", oid[:12], str(out), "--json",
                                role="reader")).output)
    assert shown == {"path": str(out), "hash": oid, "files": 4, "size": TOTAL}
    for path, data in SAMPLE.items():
        assert (out / path).read_bytes() == data
    assert os.stat(out / "bin" / "run.sh").st_mode & 0o777 == 0o755
    assert (out / "empty").is_dir()
    assert sorted(os.listdir(out)) == ["bin", "empty", "genome.fa", "reads"]  # nothing aside
    one_error_line(wfobj(server, "checkout", oid, str(out), role="reader"),
                   "not an empty directory")
    blob = blake3.blake3(SAMPLE["genome.fa"]).hexdigest()
    one_error_line(wfobj(server, "checkout", blob, str(tmp_path / "b"), role="reader"),
                   "not a tree")
    assert not (tmp_path / "b").exists()


def test_a_bad_folder_is_refused_before_anything_is_sent(server, folder):
    (folder / "reads" / "link").symlink_to("a.fq")
    before = snapshot(server.store_path)
    one_error_line(wfobj(server, "put", str(folder)), str(folder), "reads/link",
                   "symbolic link")
    assert snapshot(server.store_path) == before


def test_a_reader_cannot_put_a_folder(server, folder):
    one_error_line(wfobj(server, "put", str(folder), role="reader"), "403")


def test_trigger_with_a_folder_uploads_it_as_a_tree(server, folder, tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text("name: treeflow\nparams:\n  data: {type: dir}\ntasks:\n"
                    "  a: {image: wfobj/toolbox:local, command: [ls, /in/data],\n"
                    "      inputs: {data: {param: data}}}\n")
    ok(wfobj(server, "workflow", "apply", str(flow)))
    started = json.loads(ok(wfobj(server, "run", "trigger", "treeflow", "-p",
                                  f"data=@{folder}", "--json")).output)
    shown = json.loads(ok(wfobj(server, "run", "show", started["run_id"], "--json",
                                role="reader")).output)
    assert shown["parameters"] == {"data": tree_of(folder)}
    listed = json.loads(ok(wfobj(server, "ls-tree", tree_of(folder), "--json",
                                 role="reader")).output)
    assert listed["size"] == TOTAL


def test_put_file_with_server_uploads_it_to_the_server(server, tmp_path, monkeypatch):
    monkeypatch.delenv("WFOBJ_STORE", raising=False)
    data = os.urandom(5 << 20) + b"tail"  # past the chunking threshold, so chunked there
    (tmp_path / "big.bin").write_bytes(data)
    (tmp_path / "small.txt").write_bytes(b"small file\n")
    rows = json.loads(ok(wfobj(server, "put", str(tmp_path / "big.bin"),
                               str(tmp_path / "small.txt"), "--json")).output)
    assert rows == [
        {"path": str(tmp_path / "big.bin"), "hash": blake3.blake3(data).hexdigest(),
         "size": len(data)},
        {"path": str(tmp_path / "small.txt"),
         "hash": blake3.blake3(b"small file\n").hexdigest(), "size": 11}]
    assert sorted(os.listdir(tmp_path)) == ["big.bin", "small.txt"]  # no store made here
    remote = RemoteService(server.url, server.tokens["reader"])
    assert remote.get_object_bytes(rows[0]["hash"]) == data
    assert remote.get_object_bytes(rows[1]["hash"]) == b"small file\n"


def test_put_file_with_server_needs_the_runner_role(server, tmp_path):
    (tmp_path / "a.txt").write_bytes(b"a")
    one_error_line(wfobj(server, "put", str(tmp_path / "a.txt"), role="reader"), "403")
