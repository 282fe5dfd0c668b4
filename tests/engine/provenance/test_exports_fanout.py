"""A fan-out run's provenance exports: the RO-Crate of a run with instances TASK[KEY]
passes the RO-Crate validator (Provenance Run Crate profile), its instance entities have
ids that are valid IRI references (the brackets of TASK[KEY] percent-encoded), and PROV
names every instance's activity."""

from __future__ import annotations

import io
import json
import zipfile

from prov.model import ProvDocument

from tests.support_engine import run_with, task, trigger
from tests.support_exports import rocrate_validation
from wfobj.engine.provenance.exports import KeyFile
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore

FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": task("echo {{item}}", for_each={"param": "n"}, outputs={"files": ["o"]}),
                 "all": task("cat", inputs={"os": {"task": "each", "file": "o"}},
                             outputs={"files": ["all"]})}}


def test_a_fan_out_run_exports_a_valid_crate_and_prov(tmp_path):
    store = MemoryObjectStore()
    svc = WorkflowService(store, keys=KeyFile(tmp_path / "keys"))
    run_id = trigger(svc, FAN, n=["a", "b", "c"])
    assert run_with(store, run_id)[0] == "success"
    crate = svc.export_run(run_id, "ro-crate", files="none").content
    path = tmp_path / "fan.crate.zip"
    path.write_bytes(crate)
    assert rocrate_validation(path) == []
    with zipfile.ZipFile(io.BytesIO(crate)) as z:
        graph = json.loads(z.read("ro-crate-metadata.json"))["@graph"]
    ids = [e["@id"] for e in graph]
    assert not [i for i in ids if "[" in i or "]" in i]
    names = {e.get("name") for e in graph}
    assert {"each[0] attempt 1", "each[1] attempt 1", "each[2] attempt 1"} <= names
    doc = ProvDocument.deserialize(content=svc.export_run(run_id, "prov").content.decode(),
                                   format="json")
    assert all(f"each[{i}]" in doc.get_provn() for i in range(3))
