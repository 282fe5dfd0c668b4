"""in-toto/SLSA: a DSSE envelope over an in-toto Statement v1 whose predicate is SLSA
Provenance v1, signed with the server's ed25519 key (engine/provenance/exports/signing.py).

Subjects are every file the run produced, each with its `sha256` (for tools that know
only that) and `blake3` (the store's own name for it) digests.
"""

from __future__ import annotations

import json

from wfobj.engine.errors import RunNotEnded
from wfobj.objstore import ObjectStore

from .run_export import Attempt, RunExport, sha256_of_blob
from .signing import ServerKey, sign_envelope

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:wfobj:buildtype:run:v1"
BUILDER_ID = "urn:wfobj:engine"


def export_intoto(store: ObjectStore, run: RunExport, key: ServerKey) -> bytes:
    """The signed envelope, as JSON bytes. Only for an ended run (RunNotEnded)."""
    if not run.terminal:
        raise RunNotEnded(run.run_id, run.state)
    payload = json.dumps(statement(store, run), sort_keys=True,
                         separators=(",", ":")).encode()
    return json.dumps(sign_envelope(key, PAYLOAD_TYPE, payload), indent=2).encode() + b"\n"


def statement(store: ObjectStore, run: RunExport) -> dict:
    return {"_type": STATEMENT_TYPE, "subject": subjects(store, run),
            "predicateType": PREDICATE_TYPE, "predicate": provenance(store, run)}


def subjects(store: ObjectStore, run: RunExport) -> list[dict]:
    """One subject per output, named `<task>/<path>`."""
    return [{"name": f"{a.task}/{f.path}",
             "digest": {"sha256": sha256_of_blob(store, f.hash), "blake3": f.hash}}
            for a, f in run.outputs()]


def provenance(store: ObjectStore, run: RunExport) -> dict:
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"workflow": run.workflow,
                                   "definition_hash": run.definition_hash,
                                   "parameters": run.parameters},
            "internalParameters": {"cache": run.cache},
            "resolvedDependencies": dependencies(store, run),
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": {"wfobj": run.engine_version}},
            "metadata": {"invocationId": run.run_id, "startedOn": run.started_at or run.created_at,
                         "finishedOn": run.ended_at},
            "byproducts": [byproduct for a in run.attempts for byproduct in byproducts(a)]
            + ([{"name": "run_manifest", "digest": {"blake3": run.manifest_hash}}]
               if run.manifest_hash else []),
        },
    }


def dependencies(store: ObjectStore, run: RunExport) -> list[dict]:
    """The definition and every parameter file, by hash."""
    deps = [{"name": "definition", "uri": f"urn:wfobj:definition:{run.definition_hash}",
             "digest": {"blake3": run.definition_hash}}]
    deps += [{"name": f"params.{f.path}", "uri": f"urn:wfobj:blob:{f.hash}",
              "digest": {"blake3": f.hash, "sha256": sha256_of_blob(store, f.hash)}}
             for f in run.param_files]
    return deps


def byproducts(a: Attempt) -> list[dict]:
    """An attempt's evidence hash and the image it ran (by image id when known)."""
    name = f"{a.task}#{a.number}"
    evidence = {"name": f"{name} evidence", "uri": f"urn:wfobj:evidence:{a.evidence_hash}",
                "digest": {"blake3": a.evidence_hash},
                "annotations": {"state": a.state, "cached_from": a.cached_from}}
    image = {"name": f"{name} image", "uri": f"docker-image:{a.image}",
             "digest": image_digest(a), "annotations": {"image_facts": a.image_facts_hash}}
    return [evidence, image]


def image_digest(a: Attempt) -> dict:
    algorithm, _, value = (a.image_id or "").partition(":")
    return {algorithm: value} if value else {"blake3": a.image_facts_hash}
