"""Registered CWL documents run by the engine itself (docs/cwl.md "Registering a CWL
document"): one wfobj run per CWL workflow, each CommandLineTool step an attempt built by
the `cwl` task kind on real Docker and a real LMDB store, an ExpressionTool step evaluated
in the engine. The documents are written here, in the project's own words."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.support_cwl import blob_text, cwl_output, run_to_end
from tests.support_engine import service
from wfobj.engine.errors import DefinitionError
from wfobj.engine.upkeep.gc import collect_garbage
from wfobj.objstore import MemoryObjectStore, put_directory, read_tree

pytestmark = pytest.mark.docker
IMAGE = "wfobj/toolbox:local"

FIRST_LINES = f"""\
cwlVersion: v1.2
class: CommandLineTool
doc: the first lines of a text
requirements:
  DockerRequirement: {{dockerPull: "{IMAGE}"}}
  ResourceRequirement: {{coresMin: 1, ramMin: 64}}
  ToolTimeLimit: {{timelimit: 30}}
baseCommand: head
arguments: [-n, $(inputs.lines)]
inputs:
  text: {{type: File, inputBinding: {{position: 1}}}}
  lines: {{type: int, default: 2}}
stdout: first.txt
outputs:
  first: {{type: stdout}}
"""

ALBUM = """\
cwlVersion: v1.2
class: Workflow
doc: copy a folder of photos, count them, and label the copy
requirements:
  InlineJavascriptRequirement: {}
  StepInputExpressionRequirement: {}
inputs:
  photos: Directory
  caption: string
outputs:
  copy: {type: Directory, outputSource: index/album}
  labelled: {type: File, outputSource: label/label}
steps:
  index:
    run:
      class: CommandLineTool
      requirements: {ShellCommandRequirement: {}}
      inputs:
        src: Directory
      arguments:
        - {valueFrom: "cp -R", shellQuote: false}
        - $(inputs.src.path)
        - album
        - {valueFrom: "&& ls album > listing.txt", shellQuote: false}
      outputs:
        album: {type: Directory, outputBinding: {glob: album}}
        listing: {type: File, outputBinding: {glob: listing.txt}}
    in: {src: photos}
    out: [album, listing]
  title:
    run:
      class: ExpressionTool
      inputs:
        caption: string
      outputs:
        title: string
      expression: "${return {title: inputs.caption.toUpperCase()};}"
    in: {caption: caption}
    out: [title]
  label:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'echo "$0: `ls $1 | wc -l` photos" > label.txt']
      inputs:
        title: {type: string, inputBinding: {position: 1}}
        album: {type: Directory, inputBinding: {position: 2}}
      outputs:
        label: {type: File, outputBinding: {glob: label.txt}}
    in:
      album: index/album
      title: {source: title/title, valueFrom: "$(self + '!')"}
    out: [label]
"""


SCATTERS = """\
cwlVersion: v1.2
class: Workflow
doc: shout each word, measure each shout, add the sizes; count the lines of each text
requirements: {ScatterFeatureRequirement: {}, InlineJavascriptRequirement: {}}
inputs:
  words: string[]
  texts: File[]
  sentence: string
outputs:
  total: {type: File, outputSource: add/total}
steps:
  shout:
    scatter: word
    in: {word: words}
    out: [loud]
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'echo "$0" | tr a-z A-Z']
      inputs: {word: {type: string, inputBinding: {position: 1}}}
      stdout: loud.txt
      outputs: {loud: stdout}
  measure:
    scatter: f
    in: {f: shout/loud}
    out: [size]
    run:
      class: CommandLineTool
      baseCommand: [wc, -c]
      inputs: {f: {type: File, inputBinding: {position: 1}}}
      stdout: size.txt
      outputs: {size: stdout}
  add:
    in: {sizes: measure/size}
    out: [total]
    run:
      class: CommandLineTool
      baseCommand: [cat]
      inputs: {sizes: {type: "File[]", inputBinding: {position: 1}}}
      stdout: total.txt
      outputs: {total: stdout}
  lines:
    scatter: t
    in: {t: texts}
    out: [count]
    run:
      class: CommandLineTool
      baseCommand: [wc, -l]
      inputs: {t: {type: File, inputBinding: {position: 1}}}
      stdout: count.txt
      outputs: {count: stdout}
  split:
    in: {sentence: sentence}
    out: [parts]
    run:
      class: ExpressionTool
      inputs: {sentence: string}
      outputs: {parts: "string[]"}
      expression: "${return {parts: inputs.sentence.split(' ')};}"
  echo:
    scatter: part
    in: {part: split/parts}
    out: [said]
    run:
      class: ExpressionTool
      inputs: {part: string}
      outputs: {said: string}
      expression: "${return {said: '<' + inputs.part + '>'};}"
