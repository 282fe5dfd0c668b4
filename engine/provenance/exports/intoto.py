"""in-toto/SLSA: a DSSE envelope over an in-toto Statement v1 whose predicate is SLSA
Provenance v1, signed with the server's ed25519 key (engine/provenance/exports/signing.py).

Subjects are every file the run produced, each with its `sha256` (for tools that know
only that) and `blake3` (the store's own name for it) digests; an output directory gives
a subject per file inside it, named by its path below the directory and annotated with
the directory's tree hash.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from wfobj.engine.errors import RunNotEnded
from wfobj.objstore import ObjectStore

from .run_export import Attempt, Content, RunExport, sha256_of_blob
from .signing import ServerKey, sign_envelope

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:wfobj:buildtype:run:v1"
BUILDER_ID = "urn:wfobj:engine"
Sha256 = Callable[[str], str]  # a blob's SHA-256 (hex) by its hash


def export_intoto(store: ObjectStore, run: RunExport, key: ServerKey) -> bytes:
    """The signed envelope, as JSON bytes. Only for an ended run (RunNotEnded)."""
    if not run.terminal:
        raise RunNotEnded(run.run_id, run.state)
    payload = json.dumps(statement(store, run), sort_keys=True,
                         separators=(",", ":")).encode()
    return json.dumps(sign_envelope(key, PAYLOAD_TYPE, payload), indent=2).encode() + b"\n"


def statement(store: ObjectStore, run: RunExport) -> dict:
    # each file's bytes read once, however many paths and directories hold it
    sha256 = functools.cache(lambda oid: sha256_of_blob(store, oid))
    return {"_type": STATEMENT_TYPE, "subject": subjects(sha256, run),
            "predicateType": PREDICATE_TYPE, "predicate": provenance(sha256, run)}


def subjects(sha256: Sha256, run: RunExport) -> list[dict]:
    """One subject per output file, named `<task>/<path>`; a directory's files named
    `<task>/<directory>/<path inside>`."""
    return [file_descriptor(sha256, f"{a.task}/{f.path}", f)
            for a, c in run.outputs() for f in run.files_in(c)]


def file_descriptor(sha256: Sha256, name: str, f: Content) -> dict:
    """A file by its digests; one found inside a directory names that directory's tree."""
    found = {"name": name, "digest": {"sha256": sha256(f.hash), "blake3": f.hash}}
    if f.tree:
        found["annotations"] = {"tree": f.tree}
    return found


def provenance(sha256: Sha256, run: RunExport) -> dict:
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"workflow": run.workflow,
                                   "definition_hash": run.definition_hash,
                                   "parameters": run.parameters},
            "internalParameters": {"cache": run.cache},
            "resolvedDependencies": dependencies(sha256, run),
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


def dependencies(sha256: Sha256, run: RunExport) -> list[dict]:
    """The definition and every parameter file, by hash; a `dir` parameter is its tree
    (by its hash) followed by each file inside it."""
    deps = [{"name": "definition", "uri": f"urn:wfobj:definition:{run.definition_hash}",
             "digest": {"blake3": run.definition_hash}}]
    for c in run.param_contents:
        if c.is_dir:
            deps.append({"name": f"params.{c.path}", "uri": f"urn:wfobj:tree:{c.hash}",
                         "digest": {"blake3": c.hash}})
        deps += [{**file_descriptor(sha256, f"params.{f.path}", f),
                  "uri": f"urn:wfobj:blob:{f.hash}"} for f in run.files_in(c)]
    return deps


def byproducts(a: Attempt) -> list[dict]:
    """An attempt's evidence hash and the image it ran (by image id when known)."""
    name = f"{a.task}#{a.number}"
    evidence = {"name": f"{name} evidence", "uri": f"urn:wfobj:evidence:{a.evidence_hash}",
                "digest": {"blake3": a.evidence_hash},
                "annotations": {"state": a.state, "cached_from": a.cached_from}}
    if a.secrets:  # which secret values it used, by keyed fingerprint (docs/secrets.md)
        evidence["annotations"]["secrets"] = [
            {"name": n, "place": p, "fingerprint": f} for n, p, f in a.secrets]
    image = {"name": f"{name} image", "uri": f"docker-image:{a.image}",
             "digest": image_digest(a), "annotations": {"image_facts": a.image_facts_hash}}
    return [evidence, image]


def image_digest(a: Attempt) -> dict:
    algorithm, _, value = (a.image_id or "").partition(":")
    return {algorithm: value} if value else {"blake3": a.image_facts_hash}
