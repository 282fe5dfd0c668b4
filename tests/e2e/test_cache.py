"""Issue #12 end to end with real Docker: a real `wfobj serve` answers the cache, resume,
reproduce, compare and file lineage endpoints, and the `wfobj` CLI drives them (with
--server and on a local store, whose run then arrives on the server by push)."""

from __future__ import annotations

import io
import json
import subprocess
import uuid

import blake3
import docker.errors
import pytest
import requests

from tests.support_e2e import ROOT, Server, served, wait_terminal, wfobj_argv
from wfobj.objstore import init_store

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = "wfobj/toolbox:local"
TEST_REPO = "wfobj/cache-test"

PIPE = {
    "params": {"words": {"type": "file"}},
    "tasks": {
        "sort": {"image": IMAGE, "command": ["sh", "-c", "sort /in/words > /out/sorted.txt"],
                 "inputs": {"words": {"param": "words"}}, "outputs": {"files": ["sorted.txt"]}},
        "count": {"image": IMAGE,
                  "command": ["sh", "-c", "n=$(wc -l < /in/sorted); echo $n > /out/n.txt; "
                                          "echo n=$n >> $WFOBJ_VARS"],
                  "inputs": {"sorted": {"task": "sort", "file": "sorted.txt"}},
                  "outputs": {"files": ["n.txt"], "vars": ["n"]}, "env": {"LC_ALL": "C"}},
    },
}