"""


BRANCHES = """\
cwlVersion: v1.2
class: Workflow
doc: say big or small, whichever the number is, then report what was said
requirements: {InlineJavascriptRequirement: {}, MultipleInputFeatureRequirement: {}}
inputs:
  n: int
outputs:
  report: {type: File, outputSource: report/out}
steps:
  big:
    when: $(inputs.n > 10)
    in: {n: n}
    out: [said]
    run:
      class: CommandLineTool
      baseCommand: [echo, big]
      inputs: {n: int}
      stdout: said.txt
      outputs: {said: stdout}
  small:
    when: $(inputs.n <= 10)
    in: {n: n}
    out: [said]
    run:
      class: CommandLineTool
      baseCommand: [echo, small]
      inputs: {n: int}
      stdout: said.txt
      outputs: {said: stdout}
  report:
    in:
      said: {source: [big/said, small/said], pickValue: first_non_null}
    out: [out]
    run:
      class: CommandLineTool
      baseCommand: [cat]
      inputs: {said: {type: File, inputBinding: {position: 1}}}
      stdout: out.txt
      outputs: {out: stdout}
"""


NESTED = """\
cwlVersion: v1.2
class: Workflow
doc: measure a text in a subworkflow, then report the measure
requirements: {SubworkflowFeatureRequirement: {}}
inputs:
  text: File
  unit: {type: string, default: bytes}
outputs:
  report: {type: File, outputSource: report/out}
steps:
  measure:
    in: {text: text, unit: unit}
    out: [size]
    run:
      class: Workflow
      inputs: {text: File, unit: string}
      outputs: {size: {type: File, outputSource: count/out}}
      steps:
        count:
          in: {f: text, unit: unit}
          out: [out]
          run:
            class: CommandLineTool
            baseCommand: [sh, -c, 'echo "`wc -c < $0` $1"']
            inputs:
              f: {type: File, inputBinding: {position: 1}}
              unit: {type: string, inputBinding: {position: 2}}
            stdout: size.txt
            outputs: {out: stdout}
  report:
    in: {size: measure/size}
    out: [out]
    run:
      class: CommandLineTool
      baseCommand: [sed, s/^/size:/]
      inputs: {size: {type: File, inputBinding: {position: 1}}}
      stdout: report.txt
      outputs: {out: stdout}
