"""`wfobj cwl run` and `wfobj-cwl-runner` (docs/cwl.md): CWL documents written here, run
through the engine on a real LMDB store and real Docker (the image wfobj/toolbox:local),
each CommandLineTool job recorded as a wfobj run. Not the conformance suite: that one is
run by scripts/cwl-conformance.sh from a checkout given to it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner

from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

WORDS_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
doc: count the lines of a file
baseCommand: [wc, -l]
inputs:
  text: {type: File, inputBinding: {position: 1}}
stdout: count.txt
outputs:
  count: {type: stdout}
"""

TREE_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
doc: copy a folder under a new name and list what it holds
requirements: {ShellCommandRequirement: {}}
arguments:
  - {valueFrom: "cp -R", shellQuote: false}
  - $(inputs.src.path)
  - copied
  - {valueFrom: "&& ls copied > names.txt", shellQuote: false}
inputs:
  src: {type: Directory}
outputs:
  copied: {type: Directory, outputBinding: {glob: copied}}
  names: {type: File, outputBinding: {glob: names.txt}}
"""

SCATTER_FLOW = """\
cwlVersion: v1.2
class: Workflow
requirements: {ScatterFeatureRequirement: {}}
inputs:
  words: string[]
steps:
  shout:
    run:
      class: CommandLineTool
      baseCommand: [echo]
      inputs:
        word: {type: string, inputBinding: {position: 1}}
      stdout: said.txt
      outputs:
        said: {type: stdout}
    scatter: word
    in: {word: words}
    out: [said]
outputs:
  said: {type: "File[]", outputSource: shout/said}
"""

WRONG_KIND_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [mkdir, made]
inputs: []
outputs:
  made: {type: File, outputBinding: {glob: made}}
"""

BRANCHING_FLOW = """\
cwlVersion: v1.2
class: Workflow
requirements: {SubworkflowFeatureRequirement: {}}
inputs:
  word: string
  loud: boolean
steps:
  inner:
    in: {word: word}
    out: [said]
    run:
      class: Workflow
      inputs: {word: string}
      steps:
        say:
          in: {word: word}
          out: [said]
          run:
            class: CommandLineTool
            baseCommand: [echo]
            inputs: {word: {type: string, inputBinding: {position: 1}}}
            stdout: said.txt
            outputs: {said: stdout}
      outputs:
        said: {type: File, outputSource: say/said}
  shout:
    when: $(inputs.loud)
    in: {loud: loud, word: word}
    out: [shouted]
    run:
      class: CommandLineTool
      baseCommand: [echo, LOUD]
      inputs:
        loud: boolean
        word: {type: string, inputBinding: {position: 1}}
      stdout: shouted.txt
      outputs: {shouted: stdout}
outputs:
  said: {type: File, outputSource: inner/said}
  shouted: {type: "File?", outputSource: shout/shouted}
"""

INPLACE_FLOW = """\
cwlVersion: v1.2
class: Workflow
doc: a tally written by one step, bumped in place by a second, read by a third
requirements: {InlineJavascriptRequirement: {}}
inputs: []
steps:
  start:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, "echo 1 > tally.txt"]
      inputs: []
      outputs: {tally: {type: File, outputBinding: {glob: tally.txt}}}
    in: []
    out: [tally]
  bump:
    run:
      class: CommandLineTool
      requirements:
        InplaceUpdateRequirement: {inplaceUpdate: true}
        InitialWorkDirRequirement: {listing: [{entry: $(inputs.tally), writable: true}]}
      baseCommand: [sh, -c, 'echo $(( $(cat tally.txt) + 1 )) > tally.txt']
      inputs: {tally: File}
      outputs: {tally: {type: File, outputBinding: {glob: tally.txt}}}
    in: {tally: start/tally}
    out: [tally]
  read_bumped:
    run:
      class: CommandLineTool
      baseCommand: [cat]
      inputs:
        tally: {type: File, inputBinding: {position: 1}}
        after: File
      stdout: seen.txt
      outputs: {seen: stdout}
    in: {tally: bump/tally, after: bump/tally}
    out: [seen]
outputs:
  seen: {type: File, outputSource: read_bumped/seen}
  first: {type: File, outputSource: start/tally}
"""

