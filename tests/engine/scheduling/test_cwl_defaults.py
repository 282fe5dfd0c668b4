"""File and Directory defaults of a registered CWL document (docs/cwl.md "Registering a
CWL document"): one in the store (`location: wfobj:HASH`) is the param's native default,
pinned by the definition (gc keeps it) and seen by the tool under the document's
basename; a literal (`contents`) stands in when the input is left out; one naming a file
the server cannot read is refused naming the place; a `File[]` default of literals stands
in too, one naming a file is refused. Real Docker, real LMDB."""

from __future__ import annotations

import json
import time

import pytest

from tests.support_cwl import told
from tests.support_engine import claim, service
from wfobj.engine.errors import DefinitionError
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.engine.upkeep.gc import collect_garbage

pytestmark = pytest.mark.docker


def tool(reference: str) -> str:
    return f"""\
cwlVersion: v1.2
class: CommandLineTool
doc: name and first line of a reference and of a note
baseCommand: [sh, -c, 'echo "$0 `head -n1 $1` $2 `cat $3`"']
inputs:
  ref:
    type: File
    default: {{class: File, location: "{reference}", basename: genome.fa}}
    inputBinding: {{position: 2}}
  note:
    type: File
    default: {{class: File, basename: note.txt, contents: "from the document"}}
    inputBinding: {{position: 4}}
arguments:
  - {{position: 1, valueFrom: $(inputs.ref.basename)}}
  - {{position: 3, valueFrom: $(inputs.note.basename)}}
stdout: told.txt
outputs:
  told: stdout
"""


def test_file_defaults_from_the_store_and_literal(lmdb_store, docker_client):
    svc = service(lmdb_store)
    genome = lmdb_store.put_blob(b">chr1\nACGT\n")
    reg, _ = svc.apply_workflow("ref", tool(f"wfobj:{genome}"), user="alice",
                                content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert stored.params["ref"].to_value() == {"type": "file", "default": genome}
    assert stored.params["note"].to_value() == {"type": "file", "optional": True}
    unpinned = lmdb_store.put_blob(b"no definition names me")
    collect_garbage(lmdb_store, grace=600, now=time.time() + 7200)
    assert genome in lmdb_store and unpinned not in lmdb_store  # pinned by the definition
    assert told(lmdb_store, svc, "ref") == "genome.fa >chr1 note.txt from the document"
    other = lmdb_store.put_blob(b">chrX\nTT\n")
    note = lmdb_store.put_blob(b"given\n")
    assert told(lmdb_store, svc, "ref", ref={"hash": other, "name": "x.fa"}, note=note) == (
        "x.fa >chrX note given")


def test_a_default_naming_a_file_outside_the_store_is_refused(lmdb_store):
    with pytest.raises(DefinitionError) as err:
        service(lmdb_store).apply_workflow("ref", tool("genome.fa"), user="alice",
                                           content_type="application/yaml")
    assert err.value.place == "inputs.ref.default" and "wfobj:HASH" in str(err.value)
    with pytest.raises(DefinitionError) as err:
        service(lmdb_store).apply_workflow("ref", tool("wfobj:abc"), user="alice",
                                           content_type="application/yaml")
    assert err.value.place == "inputs.ref.default.location"


NOTES = """\
cwlVersion: v1.2
class: Workflow
doc: the first line of each note
requirements: {ScatterFeatureRequirement: {}}
inputs:
  notes:
    type: File[]
    default:
      - {class: File, basename: one.txt, contents: "first note"}
      - {class: File, basename: two.txt, contents: "second note"}
outputs:
  heads: {type: "File[]", outputSource: head/out}
steps:
  head:
    in: {note: notes}
    scatter: note
    out: [out]
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'echo "$0: `head -n1 $1`"']
      inputs: {note: {type: File, inputBinding: {position: 2}}}
      arguments: [{position: 1, valueFrom: $(inputs.note.basename)}]
      stdout: out.txt
      outputs: {out: stdout}
"""


def test_a_file_array_default_of_literals_stands_in_and_a_given_folder_wins(
        lmdb_store, docker_client, tmp_path):
    from wfobj.objstore import put_directory

    svc = service(lmdb_store)
    reg, _ = svc.apply_workflow("notes", NOTES, user="alice", content_type="application/yaml")
    _, stored = svc.registry.definition(reg["definition_hash"])
    assert stored.params["notes"].to_value() == {"type": "dir", "optional": True}

    def heads(**params) -> list[str]:
        run_id = svc.trigger(name="notes", parameters=params, user="alice")["run_id"]
        claim(lmdb_store, run_id)
        RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
        tasks = {t["task"]: t for t in svc.run_tasks(run_id)}
        assert svc.get_run(run_id)["state"] == "success", tasks
        return [b"".join(lmdb_store.iter_blob(f["location"][len("wfobj:"):])).decode()
                for f in json.loads(tasks["cwl-outputs"]["vars"]["cwl"])["heads"]]

    assert heads() == ["one.txt: first note\n", "two.txt: second note\n"]
    (tmp_path / "z.txt").write_text("given\n")
    assert heads(notes=put_directory(lmdb_store, tmp_path).oid) == ["z.txt: given\n"]


def test_a_file_array_default_naming_a_file_is_refused(lmdb_store):
    document = NOTES.replace('contents: "second note"', 'location: "wfobj:' + "0" * 64 + '"')
    with pytest.raises(DefinitionError) as err:
        service(lmdb_store).apply_workflow("notes", document, user="alice",
                                           content_type="application/yaml")
    assert err.value.place == "inputs.notes.default[1]"
    assert "each File is a literal" in str(err.value)