def wfobj(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(wfobj_argv(*args), capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-cache"))


@pytest.fixture
def test_images(docker_client):
    """Images this test builds (FROM the toolbox, a unique label); removed afterwards."""
    made: list[str] = []

    def build(tag: str) -> str:
        dockerfile = f"FROM {IMAGE}\nLABEL wfobj.test={uuid.uuid4().hex}\n".encode()
        image, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
        made.append(image.id)
        return image.id

    yield build
    for image_id in made:
        try:
            docker_client.images.remove(image_id, force=True)
        except docker.errors.ImageNotFound:
            pass


def api(server: Server, method: str, path: str, role: str = "runner", **kw) -> requests.Response:
    return requests.request(method, server.url + path, headers=server.h(role), timeout=30, **kw)


def ok(resp: requests.Response, status: int = 200):
    assert resp.status_code == status, (resp.status_code, resp.text)
    return resp.json()


def upload(server: Server, data: bytes) -> str:
    resp = requests.post(f"{server.url}/api/objects", data=data, timeout=30, headers=server.h(
        **{"X-Wfobj-Hash": blake3.blake3(data).hexdigest()}))
    return ok(resp, 201)["hash"]


def apply(server: Server, name: str, definition: dict) -> None:
    resp = api(server, "PUT", f"/api/workflows/{name}", json=definition)
    assert resp.status_code in (200, 201), resp.text


def run(server: Server, name: str, parameters: dict | None = None, **body) -> dict:
    started = ok(api(server, "POST", f"/api/workflows/{name}/trigger",
                     json={"parameters": parameters or {}, **body}), 202)
    return wait_terminal(server, started["run_id"])


def finish(server: Server, started: dict) -> dict:
    return wait_terminal(server, started["run_id"])


def task(server: Server, run_id: str, name: str) -> dict:
    return ok(api(server, "GET", f"/api/runs/{run_id}/tasks/{name}", "reader"))


def explain(server: Server, run_id: str, name: str) -> dict:
    return ok(api(server, "GET", f"/api/runs/{run_id}/tasks/{name}/cache", "reader"))


def test_second_run_hits_and_a_changed_input_is_explained(server):
    apply(server, "pipe", PIPE)
    words = upload(server, b"pear\napple\nfig\n")
    first = run(server, "pipe", {"words": words})
    assert first["state"] == "success", server.log()
    second = run(server, "pipe", {"words": words})
    assert second["state"] == "success"
    for name in ("sort", "count"):
        old, new = task(server, first["run_id"], name), task(server, second["run_id"], name)
        assert old["cached_from"] is None and new["cached_from"] == old["evidence_hash"]
        assert new["cache_key"] == old["cache_key"] and new["outputs"] == old["outputs"]
        assert new["limits"] is None  # no container ran
    audit = ok(api(server, "GET", f"/api/runs/{second['run_id']}/audit", "reader"))
    assert {e["task"] for e in audit if e["event"] == "cache_hit"} == {"sort", "count"}
    key = ok(api(server, "GET", f"/api/objects/{task(server, first['run_id'], 'sort')['cache_key']}",
                 "reader"))
    assert key["type"] == "task_key" and key["image_id"].startswith("sha256:")

    other = upload(server, b"kiwi\nlime\n")
    third = run(server, "pipe", {"words": other})
    e = explain(server, third["run_id"], "sort")
    assert not e["hit"] and e["nearest"]["run_id"] == second["run_id"]
    assert e["nearest"]["differs"] == [{"component": "inputs./in/words", "was": words,
                                        "now": other}]
    # the CLI says the same, in words
    shown = wfobj("--server", server.url, "--token", server.tokens["reader"], "run", "explain",
                  third["run_id"], "sort").stdout
    assert "inputs./in/words" in shown and words in shown and other in shown


def test_opt_outs_never_hit(server):
    apply(server, "optouts", {"tasks": {
        "runid": {"image": IMAGE, "command": ["sh", "-c", "echo {{run.id}}"]},
        "net": {"image": IMAGE, "command": ["true"], "network": True},
        "nocache": {"image": IMAGE, "command": ["sh", "-c", "echo no"], "cache": False},
        "plain": {"image": IMAGE, "command": ["sh", "-c", "echo plain"]}}})
    run(server, "optouts")
    second = run(server, "optouts")
    assert second["state"] == "success", server.log()
    assert task(server, second["run_id"], "plain")["cached_from"]
    for name, why in (("runid", "{{run.id}}"), ("net", "network"),
                      ("nocache", "cache: false")):
        assert task(server, second["run_id"], name)["cached_from"] is None
        assert why in explain(server, second["run_id"], name)["reason"]
    off = run(server, "optouts", cache=False)
    assert off["cache"] is False and task(server, off["run_id"], "plain")["cached_from"] is None
    cli = json.loads(wfobj("--server", server.url, "--token", server.tokens["runner"], "--json",
                           "run", "trigger", "optouts", "--no-cache", "--wait").stdout)
    assert cli["run"]["cache"] is False
    assert [t["cached_from"] for t in cli["tasks"]] == [None] * 4
    assert "cache off" in explain(server, cli["run"]["run_id"], "plain")["reason"]
    bad = api(server, "POST", "/api/workflows/optouts/trigger", json={"cache": "no"})
    assert bad.status_code == 400 and "cache" in bad.json()["description"]


def test_resume_after_failure_reruns_only_what_failed(server, docker_client):
    tag = f"{TEST_REPO}:fixed-later-{uuid.uuid4().hex[:8]}"
    definition = json.loads(json.dumps(PIPE))
    definition["tasks"]["count"]["image"] = tag
    apply(server, "resumable", definition)
    words = upload(server, b"b\na\n")
    first = run(server, "resumable", {"words": words})
    assert first["state"] == "failed" and first["tasks"] == {"sort": "success", "count": "failed"}
    assert tag in task(server, first["run_id"], "count")["error"]
    docker_client.images.get(IMAGE).tag(tag)  # fix what failed: the image is now here
    try:
        out = wfobj("--server", server.url, "--token", server.tokens["runner"], "--json", "run",
                    "resume", first["run_id"], "--wait").stdout
        resumed = json.loads(out)
        assert resumed["state"] == "success" and resumed["resumes"] == first["run_id"]
        rid = resumed["run_id"]
        assert task(server, rid, "sort")["cached_from"] == task(server, first["run_id"], "sort")["evidence_hash"]
        count = task(server, rid, "count")
        assert count["cached_from"] is None and count["vars"] == {"n": "2"}
        assert count["limits"] is not None  # it ran in a container
        bad = api(server, "POST", f"/api/runs/{uuid.uuid4()}/resume")
        assert bad.status_code == 404
    finally:
        docker_client.images.remove(tag)


def test_reproduce_identical_and_different(server):
    apply(server, "pipe", PIPE)
    words = upload(server, b"3\n1\n2\n")
    first = run(server, "pipe", {"words": words})
    out = wfobj("--server", server.url, "--token", server.tokens["runner"], "run", "reproduce",
                first["run_id"], "--wait").stdout
    assert "IDENTICAL" in out
    apply(server, "noisy", {"tasks": {"rand": {
        "image": IMAGE, "command": ["sh", "-c", "head -c 16 /dev/urandom > /out/r.bin"],
        "outputs": {"files": ["r.bin"]}}}})
    noisy = run(server, "noisy")
    again = ok(api(server, "POST", f"/api/runs/{noisy['run_id']}/reproduce"), 202)
    assert again["reproduces"] == noisy["run_id"]
    done = finish(server, again)
    assert done["reproduces"] == noisy["run_id"] and done["cache"] is False
    c = ok(api(server, "GET", f"/api/runs/{noisy['run_id']}/compare/{again['run_id']}", "reader"))
    assert c["same_definition"] and c["same_parameters"] and not c["identical"]
    [row] = c["tasks"][0]["outputs"]
    assert row["path"] == "r.bin" and not row["same"] and row["a"] != row["b"]
    assert row["a"] == task(server, noisy["run_id"], "rand")["outputs"][0]["hash"]
    assert row["b"] == task(server, again["run_id"], "rand")["outputs"][0]["hash"]
    cli = wfobj("--server", server.url, "--token", server.tokens["reader"], "run", "compare",
                noisy["run_id"], again["run_id"], ok=False)
    assert cli.returncode == 0 and "DIFFERENT" in cli.stdout and row["b"] in cli.stdout


def test_reproduce_pins_the_image_id_and_fails_when_it_is_gone(server, test_images,
                                                                docker_client):
    tag = f"{TEST_REPO}:moving-{uuid.uuid4().hex[:8]}"
    old_id = test_images(tag)
    apply(server, "pinned", {"tasks": {"t": {"image": tag, "command": ["true"]}}})
    first = run(server, "pinned")
    assert first["state"] == "success" and task(server, first["run_id"], "t")["image_id"] == old_id
    new_id = test_images(tag)  # the tag moves on
    assert new_id != old_id
    pinned = finish(server, ok(api(server, "POST", f"/api/runs/{first['run_id']}/reproduce"), 202))
    assert pinned["state"] == "success"
    assert task(server, pinned["run_id"], "t")["image_id"] == old_id
    # a plain rerun follows the tag: a new image id, so a miss that says why
    moved = run(server, "pinned")
    assert task(server, moved["run_id"], "t")["image_id"] == new_id
    assert {"component": "image_id", "was": old_id, "now": new_id} in explain(
        server, moved["run_id"], "t")["nearest"]["differs"]
    docker_client.images.remove(old_id, force=True)
    gone = finish(server, ok(api(server, "POST", f"/api/runs/{first['run_id']}/reproduce"), 202))
    assert gone["state"] == "failed"
    error = task(server, gone["run_id"], "t")["error"]
    assert old_id in error and "no longer present" in error


def test_file_lineage_across_runs_and_a_synced_run(server, tmp_path):
    apply(server, "pipe", PIPE)
    words = upload(server, f"z\n{uuid.uuid4()}\n".encode())  # sorting changes it
    producer = run(server, "pipe", {"words": words}, cache=False)
    sorted_hash = task(server, producer["run_id"], "sort")["outputs"][0]["hash"]
    # a second workflow takes the produced file as its parameter
    apply(server, "consume", {"params": {"f": {"type": "file"}}, "tasks": {"wc": {
        "image": IMAGE, "command": ["sh", "-c", "wc -c < /in/f > /out/size.txt"],
        "inputs": {"f": {"param": "f"}}, "outputs": {"files": ["size.txt"]}}}})
    consumer = run(server, "consume", {"f": sorted_hash})
    size_hash = task(server, consumer["run_id"], "wc")["outputs"][0]["hash"]

    info = ok(api(server, "GET", f"/api/files/{sorted_hash}", "reader"))
    assert [(p["run_id"], p["task"], p["path"]) for p in info["produced_by"]] == [
        (producer["run_id"], "sort", "sorted.txt")]
    assert {(u["run_id"], u["task"]) for u in info["used_by"]} == {
        (producer["run_id"], "count"), (consumer["run_id"], "wc")}
    assert info["parameter_of"] == [{"run_id": consumer["run_id"], "param": "f"}]

    up = ok(api(server, "GET", f"/api/files/{size_hash}/lineage", "reader",
                params={"direction": "up"}))
    ids = {n["id"] for n in up["nodes"]}
    assert {f"task:{consumer['run_id']}/wc", f"task:{producer['run_id']}/sort",
            f"file:{words}"} <= ids
    down = ok(api(server, "GET", f"/api/files/{words}/lineage", "reader",
                  params={"direction": "down", "depth": 2}))
    assert f"file:{size_hash}" in {n["id"] for n in down["nodes"]}
    cli = wfobj("--server", server.url, "--token", server.tokens["reader"], "lineage",
                words, "--down").stdout
    assert f"task:{consumer['run_id']}/wc" in cli
    bad = api(server, "GET", f"/api/files/{words}/lineage", "reader", params={"direction": "x"})
    assert bad.status_code == 400
    assert api(server, "GET", f"/api/files/{'0' * 64}", "reader").status_code == 404

    # a run made in a local store, pushed to the server, is found there by its files
    local = tmp_path / "local"
    init_store(local).close()
    corpus = tmp_path / "words.txt"
    corpus.write_bytes(f"{uuid.uuid4()}\n".encode())
    spec = tmp_path / "pipe.json"
    spec.write_text(json.dumps({"name": "pipe", **PIPE}))
    wfobj("--store", str(local), "workflow", "apply", str(spec))
    made = json.loads(wfobj("--store", str(local), "--json", "run", "trigger", "pipe",
                            "-p", f"words=@{corpus}", "--wait").stdout)
    local_sorted = [t for t in made["tasks"] if t["task"] == "sort"][0]["outputs"][0]["hash"]
    local_info = json.loads(wfobj("--store", str(local), "--json", "file", local_sorted).stdout)
    assert local_info["produced_by"][0]["run_id"] == made["run"]["run_id"]
    wfobj("--store", str(local), "push", server.url, f"runs/{made['run']['run_id']}",
          "--token", server.tokens["admin"])
    synced = ok(api(server, "GET", f"/api/files/{local_sorted}", "reader"))
    assert [p["run_id"] for p in synced["produced_by"]] == [made["run"]["run_id"]]
    graph = ok(api(server, "GET", f"/api/files/{local_sorted}/lineage", "reader",
                   params={"direction": "up"}))
    assert f"task:{made['run']['run_id']}/sort" in {n["id"] for n in graph["nodes"]}
