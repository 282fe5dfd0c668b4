"""Third-party readers of wfobj's exports: the checks each format must pass, written with
the formats' own libraries (rocrate, prov, jsonschema on the published OpenLineage
schema, securesystemslib), never with wfobj's code."""

from __future__ import annotations

import base64
import contextlib
import email.message
import io
import json
import zipfile
from pathlib import Path

import jsonschema
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from referencing import Registry, Resource
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

SCHEMAS = Path(__file__).resolve().parent / "openlineage"
PROFILES = {"https://w3id.org/ro/wfrun/process/0.5", "https://w3id.org/ro/wfrun/workflow/0.5",
            "https://w3id.org/ro/wfrun/provenance/0.5"}


def openlineage_validators() -> tuple[jsonschema.Validator, jsonschema.Validator]:
    """(event validator, ParentRunFacet validator) from the vendored 2-0-2 schemas, with
    formats (uuid, date-time, uri) checked; nothing is fetched."""
    spec = json.loads((SCHEMAS / "OpenLineage.json").read_text())
    parent = json.loads((SCHEMAS / "ParentRunFacet.json").read_text())
    registry = Registry().with_resources([(spec["$id"], Resource.from_contents(spec)),
                                          (parent["$id"], Resource.from_contents(parent))])
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return (jsonschema.Draft202012Validator(spec, registry=registry, format_checker=checker),
            jsonschema.Draft202012Validator(parent, registry=registry, format_checker=checker))


def check_openlineage(events: list[dict]) -> None:
    """Every event valid; every task run's parent facet valid; START first per run."""
    event_schema, parent_schema = openlineage_validators()
    seen: dict[str, list[str]] = {}
    for event in events:
        event_schema.validate(event)
        facets = event["run"].get("facets", {})
        if "parent" in facets:
            parent_schema.validate({"parent": facets["parent"]})
        seen.setdefault(event["run"]["runId"], []).append(event["eventType"])
    for kinds in seen.values():
        assert kinds[0] == "START"
        assert all(k in ("COMPLETE", "FAIL", "ABORT") for k in kinds[1:]) and len(kinds) <= 2


def crate_metadata(zip_bytes: bytes) -> tuple[list[str], dict]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
        return z.namelist(), json.loads(z.read("ro-crate-metadata.json"))


def envelope_verifies(envelope: dict, key: dict) -> bool:
    """securesystemslib's DSSE check with the key as GET /api/keys serves it."""
    public = load_pem_public_key(key["public_key_pem"].encode())
    sslib_key = SSlibKey.from_crypto(public, keyid=key["keyid"], scheme="ed25519")
    try:
        Envelope.from_dict(envelope).verify([sslib_key], 1)
    except Exception:  # noqa: BLE001 - securesystemslib raises VerificationError and kin
        return False
    return True


def flip_payload_byte(envelope: dict, index: int = 10) -> dict:
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[index] ^= 0x01
    return {**envelope, "payload": base64.b64encode(bytes(payload)).decode()}


def statement_of(envelope: dict) -> dict:
    return json.loads(base64.b64decode(envelope["payload"]))


class LineageReceiver:
    """A local HTTP endpoint that keeps every OpenLineage event POSTed to it (the
    /api/v1/lineage path Marquez serves); `fail` makes it answer 503 instead."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.events: list[dict] = []
        self.paths: list[str] = []
        self.fail = False
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail:
                    self.send_response(503)
                else:
                    receiver.paths.append(self.path)
                    receiver.events.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


CONTEXTS = Path(__file__).resolve().parent / "rocrate"
CONTEXT_FILES = {
    "https://w3id.org/ro/crate/1.1/context": CONTEXTS / "ro-crate-1.1-context.jsonld",
    "https://w3id.org/ro/terms/workflow-run/context": CONTEXTS / "workflow-run-context.jsonld",
}


def context_bytes(url: str) -> bytes:
    path = CONTEXT_FILES.get(url.rstrip("/"))
    if path is None:
        raise OSError(f"tests are offline: no copy of {url}")
    return path.read_bytes()


@contextlib.contextmanager
def offline_contexts():
    """The JSON-LD contexts a crate names, served from tests/rocrate/ to both HTTP
    clients the RO-Crate validator uses: urllib (rdflib), through an installed opener,
    and its requests session, through a mounted transport adapter. Anything else fails."""
    import urllib.error
    import urllib.request

    import requests.adapters
    from rocrate_validator.utils.http import HttpRequester

    class ContextHandler(urllib.request.BaseHandler):
        def https_open(self, req):
            try:
                data = context_bytes(req.full_url)
            except OSError as exc:
                raise urllib.error.URLError(str(exc)) from None
            headers = email.message.Message()
            headers["Content-Type"] = "application/ld+json"
            return urllib.response.addinfourl(io.BytesIO(data), headers, req.full_url, 200)

    class ContextAdapter(requests.adapters.BaseAdapter):
        def send(self, request, **_kw):
            resp = requests.Response()
            resp.status_code, resp._content, resp.url = 200, context_bytes(request.url), request.url
            resp.headers["Content-Type"] = "application/ld+json"
            resp.request = request
            return resp

        def close(self) -> None:
            pass

    urllib.request.install_opener(urllib.request.build_opener(ContextHandler))
    session = HttpRequester(no_cache=True).session
    session.mount("https://w3id.org/", ContextAdapter())
    try:
        yield
    finally:
        urllib.request.install_opener(None)


def rocrate_validation(zip_path: Path, severity: str = "REQUIRED") -> list[str]:
    """The RO-Crate validator's issues with the crate at `zip_path` against the
    Provenance Run Crate 0.5 profile (and the profiles it builds on), at `severity`."""
    from rocrate_validator import services

    settings = services.ValidationSettings(
        rocrate_uri=str(zip_path), profile_identifier="provenance-run-crate-0.5",
        requirement_severity=severity, no_cache=True)
    with offline_contexts():
        result = services.validate(settings)
    return [f"{i.check.identifier}: {i.message}" for i in result.get_issues()]