"""


def test_a_tool_registers_with_its_requirements_as_native_keys(lmdb_store, docker_client):
    svc = service(lmdb_store)
    reg, created = svc.apply_workflow("first-lines", FIRST_LINES, user="alice",
                                      content_type="application/yaml")
    assert created
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert {n: p.to_value() for n, p in stored.params.items()} == {
        "text": {"type": "file"}, "lines": {"type": "int", "default": 2}}
    tool = stored.tasks["tool"]
    assert (tool.image, tool.timeout, tool.resources.cpus, tool.resources.memory) == (
        IMAGE, 30, "1", "64m")
    assert tool.cwl == {"document": tool.cwl["document"], "reads": []}
    assert stored.source == {"language": "cwl", "document": tool.cwl["document"],
                             "version": "v1.2", "process": "#main"}
    document = json.loads(b"".join(lmdb_store.iter_blob(tool.cwl["document"])))
    assert document["$graph"][0]["id"] == "#main"  # packed, ids without a file name
    again, created = svc.apply_workflow("first-lines", FIRST_LINES, user="alice",
                                        content_type="application/yaml")
    assert not created and again["definition_hash"] == reg["definition_hash"]


def test_a_tool_runs_as_one_attempt_with_its_cwl_output_object(lmdb_store, docker_client):
    svc = service(lmdb_store)
    svc.apply_workflow("first-lines", FIRST_LINES, user="alice",
                       content_type="application/yaml")
    text = lmdb_store.put_blob(b"one\ntwo\nthree\n")
    run_id = run_to_end(lmdb_store, svc, "first-lines", text=text, lines=2)
    [task] = svc.run_tasks(run_id)
    assert task["state"] == "success", task
    assert task["image"] == IMAGE and task["command"] == ["sh", "/in/stage/.wfobj/run.sh"]
    assert task["limits"]["memory"] == 64 << 20 and task["limits"]["cpus"] == 1.0
    [stage] = task["inputs"]
    assert stage["path"] == "/in/stage" and stage["kind"] == "dir"
    out = cwl_output(task)["first"]
    assert out["class"] == "File" and out["basename"] == "first.txt" and out["size"] == 8
    assert blob_text(lmdb_store, out["location"]) == "one\ntwo\n"
    # the same inputs give the same staged tree: the second run is a cache hit
    second = run_to_end(lmdb_store, svc, "first-lines", text=text, lines=2)
    [hit] = svc.run_tasks(second)
    assert hit["cached_from"] == task["evidence_hash"]
    assert hit["vars"]["cwl"] == task["vars"]["cwl"]


def test_a_workflow_is_one_run_with_a_directory_in_and_out(lmdb_store, docker_client, tmp_path):
    svc = service(lmdb_store)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (photos / name).write_bytes(name.encode())
    tree = put_directory(lmdb_store, photos).oid
    svc.apply_workflow("album", ALBUM, user="alice", content_type="application/yaml")
    run_id = run_to_end(lmdb_store, svc, "album", photos=tree, caption="holidays")
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert {n: (t["state"], t.get("error")) for n, t in tasks.items()} == {
        "index": ("success", None), "title": ("success", None), "label": ("success", None),
        "cwl-outputs": ("success", None)}
    album = cwl_output(tasks["index"])["album"]
    assert album["class"] == "Directory" and album["basename"] == "album"
    assert [e.name for e in read_tree(lmdb_store, album["location"][6:]).entries] == [
        "a.jpg", "b.jpg"]
    assert read_tree(lmdb_store, album["location"][6:]).entries == read_tree(
        lmdb_store, tree).entries  # the same files, by hash
    assert tasks["title"]["executor"] == {"kind": "engine"}
    assert cwl_output(tasks["title"]) == {"title": "HOLIDAYS"}
    label = cwl_output(tasks["label"])["label"]
    assert blob_text(lmdb_store, label["location"]) == "HOLIDAYS!: 2 photos\n"
    # the workflow's own output object, gathered in the engine after its steps
    assert tasks["cwl-outputs"]["executor"] == {"kind": "engine"}
    assert cwl_output(tasks["cwl-outputs"]) == {"copy": album, "labelled": label}


def test_a_tool_exiting_non_zero_fails_its_task_with_the_reason(lmdb_store, docker_client):
    svc = service(lmdb_store)
    failing = FIRST_LINES.replace("baseCommand: head", "baseCommand: [sh, -c, 'exit 3']")
    svc.apply_workflow("fails", failing, user="alice", content_type="application/yaml")
    run_id = run_to_end(lmdb_store, svc, "fails", text=lmdb_store.put_blob(b"x\n"))
    [task] = svc.run_tasks(run_id)
    assert task["state"] == "failed"
    assert task["exit_code"] == 3 and "successCodes" in task["error"]


@pytest.mark.parametrize(("change", "place", "words"), [
    (lambda d: d.update({"$import": "other.yml"}), "$import", "self-contained"),
    (lambda d: d["steps"]["index"].update({"run": "index.cwl"}), "steps.index.run",
     "names another file"),
    (lambda d: d["inputs"].update({"extra": ["File", "string"]}), "inputs.extra",
     "a union of types holding a File"),
    (lambda d: d["inputs"].update({"rec": {"type": {"type": "record", "fields": [{"name": "a", "type": "File"}]}}}),
     "inputs.rec", "has no param type"),
    (lambda d: d.update({"class": "Operation"}), "", "not a valid CWL"),
])
def test_what_cannot_be_mapped_is_refused_naming_the_place(change, place, words):
    svc = service(MemoryObjectStore())
    document = yaml.safe_load(ALBUM)
    change(document)
    with pytest.raises(DefinitionError) as caught:
        svc.apply_workflow("album", document, user="alice")
    assert words in str(caught.value) and "wfobj-cwl-doc" not in str(caught.value)
    assert place in str(caught.value)
    assert svc.list_workflows() == []


def test_the_document_is_pinned_and_kept_by_gc(lmdb_store):
    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("first-lines", FIRST_LINES, user="alice",
                                content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    document = stored.tasks["tool"].cwl["document"]
    later = time.time() + 7200  # past the grace period of everything written here
    unpinned = lmdb_store.put_blob(b"no definition names me")
    collect_garbage(lmdb_store, grace=600, now=later)
    assert unpinned not in lmdb_store and document in lmdb_store


def test_scatter_maps_onto_fanout_paired_gathered_and_over_files(lmdb_store, docker_client,
                                                                  tmp_path):
    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("scatters", SCATTERS, user="alice",
                                content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    fanouts = {n: t.for_each.to_value() for n, t in stored.tasks.items() if t.for_each}
    assert fanouts == {"shout": {"param": "words"}, "measure": {"param": "words"},
                       "lines": {"param": "texts"},
                       "echo": {"task": "split", "var": "cwl_items_parts"}}
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("1\n2\n")
    (texts / "b.txt").write_text("1\n")
    run_id = run_to_end(lmdb_store, svc, "scatters", words=["ab", "cde"], sentence="x y z",
                        texts=put_directory(lmdb_store, texts).oid)
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert {n: t["state"] for n, t in tasks.items()} == dict.fromkeys(
        ["shout", "measure", "add", "lines", "split", "echo", "shout[0]", "shout[1]",
         "measure[0]", "measure[1]", "lines[a.txt]", "lines[b.txt]", "echo[0]", "echo[1]",
         "echo[2]", "cwl-outputs"], "success"), {n: t.get("error") for n, t in tasks.items()}
    loud = cwl_output(tasks["shout[1]"])["loud"]
    assert blob_text(lmdb_store, loud["location"]) == "CDE\n"
    total = cwl_output(tasks["add"])["total"]
    assert [line.split()[0] for line in blob_text(lmdb_store, total["location"]).splitlines()] \
        == ["3", "4"]
    assert blob_text(lmdb_store, cwl_output(tasks["lines[a.txt]"])["count"]["location"]
                     ).split()[0] == "2"
    assert [cwl_output(tasks[f"echo[{i}]"])["said"] for i in range(3)] == ["<x>", "<y>", "<z>"]
    assert cwl_output(tasks["cwl-outputs"]) == {"total": total}


def test_a_scatter_over_no_items_gives_empty_arrays(lmdb_store, docker_client, tmp_path):
    svc = service(lmdb_store)
    svc.apply_workflow("scatters", SCATTERS, user="alice", content_type="application/yaml")
    (tmp_path / "none").mkdir()
    run_id = run_to_end(lmdb_store, svc, "scatters", words=[], sentence="x",
                        texts=put_directory(lmdb_store, tmp_path / "none").oid)
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert tasks["add"]["state"] == "success", tasks["add"]
    assert blob_text(lmdb_store, cwl_output(tasks["add"])["total"]["location"]) == ""


def test_a_crossproduct_over_a_scattered_step_reads_its_instances_whole():
    document = yaml.safe_load(SCATTERS)
    measure = document["steps"]["measure"]
    measure["in"]["g"] = "texts"
    measure["run"]["inputs"]["g"] = "File"
    measure.update(scatter=["f", "g"], scatterMethod="flat_crossproduct")
    svc = service(MemoryObjectStore())
    reg, _ = svc.apply_workflow("cross", document, user="alice")
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert stored.tasks["measure"].for_each.to_value() == {"task": "cwl-cross-measure",
                                                           "var": "cwl_items_positions"}
    assert stored.tasks["cwl-cross-measure"].cwl["reads"] == ["shout"]  # its instances, whole


@pytest.mark.parametrize(("n", "ran", "said"), [(3, "small", "small"), (30, "big", "big")])
def test_when_is_a_condition_skip_and_readers_see_null(lmdb_store, docker_client, n, ran, said):
    svc = service(lmdb_store)
    svc.apply_workflow("branches", BRANCHES, user="alice", content_type="application/yaml")
    run_id = run_to_end(lmdb_store, svc, "branches", n=n)
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    skipped = "big" if ran == "small" else "small"
    assert {name: t["state"] for name, t in tasks.items()} == {
        ran: "success", skipped: "skipped", "report": "success", "cwl-outputs": "success"}
    assert tasks[skipped]["skip"] == "condition"
    events = [e for e in svc.run_audit(run_id) if e["task"] == skipped and e["to"] == "skipped"]
    assert [e["skip"] for e in events] == ["condition"]
    assert events[0]["reason"].startswith("skipped: CWL when false: $(inputs.n")
    out = cwl_output(tasks["report"])["out"]
    assert blob_text(lmdb_store, out["location"]) == f"{said}\n"
    assert svc.get_run(run_id)["state"] == "success"


def test_a_subworkflow_is_a_child_run_pinned_by_the_parent(lmdb_store, docker_client):
    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("nested", NESTED, user="alice", content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    measure = stored.tasks["measure"]
    assert measure.workflow["name"] == "cwl-measure"
    assert measure.params == {"text": "{{params.text}}", "unit": "{{params.unit}}"}
    _, child = svc.registry.definition(measure.workflow["hash"])
    assert child.tasks["count"].cwl["process"] == "main/measure"
    assert svc.list_workflows() == [svc.list_workflows()[0]]  # the child has no name of its own
    run_id = run_to_end(lmdb_store, svc, "nested", text=lmdb_store.put_blob(b"12345\n"))
    tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
    assert {n: t["state"] for n, t in tasks.items()} == {
        "measure": "success", "report": "success", "cwl-outputs": "success"}, tasks
    child_run = tasks["measure"]["child"]["run_id"]
    assert svc.get_run(child_run)["parent"] == {"run_id": run_id, "task": "measure"}
    count, outputs = svc.run_tasks(child_run)
    assert blob_text(lmdb_store, cwl_output(count)["out"]["location"]) == "6 bytes\n"
    assert cwl_output(outputs) == {"size": cwl_output(count)["out"]}
    out = cwl_output(tasks["report"])["out"]
    assert blob_text(lmdb_store, out["location"]) == "size:6 bytes\n"


def test_a_cwl_task_written_by_hand_is_checked_at_registration(lmdb_store):
    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("album", ALBUM, user="alice", content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    native = stored.as_json()
    del native["name"]
    svc.apply_workflow("by-hand", native, user="alice")  # the same tasks, written natively
    missing = json.loads(json.dumps(native))
    missing["tasks"]["index"]["cwl"]["document"] = "0" * 64
    with pytest.raises(DefinitionError, match=r"tasks.index.cwl.document: 0{64} is not a blob"):
        svc.apply_workflow("by-hand", missing, user="alice")
    wrong = json.loads(json.dumps(native))
    wrong["tasks"]["index"]["cwl"]["step"] = "main/nope"
    with pytest.raises(DefinitionError, match="tasks.index.cwl.step: the document has no step"):
        svc.apply_workflow("by-hand", wrong, user="alice")
    reads = json.loads(json.dumps(native))
    reads["tasks"]["label"]["cwl"]["reads"] = ["nope"]
    with pytest.raises(DefinitionError, match=r"tasks.label.cwl.reads\[0\]"):
        svc.apply_workflow("by-hand", reads, user="alice")
