"""A per-sample sub-workflow fanned out over a folder of samples, through a real `wfobj
serve` (gunicorn, Docker executor): the folder uploaded as a tar, one child run per sample
(listed over HTTP with its parent), each child's two tasks in real containers, and the
instances' outputs gathered by a task of the parent."""

from __future__ import annotations

import io
import tarfile

import pytest
import requests

from tests.support_e2e import served, wait_terminal

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = "wfobj/toolbox:local"
SAMPLES = {"A.txt": b"one\ntwo\n", "B.txt": b"one\n", "C.txt": b"one\ntwo\nthree\n"}


def sh(command: str, **extra) -> dict:
    return {"image": IMAGE, "command": ["sh", "-c", command], **extra}


PER_SAMPLE = {
    "params": {"reads": {"type": "file"}, "name": {"type": "string"}},
    "tasks": {
        "count": sh("wc -l < /in/r | tr -d ' ' > /out/n.txt", inputs={"r": {"param": "reads"}},
                    outputs={"files": ["n.txt"]}),
        "label": sh("n=$(cat /in/n); echo \"{{params.name}}=$n\" > /out/line.txt; "
                    "echo lines=$n >> $WFOBJ_VARS",
                    inputs={"n": {"task": "count", "file": "n.txt"}},
                    outputs={"files": ["line.txt"], "vars": ["lines"]}),
    },
}
BATCH = {
    "params": {"samples": {"type": "dir"}},
    "tasks": {
        "each": {"workflow": {"name": "per-sample"}, "for_each": {"param": "samples"},
                 "parallelism": 2,
                 "params": {"reads": {"item": True}, "name": "{{item.key}}"},
                 "outputs": {"files": ["label/line.txt"], "vars": ["label.lines"]}},
        "merge": sh("cat /in/lines/*/label/line.txt > /out/all.txt",
                    inputs={"lines": {"task": "each", "file": "label/line.txt"}},
                    outputs={"files": ["all.txt"]}),
    },
}


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-subworkflow-fanout"))


def get(server, path: str):
    answer = requests.get(f"{server.url}{path}", headers=server.h())
    assert answer.status_code == 200, answer.text
    return answer.json()


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_sub_workflow_per_sample_in_containers_with_its_children_listed(server):
    for name, body in (("per-sample", PER_SAMPLE), ("batch", BATCH)):
        put = requests.put(f"{server.url}/api/workflows/{name}", json=body, headers=server.h())
        assert put.status_code in (200, 201), put.text
    tree = requests.post(f"{server.url}/api/trees", data=tar_of(SAMPLES),
                         headers=server.h(**{"Content-Type": "application/x-tar"}))
    assert tree.status_code == 201, tree.text
    rid = requests.post(f"{server.url}/api/workflows/batch/trigger",
                        json={"parameters": {"samples": tree.json()["hash"]}},
                        headers=server.h()).json()["run_id"]
    run = wait_terminal(server, rid, timeout=300)
    assert run["state"] == "success", run
    assert run["tasks"] == {"each": "success", "merge": "success",
                            **{f"each[{k}]": "success" for k in SAMPLES}}
    # the child runs, listed over HTTP, each naming its parent run and instance
    children = get(server, "/api/runs?workflow=per-sample")["runs"]
    parents = sorted(c["parent"]["task"] for c in children if c["parent"]["run_id"] == rid)
    assert parents == [f"each[{k}]" for k in SAMPLES]
    assert len({c["run_id"] for c in children}) == len(children) == 3
    for instance in get(server, f"/api/runs/{rid}/tasks?start=0&limit=10"):
        if not instance["task"].startswith("each["):
            continue
        key = instance["task"][len("each["):-1]
        child = get(server, f"/api/runs/{instance['child']['run_id']}")
        assert child["state"] == "success" and child["tasks"] == {"count": "success",
                                                                  "label": "success"}
        assert child["parameters"]["name"] == key
        assert instance["vars"] == {"label.lines": str(SAMPLES[key].count(b"\n"))}
    files = {f["path"]: f["hash"] for f in get(server, f"/api/runs/{rid}/files")}
    merged = requests.get(f"{server.url}/api/objects/{files['all.txt']}", headers=server.h())
    assert merged.content == b"A.txt=2\nB.txt=1\nC.txt=3\n"


def test_a_bad_fan_out_of_a_sub_workflow_is_a_400_naming_the_place(server):
    requests.put(f"{server.url}/api/workflows/per-sample", json=PER_SAMPLE, headers=server.h())
    bad = {"params": {"names": {"type": "list"}},
           "tasks": {"each": {"workflow": {"name": "per-sample"}, "for_each": {"param": "names"},
                              "params": {"reads": {"item": True}, "name": "{{item}}"}}}}
    put = requests.put(f"{server.url}/api/workflows/bad-batch", json=bad, headers=server.h())
    assert put.status_code == 400
    assert put.json()["description"].startswith(
        "tasks.each.params.reads: {item: true} passes a directory's entry; the items of "
        "params.names are values")