ELSEWHERE_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement: {dockerPull: "wfobj/toolbox:local", dockerOutputDirectory: /work}
baseCommand: [sh, -c, "pwd > where.txt"]
inputs: []
outputs:
  where: {type: File, outputBinding: {glob: where.txt}}
"""

FAILING_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, "echo broken >&2; exit 3"]
inputs: []
outputs: []
"""

CODES_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, "exit 3"]
successCodes: [3]
inputs: []
outputs: []
"""

UNSUPPORTED_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement: {dockerFile: "FROM scratch\\n", dockerImageId: "never-built:x"}
baseCommand: ["true"]
inputs: []
outputs: []
"""


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "store"
    assert CliRunner().invoke(cli, ["--store", str(path), "init"]).exit_code == 0
    return path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def cwl_run(store_path, *args: str):
    return CliRunner().invoke(cli, ["--store", str(store_path), "cwl", "run", "--quiet", *args],
                              obj=CliContext())


def output_object(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def runs_in(store_path) -> list[dict]:
    listed = CliRunner().invoke(cli, ["--store", str(store_path), "--json", "run", "list"],
                                obj=CliContext())
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.stdout)["runs"]


def task_of(store_path, run_id: str) -> dict:
    shown = CliRunner().invoke(cli, ["--store", str(store_path), "--json", "run", "task",
                                     run_id, "tool"], obj=CliContext())
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.stdout)


def sha1(path: str) -> str:
    return "sha1$" + hashlib.sha1(Path(path).read_bytes()).hexdigest()


@pytest.mark.docker
def test_a_tool_with_a_file_in_and_out_runs_as_one_recorded_run(store_path, tmp_path,
                                                                 docker_client):
    tool = write(tmp_path, "count.cwl", WORDS_TOOL)
    (tmp_path / "lines.txt").write_text("one\ntwo\nthree\n")
    job = write(tmp_path, "job.yml", "text: {class: File, path: lines.txt}\n")
    outdir = tmp_path / "results"

    out = output_object(cwl_run(store_path, "--outdir", str(outdir), str(tool), str(job)))

    count = out["count"]
    path = urlparse(count["location"]).path
    assert count["class"] == "File" and count["basename"] == "count.txt"
    assert Path(path).parent == outdir
    assert Path(path).read_text().split()[0] == "3"
    assert count["size"] == os.path.getsize(path) and count["checksum"] == sha1(path)
    (run,) = runs_in(store_path)
    assert run["workflow"] == "cwl-count-cwl" and run["state"] == "success"
    evidence = task_of(store_path, run["run_id"])
    assert evidence["command"] == ["sh", "/in/stage/.wfobj/run.sh"]
    assert [i["name"] for i in evidence["inputs"]] == ["stage"]
    assert [o["path"] for o in evidence["outputs"]] == ["o"] and evidence["vars"] == {"rc": "0"}


