"""in-toto/SLSA: a DSSE envelope over an in-toto Statement v1 whose predicate is SLSA
Provenance v1, signed with the server's ed25519 key (engine/provenance/exports/signing.py).

Subjects are every file the run produced, each with its `sha256` (for tools that know
only that) and `blake3` (the store's own name for it) digests; an output directory gives
a subject per file inside it, named by its path below the directory and annotated with
the directory's tree hash.

The statement is written as it is made and never held. Its bytes are the same at every
reading (canonical JSON: sorted keys, no spaces; the run read at one manifest), and DSSE
signs them after a header naming their length, so they are made three times: to count
them, to hash them for the signature's nonce, and to send them (base64) while hashing
them for its challenge (`TwoPassSigner`). The envelope's `payloadType` leaves at once;
until the payload starts, a blank line is sent every KEEPALIVE pieces made (JSON allows
whitespace there), so a client sees the answer moving; `signatures` come last.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from collections.abc import Callable, Iterator

from wfobj.engine.errors import RunNotEnded
from wfobj.objstore import ObjectStore

from .digests import sha256_of_blob
from .json_stream import chunked
from .run_stream import Attempt, Content, RunStream
from .signing import ServerKey, TwoPassSigner, pae_header

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:wfobj:buildtype:run:v1"
BUILDER_ID = "urn:wfobj:engine"
SHA256_KEPT = 16_384  # files whose SHA-256 is kept between readings (recomputed past it)
KEEPALIVE = 2_000  # statement pieces made between blank lines before the payload
Sha256 = Callable[[str], str]  # a blob's SHA-256 (hex) by its hash


def stream_intoto(store: ObjectStore, run: RunStream, key: ServerKey) -> Iterator[bytes]:
    """The signed envelope in pieces. Only for an ended run (RunNotEnded, raised here,
    before anything is sent)."""
    if not run.terminal:
        raise RunNotEnded(run.run_id, run.state)
    return envelope(Statement(store, run), key)


def envelope(statement: Statement, key: ServerKey) -> Iterator[bytes]:
    signer = TwoPassSigner(key)
    yield b'{\n  "payloadType": ' + json.dumps(PAYLOAD_TYPE).encode() + b","
    length = 0
    for n, piece in enumerate(statement.pieces(), 1):  # 1: its length, for the header
        length += len(piece)
        if n % KEEPALIVE == 0:
            yield b"\n"
    header = pae_header(PAYLOAD_TYPE, length)
    signer.first(header)
    for n, piece in enumerate(statement.pieces(), 1):  # 2: the signature's nonce
        signer.first(piece)
        if n % KEEPALIVE == 0:
            yield b"\n"
    yield b'\n  "payload": "'
    signer.second(header)
    sent = 0
    for raw in base64_ready(chunked(statement.pieces())):  # 3: sent, and its challenge
        signer.second(raw)
        sent += len(raw)
        yield base64.b64encode(raw)
    if sent != length:  # the statement must read the same each time; it did not
        raise RuntimeError(f"the statement changed between readings ({length} then {sent} bytes)")
    sig = base64.b64encode(signer.signature()).decode()  # ValueError if the readings differ
    yield ('",\n  "signatures": [\n    {\n      "keyid": ' + json.dumps(key.public.keyid)
           + ',\n      "sig": ' + json.dumps(sig) + "\n    }\n  ]\n}\n").encode()


def base64_ready(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks` re-cut so each but the last is a multiple of 3 bytes long: each base64
    encodes alone, with no padding inside the whole."""
    held = b""
    for chunk in chunks:
        data = held + chunk
        cut = len(data) - len(data) % 3
        held = data[cut:]
        if cut:
            yield data[:cut]
    if held:
        yield held


