"""W3C PROV-JSON, built with the `prov` library's document model.

Activities: the run and each task attempt. Entities: files (by BLAKE3 hash), the
definition, each image. Agents: the triggering user and the engine (with its version).
"""

from __future__ import annotations

from urllib.parse import quote

from prov.model import PROV, PROV_TYPE, Namespace, ProvDocument

from wfobj.engine.clock import parse_time

from .run_export import Attempt, RunExport

NAMESPACES = {
    "wfobj": "urn:wfobj:ns#",
    "run": "urn:wfobj:run:",
    "evidence": "urn:wfobj:evidence:",
    "blob": "urn:wfobj:blob:",
    "definition": "urn:wfobj:definition:",
    "image": "urn:wfobj:image:",
    "user": "urn:wfobj:user:",
    "engine": "urn:wfobj:engine:",
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
    for a in {a.image_facts_hash: a for a in run.attempts}.values():
        doc.entity(f"image:{a.image_facts_hash}",
                   {PROV_TYPE: WFOBJ["ContainerImage"], "wfobj:reference": a.image,
                    "wfobj:image_id": a.image_id or ""})
    add_run(doc, run)
    for a in run.attempts:
        add_attempt(doc, run, a)
    return doc


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
    doc.used(activity, f"definition:{run.definition_hash}")
    for f in run.param_files:
        doc.used(activity, f"blob:{f.hash}", other_attributes={"prov:role": f"params.{f.path}"})


def user_id(run: RunExport) -> str:
    return "user:" + quote(run.triggered_by, safe=":")


def engine_id(run: RunExport) -> str:
    return "engine:" + run.engine_version.replace(" ", "-")


def add_attempt(doc: ProvDocument, run: RunExport, a: Attempt) -> None:
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
    for f in a.inputs:
        doc.used(activity, f"blob:{f.hash}", other_attributes={"prov:role": f.path})
    for f in a.outputs:
        doc.wasGeneratedBy(f"blob:{f.hash}", activity, other_attributes={"prov:role": f.path})
    for upstream in producers(run, a):
        doc.wasInformedBy(activity, f"evidence:{upstream}")


def producers(run: RunExport, a: Attempt) -> list[str]:
    """Evidence hashes of the last attempts whose outputs this attempt read."""
    inputs = {f.hash for f in a.inputs}
    return sorted({b.evidence_hash for b in run.last_attempts()
                   if b is not a and inputs & {f.hash for f in b.outputs}})
