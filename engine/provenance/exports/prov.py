"""W3C PROV-JSON, built with the `prov` library's document model.

Activities: the run and each task attempt. Entities: files (by BLAKE3 hash), directories
(`prov:Collection`s by tree hash, `prov:hadMember` each file inside), the definition,
each image. Agents: the triggering user and the engine (with its version).
"""

from __future__ import annotations

from urllib.parse import quote

from prov.model import PROV, PROV_TYPE, Namespace, ProvDocument

from wfobj.engine.clock import parse_time

from .run_export import Attempt, Content, RunExport

NAMESPACES = {
    "wfobj": "urn:wfobj:ns#",
    "run": "urn:wfobj:run:",
    "evidence": "urn:wfobj:evidence:",
    "blob": "urn:wfobj:blob:",
    "tree": "urn:wfobj:tree:",
    "definition": "urn:wfobj:definition:",
    "image": "urn:wfobj:image:",
    "user": "urn:wfobj:user:",
    "engine": "urn:wfobj:engine:",
    "secret": "urn:wfobj:secret:",  # a secret's value, by its keyed fingerprint, never itself
}
WFOBJ = Namespace("wfobj", NAMESPACES["wfobj"])


def export_prov(run: RunExport) -> bytes:
    return (document(run).serialize(format="json", indent=2) + "\n").encode()


def document(run: RunExport) -> ProvDocument:
    doc = ProvDocument()
    for prefix, uri in NAMESPACES.items():
        doc.add_namespace(prefix, uri)
    for f in run.files().values():
        doc.entity(f"blob:{f.hash}", {PROV_TYPE: WFOBJ["File"], "wfobj:blake3": f.hash,
                                      "wfobj:size": f.size})
    for t in run.trees().values():
        add_collection(doc, run, t)
    for a in {a.image_facts_hash: a for a in run.attempts}.values():
        doc.entity(f"image:{a.image_facts_hash}",
                   {PROV_TYPE: WFOBJ["ContainerImage"], "wfobj:reference": a.image,
                    "wfobj:image_id": a.image_id or ""})
    for name, fingerprint in sorted({(n, f) for a in run.attempts for n, _, f in a.secrets}):
        doc.entity(secret_id(name, fingerprint), {
            PROV_TYPE: WFOBJ["Secret"], "wfobj:name": name, "wfobj:fingerprint": fingerprint})
    add_run(doc, run)
    made_by = producer_index(run)
    for a in run.attempts:
        add_attempt(doc, run, a, made_by)
    return doc


def add_collection(doc: ProvDocument, run: RunExport, tree: Content) -> None:
    """A directory: a collection whose members are the files below it (each once)."""
    doc.collection(entity_id(tree), [(PROV_TYPE, WFOBJ["Directory"]), ("wfobj:tree", tree.hash),
                                     ("wfobj:size", tree.size)])
    for oid in dict.fromkeys(f.hash for f in run.files_in(tree)):
        doc.hadMember(entity_id(tree), f"blob:{oid}")


def entity_id(c: Content) -> str:
    return f"tree:{c.hash}" if c.is_dir else f"blob:{c.hash}"


def time_of(text: str | None):
    return parse_time(text) if text else None


def add_run(doc: ProvDocument, run: RunExport) -> None:
    activity = f"run:{run.run_id}"
    doc.activity(activity, time_of(run.started_at or run.created_at), time_of(run.ended_at),
                 {PROV_TYPE: WFOBJ["Run"], "wfobj:workflow": run.workflow,
                  "wfobj:state": run.state, "wfobj:created_at": run.created_at})
    doc.entity(f"definition:{run.definition_hash}",
               {PROV_TYPE: PROV["Plan"], "wfobj:workflow": run.workflow})
    doc.agent(user_id(run), {PROV_TYPE: PROV["Person"], "wfobj:name": run.triggered_by})
    doc.agent(engine_id(run), {PROV_TYPE: PROV["SoftwareAgent"],
                               "wfobj:version": run.engine_version})
    doc.wasAssociatedWith(activity, user_id(run), f"definition:{run.definition_hash}")
    doc.wasAssociatedWith(activity, engine_id(run))
    if run.parent:  # a sub-workflow's child run: started by its parent run
        doc.wasInformedBy(activity, f"run:{run.parent['run_id']}")
    doc.used(activity, f"definition:{run.definition_hash}")
    for c in run.param_contents:
        doc.used(activity, entity_id(c), other_attributes={"prov:role": f"params.{c.path}"})


def user_id(run: RunExport) -> str:
    return "user:" + quote(run.triggered_by, safe=":")


def engine_id(run: RunExport) -> str:
    return "engine:" + run.engine_version.replace(" ", "-")


def add_attempt(doc: ProvDocument, run: RunExport, a: Attempt,
                made_by: dict[str, list[Attempt]]) -> None:
    activity = f"evidence:{a.evidence_hash}"
    attrs = {PROV_TYPE: WFOBJ["TaskAttempt"], "wfobj:task": a.task, "wfobj:attempt": a.number,
             "wfobj:state": a.state, "wfobj:image": a.image}
    if a.exit_code is not None:
        attrs["wfobj:exit_code"] = a.exit_code
    if a.cached_from:
        attrs["wfobj:cached_from"] = f"evidence:{a.cached_from}"
    doc.activity(activity, time_of(a.started_at), time_of(a.ended_at), attrs)
    doc.wasInformedBy(activity, f"run:{run.run_id}")
    doc.wasAssociatedWith(activity, engine_id(run), f"definition:{run.definition_hash}")
    doc.used(activity, f"image:{a.image_facts_hash}", other_attributes={"prov:role": "image"})
    for c in a.inputs:
        doc.used(activity, entity_id(c), other_attributes={"prov:role": c.path})
    for c in a.outputs:
        doc.wasGeneratedBy(entity_id(c), activity, other_attributes={"prov:role": c.path})
    for upstream in producers(made_by, a):
        doc.wasInformedBy(activity, f"evidence:{upstream}")
    if a.child_run:  # a sub-workflow task: its child run was started by this attempt
        doc.wasInformedBy(f"run:{a.child_run}", activity)
    for name, place, fingerprint in a.secrets:
        doc.used(activity, secret_id(name, fingerprint), other_attributes={"prov:role": place})


def secret_id(name: str, fingerprint: str) -> str:
    """A secret's value as an entity: named by its keyed fingerprint, never the value."""
    return f"secret:{fingerprint}-{name}"


def producer_index(run: RunExport) -> dict[str, list[Attempt]]:
    """Each output hash -> the last attempts that wrote it (made once per export, so
    finding an attempt's producers costs its inputs, not the run's attempts)."""
    made_by: dict[str, list[Attempt]] = {}
    for b in run.last_attempts():
        for oid in dict.fromkeys(f.hash for f in b.outputs):
            made_by.setdefault(oid, []).append(b)
    return made_by


def producers(made_by: dict[str, list[Attempt]], a: Attempt) -> list[str]:
    """Evidence hashes of the last attempts whose outputs this attempt read (or read
    something inside)."""
    inputs = {c.hash for c in a.inputs} | {c.within.tree for c in a.inputs if c.within}
    return sorted({b.evidence_hash for oid in inputs for b in made_by.get(oid, ())
                   if b is not a})