class Statement:
    """The statement's canonical JSON bytes, in pieces, as often as asked."""

    def __init__(self, store: ObjectStore, run: RunStream) -> None:
        self.run = run
        # each file's bytes read once while the cache holds it, however many paths,
        # directories and readings of the statement name it
        self.sha256: Sha256 = functools.lru_cache(maxsize=SHA256_KEPT)(
            lambda oid: sha256_of_blob(store, oid))

    def pieces(self) -> Iterator[bytes]:
        """The statement as `json.dumps(..., sort_keys=True, separators=(",", ":"))`
        writes it whole, its long lists written item by item."""
        marks = {name: f"wfobj-{name}-{uuid.uuid4().hex}" for name in LISTS}
        text = json.dumps(skeleton(self.run, marks), sort_keys=True, separators=(",", ":"))
        lists = {marks[name]: items for name, items in (
            ("subject", subjects(self.sha256, self.run)),
            ("byproducts", run_byproducts(self.run)),
            ("resolvedDependencies", dependencies(self.sha256, self.run)))}
        for part in split_marks(text, list(lists)):
            if part in lists:
                yield b"["
                for n, item in enumerate(lists[part]):
                    yield (b"," if n else b"") + canonical(item)
                yield b"]"
            else:
                yield part.encode()


LISTS = ("subject", "byproducts", "resolvedDependencies")


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def split_marks(text: str, marks: list[str]) -> list[str]:
    """`text` cut at each quoted mark, the marks (unquoted) kept as parts of their own."""
    parts = [text]
    for mark in marks:
        quoted = json.dumps(mark)
        cut: list[str] = []
        for part in parts:
            if part in marks:
                cut.append(part)
                continue
            before, found, after = part.partition(quoted)
            cut += [before, mark, after] if found else [part]
        parts = cut
    return [p for p in parts if p]


def skeleton(run: RunStream, marks: dict[str, str]) -> dict:
    """The statement with each long list a mark, written in its place as it is made."""
    return {"_type": STATEMENT_TYPE, "subject": marks["subject"],
            "predicateType": PREDICATE_TYPE, "predicate": provenance(run, marks)}


def subjects(sha256: Sha256, run: RunStream) -> Iterator[dict]:
    """One subject per output file, named `<task>/<path>`; a directory's files named
    `<task>/<directory>/<path inside>`."""
    for a, c in run.outputs():
        for f in run.files_in(c):
            yield file_descriptor(sha256, f"{a.task}/{f.path}", f)


def file_descriptor(sha256: Sha256, name: str, f: Content) -> dict:
    """A file by its digests; one found inside a directory names that directory's tree."""
    found = {"name": name, "digest": {"sha256": sha256(f.hash), "blake3": f.hash}}
    if f.tree:
        found["annotations"] = {"tree": f.tree}
    return found


def provenance(run: RunStream, marks: dict[str, str]) -> dict:
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"workflow": run.workflow,
                                   "definition_hash": run.definition_hash,
                                   "parameters": run.parameters},
            "internalParameters": {"cache": run.cache},
            "resolvedDependencies": marks["resolvedDependencies"],
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": {"wfobj": run.engine_version}},
            "metadata": {"invocationId": run.run_id, "startedOn": run.started_at or run.created_at,
                         "finishedOn": run.ended_at},
            "byproducts": marks["byproducts"],
        },
    }


def run_byproducts(run: RunStream) -> Iterator[dict]:
    """Each attempt's evidence and image, then the run's manifest."""
    for a in run.attempts():
        yield from byproducts(a)
    if run.manifest_hash:
        yield {"name": "run_manifest", "digest": {"blake3": run.manifest_hash}}


def dependencies(sha256: Sha256, run: RunStream) -> Iterator[dict]:
    """The definition and every parameter file, by hash; a `dir` parameter is its tree
    (by its hash) followed by each file inside it."""
    yield {"name": "definition", "uri": f"urn:wfobj:definition:{run.definition_hash}",
           "digest": {"blake3": run.definition_hash}}
    for c in run.param_contents:
        if c.is_dir:
            yield {"name": f"params.{c.path}", "uri": f"urn:wfobj:tree:{c.hash}",
                   "digest": {"blake3": c.hash}}
        for f in run.files_in(c):
            yield {**file_descriptor(sha256, f"params.{f.path}", f),
                   "uri": f"urn:wfobj:blob:{f.hash}"}


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


__all__ = ["PAYLOAD_TYPE", "STATEMENT_TYPE", "stream_intoto"]