@pytest.mark.docker
def test_a_directory_goes_in_and_comes_out_as_a_tree(store_path, tmp_path, docker_client):
    tool = write(tmp_path, "copy.cwl", TREE_TOOL)
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.txt").write_text("alpha\n")
    (tmp_path / "data" / "sub" / "b.txt").write_text("beta\n")
    job = write(tmp_path, "job.yml", "src: {class: Directory, path: data}\n")
    outdir = tmp_path / "results"

    out = output_object(cwl_run(store_path, "--outdir", str(outdir), str(tool), str(job)))

    copied = out["copied"]
    assert copied["class"] == "Directory" and copied["basename"] == "copied"
    listing = {e["basename"]: e for e in copied["listing"]}
    assert set(listing) == {"a.txt", "sub"}
    assert listing["a.txt"]["checksum"] == "sha1$" + hashlib.sha1(b"alpha\n").hexdigest()
    assert [e["basename"] for e in listing["sub"]["listing"]] == ["b.txt"]
    root = Path(urlparse(copied["location"]).path)
    assert (root / "sub" / "b.txt").read_text() == "beta\n"
    assert Path(urlparse(out["names"]["location"]).path).read_text().split() == ["a.txt", "sub"]
    (run,) = runs_in(store_path)
    evidence = task_of(store_path, run["run_id"])
    assert evidence["outputs"][0]["kind"] == "dir"


@pytest.mark.docker
def test_a_scatter_runs_one_recorded_job_per_item(store_path, tmp_path, docker_client):
    flow = write(tmp_path, "shout.cwl", SCATTER_FLOW)
    job = write(tmp_path, "job.yml", "words: [hello, world]\n")

    out = output_object(cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(flow),
                                str(job)))

    said = [Path(urlparse(f["location"]).path).read_text() for f in out["said"]]
    assert said == ["hello\n", "world\n"]
    runs = runs_in(store_path)
    assert len(runs) == 2 and {r["state"] for r in runs} == {"success"}
    assert {r["workflow"] for r in runs} == {"cwl-shout"}  # one workflow, a run per item


@pytest.mark.docker
def test_a_failing_tool_exits_non_zero_and_its_run_keeps_the_evidence(store_path, tmp_path,
                                                                      docker_client):
    tool = write(tmp_path, "fail.cwl", FAILING_TOOL)

    result = cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(tool))

    assert result.exit_code not in (0, 33), result.output
    (run,) = runs_in(store_path)
    evidence = task_of(store_path, run["run_id"])
    assert evidence["vars"] == {"rc": "3"} and evidence["stderr"]["text"] == "broken\n"


@pytest.mark.docker
def test_an_output_of_the_wrong_kind_fails_the_tool(store_path, tmp_path, docker_client):
    tool = write(tmp_path, "wrong.cwl", WRONG_KIND_TOOL)

    result = cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(tool))

    assert result.exit_code not in (0, 33), result.output
    (run,) = runs_in(store_path)
    assert run["state"] == "success"  # the attempt succeeded; CWL's output check did not


@pytest.mark.docker
def test_a_false_condition_skips_a_step_and_a_subworkflow_runs_its_tool(store_path, tmp_path,
                                                                       docker_client):
    flow = write(tmp_path, "branch.cwl", BRANCHING_FLOW)
    quiet = write(tmp_path, "quiet.yml", "word: hi\nloud: false\n")
    loud = write(tmp_path, "loud.yml", "word: hi\nloud: true\n")

    out = output_object(cwl_run(store_path, "--outdir", str(tmp_path / "q"), str(flow),
                                str(quiet)))
    assert out["shouted"] is None
    assert Path(urlparse(out["said"]["location"]).path).read_text() == "hi\n"
    assert [r["workflow"] for r in runs_in(store_path)] == ["cwl-say"]

    out = output_object(cwl_run(store_path, "--outdir", str(tmp_path / "l"), str(flow),
                                str(loud)))
    assert Path(urlparse(out["shouted"]["location"]).path).read_text() == "LOUD hi\n"
    assert sorted(r["workflow"] for r in runs_in(store_path)) == ["cwl-say", "cwl-say",
                                                                  "cwl-shout"]


@pytest.mark.docker
def test_success_codes_decide_what_succeeds(store_path, tmp_path, docker_client):
    tool = write(tmp_path, "codes.cwl", CODES_TOOL)

    assert output_object(cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(tool))) == {}


def test_an_unsupported_requirement_exits_33(store_path, tmp_path):
    tool = write(tmp_path, "build.cwl", UNSUPPORTED_TOOL)

    result = cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(tool))

    assert result.exit_code == 33, result.output
    assert runs_in(store_path) == []


