"""Fan-out from the command line on a local LMDB store, tasks in real Docker: a folder
fanned out one instance per file, a `list` param fanned out by value, a gather reading
every instance's output, instances shown by name; bad input is one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.objstore import LmdbObjectStore

FLOW = """\
name: reads
params:
  samples: {type: dir}
  tags: {type: list, default: ["x"]}
tasks:
  count:
    image: wfobj/toolbox:local
    for_each: {param: samples}
    parallelism: 2
    command: [sh, -c, "printf '%s %s ' {{item.key}} $(wc -c < /in/reads) > /out/n"]
    inputs: {reads: {item: true}}
    outputs: {files: [n]}
  tag:
    image: wfobj/toolbox:local
    for_each: {param: tags}
    command: [sh, -c, "echo tag={{item}} >> $WFOBJ_VARS"]
    outputs: {vars: [tag]}
  merge:
    image: wfobj/toolbox:local
    command: [sh, -c, "cd /in/counts && cat */n > /out/all && ls > /out/keys"]
    inputs: {counts: {task: count, file: n}}
    outputs: {files: [all, keys]}
"""


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "store"
    assert CliRunner().invoke(cli, ["--store", str(path), "init"]).exit_code == 0
    return path


def run(store_path, *args):
    return CliRunner().invoke(cli, ["--store", str(store_path), *args], obj=CliContext())


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def one_error_line(result, *words):
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert all(w in lines[0] for w in words), lines[0]


def blob(store_path, oid: str) -> bytes:
    store = LmdbObjectStore(store_path)
    try:
        return b"".join(store.iter_blob(oid))
    finally:
        store.close()


def test_a_folder_fans_out_and_gathers_in_docker(store_path, tmp_path, docker_client):
    samples = tmp_path / "samples"
    samples.mkdir()
    for name, data in {"A.fq": "aaaa", "B.fq": "bb", "C.fq": "cccccc"}.items():
        (samples / name).write_text(data)
    (tmp_path / "reads.yaml").write_text(FLOW)
    ok(run(store_path, "workflow", "apply", str(tmp_path / "reads.yaml")))
    done = json.loads(ok(run(store_path, "run", "trigger", "reads", "-p", f"samples=@{samples}",
                             "-p", 'tags=["red", "blue"]', "--wait", "--json")).output)
    assert done["run"]["state"] == "success"
    by_task = {t["task"]: t for t in done["tasks"]}
    assert {"count[A.fq]", "count[B.fq]", "count[C.fq]", "tag[0]", "tag[1]"} <= set(by_task)
    assert by_task["tag[1]"]["vars"] == {"tag": "blue"}
    outputs = {o["path"]: o for o in by_task["merge"]["outputs"]}
    assert blob(store_path, outputs["all"]["hash"]) == b"A.fq 4 B.fq 2 C.fq 6 "
    assert blob(store_path, outputs["keys"]["hash"]) == b"A.fq\nB.fq\nC.fq\n"
    run_id = done["run"]["run_id"]
    one = json.loads(ok(run(store_path, "run", "task", run_id, "count[B.fq]", "--json")).output)
    assert one["task"] == "count[B.fq]" and one["state"] == "success"
    shown = json.loads(ok(run(store_path, "run", "show", run_id, "--json")).output)
    assert shown["task_count"] == 8 and shown["task_states"] == {"success": 8}


def test_bad_fan_out_input_is_one_line(store_path, tmp_path):
    (tmp_path / "reads.yaml").write_text(FLOW)
    ok(run(store_path, "workflow", "apply", str(tmp_path / "reads.yaml")))
    empty = tmp_path / "empty"
    empty.mkdir()
    one_error_line(run(store_path, "run", "trigger", "reads", "-p", f"samples=@{empty}",
                       "-p", "tags=red,blue"), "tags", "not a list of strings")
    (tmp_path / "bad.yaml").write_text(FLOW.replace("for_each: {param: tags}",
                                                    "for_each: {param: nope}"))
    one_error_line(run(store_path, "workflow", "apply", str(tmp_path / "bad.yaml")),
                   "tasks.tag.for_each", "unknown param")