@pytest.mark.docker
def test_an_in_place_update_is_seen_by_a_later_step(store_path, tmp_path, docker_client):
    flow = write(tmp_path, "tally.cwl", INPLACE_FLOW)

    out = output_object(cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(flow)))

    assert Path(urlparse(out["seen"]["location"]).path).read_text() == "2\n"
    assert Path(urlparse(out["first"]["location"]).path).read_text() == "2\n"  # in place
    runs = {r["workflow"]: r for r in runs_in(store_path)}
    bumped = task_of(store_path, runs["cwl-bump"]["run_id"])
    assert bumped["state"] == "success"  # its evidence: the staged 1 in, the 2 out, by hash


@pytest.mark.docker
def test_a_docker_output_directory_is_where_the_tool_runs(store_path, tmp_path, docker_client):
    tool = write(tmp_path, "elsewhere.cwl", ELSEWHERE_TOOL)

    out = output_object(cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(tool)))

    assert Path(urlparse(out["where"]["location"]).path).read_text() == "/work\n"


def test_an_invalid_document_exits_non_zero_without_a_run(store_path, tmp_path):
    tool = write(tmp_path, "bad.cwl", "cwlVersion: v1.2\nclass: CommandLineTool\n"
                                      "inputs: {x: {type: Nope}}\noutputs: []\n")

    result = cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(tool))

    assert result.exit_code not in (0, 33)
    assert runs_in(store_path) == []


@pytest.mark.docker
def test_the_runner_script_speaks_the_reference_interface(tmp_path, docker_client):
    tool = write(tmp_path, "count.cwl", WORDS_TOOL)
    (tmp_path / "lines.txt").write_text("a\nb\n")
    job = write(tmp_path, "job.json", json.dumps({"text": {"class": "File",
                                                            "path": "lines.txt"}}))
    script = Path(sys.executable).parent / "wfobj-cwl-runner"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFOBJ_")}

    done = subprocess.run([str(script), f"--outdir={tmp_path / 'out'}", "--quiet", str(tool),
                           str(job)], capture_output=True, text=True, env=env, timeout=300)

    assert done.returncode == 0, done.stderr
    count = json.loads(done.stdout)["count"]
    assert Path(urlparse(count["location"]).path).read_text().split()[0] == "2"


LINKING_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
doc: leave links in the output folder, one to a file made here, one to a file elsewhere
requirements: {ShellCommandRequirement: {}}
arguments:
  - {valueFrom: "mkdir kept && echo made here > kept/made.txt && ln -s kept/made.txt near.txt
      && ln -s /etc/passwd far.txt && ln -s kept linked-dir", shellQuote: false}
inputs: []
outputs:
  near: {type: File, outputBinding: {glob: near.txt}}
  folder: {type: Directory, outputBinding: {glob: linked-dir}}
"""


@pytest.mark.docker
def test_links_inside_the_output_become_copies_and_links_outside_are_dropped(
        store_path, tmp_path, docker_client):
    tool = write(tmp_path, "links.cwl", LINKING_TOOL)

    out = output_object(cwl_run(store_path, "--outdir", str(tmp_path / "o"), str(tool)))

    near = Path(urlparse(out["near"]["location"]).path)
    assert near.read_text() == "made here\n" and not near.is_symlink()
    folder = Path(urlparse(out["folder"]["location"]).path)
    assert (folder / "made.txt").read_text() == "made here\n"
    (run,) = runs_in(store_path)
    listed = CliRunner().invoke(cli, ["--store", str(store_path), "--json", "run", "files",
                                      run["run_id"], "-r"], obj=CliContext())
    paths = {row["path"] for row in json.loads(listed.stdout)}
    assert "o/far.txt" not in paths and "o/near.txt" in paths and "o/linked-dir/made.txt" in paths
