"""An HTTP client for the wfobj REST API with the same methods and return shapes as
engine.service.WorkflowService, so CLI commands run unchanged against --server.

`user` arguments are accepted for signature compatibility and ignored: the server records
the token's user. Object downloads are checked against the hash asked for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

import blake3
import requests

from wfobj.cli.errors import HttpError
from wfobj.objstore import ChecksumMismatch, NotAFile, PathNotInTree

from .http import PIECE, HttpClient, PieceReader

if TYPE_CHECKING:
    from wfobj.engine import Export, Progress

TIMEOUT_S = (10, 60)  # connect, read: API calls answer quickly


TAR = "application/x-tar"


def _seg(value: str) -> str:
    """One path segment, escaped so it can never become another path."""
    return quote(str(value), safe="")


def _segs(path: str) -> str:
    """A relative path, each of its segments escaped (`..` and `.` left out)."""
    return "/".join(_seg(p) for p in path.split("/") if p not in ("", ".", ".."))


def secret_body(value: bytes) -> dict:
    """PUT /api/secrets/{name}'s body: {"value": text}, or {"value_base64": …} for bytes
    that are not UTF-8."""
    try:
        return {"value": value.decode("utf-8")}
    except UnicodeDecodeError:
        import base64

        return {"value_base64": base64.b64encode(value).decode("ascii")}


class RemoteService:
    """The engine.protocol.Service over HTTP (docs/api.md)."""

    def __init__(self, url: str, token: str | None, *, session: requests.Session | None = None,
                 timeout: float | tuple[float, float] = TIMEOUT_S) -> None:
        self.http = HttpClient(url, token, session=session, timeout=timeout)
        self.url = self.http.url

    # health ---------------------------------------------------------------------------
    def health(self) -> dict:
        return self.http.json("GET", "/api/health")

    # workflows ------------------------------------------------------------------------
    def apply_workflow(self, name: str, source: str | bytes | dict, *, user: str | None = None,
                       content_type: str = "application/json") -> tuple[dict, bool]:
        if isinstance(source, dict):
            source, content_type = json.dumps(source), "application/json"
        resp = self.http.request("PUT", f"/api/workflows/{_seg(name)}", data=source,
                             headers={"Content-Type": content_type})
        return resp.json(), resp.status_code == 201

    def validate_workflow(self, name: str, source: str | bytes | dict, *,
                          content_type: str = "application/json") -> dict:
        if isinstance(source, dict):
            source, content_type = json.dumps(source), "application/json"
        return self.http.json("POST", f"/api/workflows/{_seg(name)}/validate", data=source,
                          headers={"Content-Type": content_type})

    def list_workflows(self) -> list[dict]:
        return self.http.json("GET", "/api/workflows")

    def get_workflow(self, name: str) -> dict:
        return self.http.json("GET", f"/api/workflows/{_seg(name)}")

    def workflow_versions(self, name: str) -> list[dict]:
        return self.http.json("GET", f"/api/workflows/{_seg(name)}/versions")

    def get_definition(self, definition_hash: str) -> dict:
        return self.http.json("GET", f"/api/workflows/by-hash/{_seg(definition_hash)}")

    # runs -----------------------------------------------------------------------------
    def trigger(self, *, name: str | None = None, definition_hash: str | None = None,
                parameters: dict | None = None, user: str | None = None,
                cache: bool = True) -> dict:
        if (name is None) == (definition_hash is None):
            raise ValueError("trigger needs exactly one of name or definition_hash")
        path = (f"/api/workflows/{_seg(name)}/trigger" if name is not None
                else f"/api/workflows/by-hash/{_seg(definition_hash)}/trigger")
        body = {"parameters": parameters or {}, **({} if cache else {"cache": False})}
        return self.http.json("POST", path, json=body)

    def resume(self, run_id: str, *, user: str | None = None) -> dict:
        return self.http.json("POST", f"/api/runs/{_seg(run_id)}/resume")

    def reproduce(self, run_id: str, *, user: str | None = None) -> dict:
        return self.http.json("POST", f"/api/runs/{_seg(run_id)}/reproduce")

    def compare_runs(self, a: str, b: str) -> dict:
        return self.http.json("GET", f"/api/runs/{_seg(a)}/compare/{_seg(b)}")

    def explain_task(self, run_id: str, task: str) -> dict:
        return self.http.json("GET", f"/api/runs/{_seg(run_id)}/tasks/{_seg(task)}/cache")

    # secrets (docs/secrets.md) --------------------------------------------------------
    def set_secret(self, name: str, value: bytes, *, user: str | None = None) -> dict:
        return self.http.json("PUT", f"/api/secrets/{_seg(name)}", json=secret_body(value))

    def list_secrets(self) -> list[dict]:
        return self.http.json("GET", "/api/secrets")

    def remove_secret(self, name: str) -> dict:
        return self.http.json("DELETE", f"/api/secrets/{_seg(name)}")

    def file_info(self, oid: str) -> dict:
        return self.http.json("GET", f"/api/files/{_seg(oid)}")

    def file_lineage(self, oid: str, *, direction: str = "up", depth: int = 10) -> dict:
        return self.http.json("GET", f"/api/files/{_seg(oid)}/lineage",
                          params={"direction": direction, "depth": depth})

    def list_runs(self, *, workflow: str | None = None, state: str | None = None,
                  limit: int = 50, cursor: str | None = None,
                  id_prefix: str | None = None) -> dict:
        query = {k: v for k, v in {"workflow": workflow, "state": state, "limit": limit,
                                   "cursor": cursor, "id_prefix": id_prefix}.items()
                 if v is not None}
        return self.http.json("GET", "/api/runs", params=query)

    def get_run(self, run_id: str) -> dict:
        return self.http.json("GET", f"/api/runs/{_seg(run_id)}")

    def run_tasks(self, run_id: str, *, start: int = 0, limit: int = 1000) -> list[dict]:
        return self.http.json("GET", f"/api/runs/{_seg(run_id)}/tasks?start={int(start)}"
                                     f"&limit={int(limit)}")

    def run_task(self, run_id: str, task: str) -> dict:
        return self.http.json("GET", f"/api/runs/{_seg(run_id)}/tasks/{_seg(task)}")

    def run_files(self, run_id: str, *, recursive: bool = False) -> list[dict]:
        query = "?recursive=true" if recursive else ""
        return self.http.json("GET", f"/api/runs/{_seg(run_id)}/files{query}")

    def run_lineage(self, run_id: str) -> dict:
        return self.http.json("GET", f"/api/runs/{_seg(run_id)}/lineage")

    def run_audit(self, run_id: str) -> list[dict]:
        return self.http.json("GET", f"/api/runs/{_seg(run_id)}/audit")

    def kill_run(self, run_id: str, *, user: str | None = None) -> dict:
        return self.http.json("POST", f"/api/runs/{_seg(run_id)}/kill")

    def export_run(self, run_id: str, fmt: str, *, files: str = "all") -> Export:
        """The run in an export format, as the server sends it: in pieces, never whole."""
        from wfobj.engine import SUFFIXES, Export

        path = f"/api/runs/{_seg(run_id)}/export/{_seg(fmt)}"
        # asked now (a refusal raises here), its body read as the caller iterates
        resp = self.http.request("GET", path, params={"files": files}, stream=True)
        return Export(fmt, self.http.pieces(resp, path), resp.headers.get("Content-Type", ""),
                      f"{run_id}{SUFFIXES.get(fmt, '')}", on_close=resp.close)

    def public_keys(self) -> list[dict]:
        return self.http.json("GET", "/api/keys")

    # schedules (admin) ---------------------------------------------------------------
    def add_schedule(self, name: str, *, cron: str, workflow: str,
                     parameters: dict | None = None, timezone: str = "UTC", pin: bool = False,
                     catchup: str = "none", user: str | None = None) -> dict:
        body = {"cron": cron, "workflow": workflow, "parameters": parameters or {},
                "timezone": timezone, "pin": pin, "catchup": catchup}
        return self.http.json("PUT", f"/api/schedules/{_seg(name)}", json=body)

    def list_schedules(self) -> list[dict]:
        return self.http.json("GET", "/api/schedules")

    def get_schedule(self, name: str) -> dict:
        return self.http.json("GET", f"/api/schedules/{_seg(name)}")

    def pause_schedule(self, name: str, *, user: str | None = None) -> dict:
        return self.http.json("POST", f"/api/schedules/{_seg(name)}/pause")

    def resume_schedule(self, name: str, *, user: str | None = None) -> dict:
        return self.http.json("POST", f"/api/schedules/{_seg(name)}/resume")

    def remove_schedule(self, name: str, *, user: str | None = None) -> dict:
        return self.http.json("DELETE", f"/api/schedules/{_seg(name)}")

    # data refs and data triggers -------------------------------------------------------
    def tag_data(self, ref: str, target: str, *, old: str | None = None,
                 new_only: bool = False) -> dict:
        body = {"hash": target, **({"old": old} if old is not None else {}),
                **({"new_only": True} if new_only else {})}
        return self.http.json("PUT", f"/api/data/{_seg(_data_name(ref))}", json=body)

    def list_data(self) -> list[dict]:
        return self.http.json("GET", "/api/data")

    def get_data(self, ref: str) -> dict:
        return self.http.json("GET", f"/api/data/{_seg(_data_name(ref))}")

    def add_trigger(self, ref: str, *, workflow: str, param: str,
                    parameters: dict | None = None, user: str | None = None) -> dict:
        return self.http.json("POST", "/api/triggers",
                              json={"ref": ref, "workflow": workflow, "param": param,
                                    "parameters": parameters or {}})

    def list_triggers(self) -> list[dict]:
        return self.http.json("GET", "/api/triggers")

    def remove_trigger(self, ref: str, *, workflow: str, param: str) -> dict:
        return self.http.json("DELETE", "/api/triggers",
                              params={"ref": ref, "workflow": workflow, "param": param})

    def verify_export(self, data: bytes, keys: list[str] | None = None) -> dict:
        """Check a signed export here: its signature with `keys` (PEM texts; default the
        server's `GET /api/keys`), each subject against the server's copy of the file
        (downloaded and checked by hash)."""
        from wfobj.engine import PublicKey, verify_attestation

        pems = keys if keys is not None else [k["public_key_pem"] for k in self.public_keys()]
        public = [PublicKey.from_pem(pem) for pem in pems]
        return verify_attestation(data, public, self.iter_file).to_json()

    def iter_file(self, oid: str) -> Iterator[bytes]:
        """iter_object, with a file the server lacks as KeyError (as a store says it)."""
        try:
            yield from self.iter_object(oid)
        except HttpError as exc:
            if exc.status == 404:
                raise KeyError(oid) from None
            raise

    def run_logs(self, run_id: str, task: str) -> dict:
        """{"task", "attempt", "stdout", "stderr"}: full streams, each checked by hash."""
        ev = self.run_task(run_id, task)
        if not ev.get("evidence_hash"):
            return {"task": task, "attempt": 0, "stdout": "", "stderr": ""}

        def text(stream: dict) -> str:
            return self.get_object_bytes(stream["hash"]).decode("utf-8", errors="replace")

        return {"task": task, "attempt": ev["attempt"], "stdout": text(ev["stdout"]),
                "stderr": text(ev["stderr"])}

    def follow_logs(self, run_id: str, task: str, *, attempt: int | None = None,
                    stdout_offset: int = 0, stderr_offset: int = 0, follow: bool = True,
                    wait: float | None = None) -> Iterator[dict]:
        """The records of GET …/logs (NDJSON), as they arrive. Errors before the first
        record raise here; a stream cut before its `end` record just stops (the caller
        sees no `end`)."""
        params: dict[str, Any] = {"follow": "true" if follow else "false",
                                  "stdout_offset": stdout_offset,
                                  "stderr_offset": stderr_offset}
        if attempt is not None:
            params["attempt"] = attempt
        if wait is not None:
            params["wait"] = int(wait)
        resp = self.http.request("GET", f"/api/runs/{_seg(run_id)}/tasks/{_seg(task)}/logs",
                                 params=params, stream=True)
        return _ndjson_records(resp)

    def wait(self, run_id: str, *, timeout: float | None = None, poll: float = 0.5,
             on_progress: Progress | None = None, stop: threading.Event | None = None,
             on_waiting: Callable[[str], None] | None = None) -> dict:
        """Poll until the run ends (or `timeout` seconds pass, or `stop` is set) and
        return it; the run goes on on the server either way (whose workers run it, so
        `on_waiting` has nothing to be told)."""
        from wfobj.engine import poll_run

        return poll_run(lambda: self.get_run(run_id), time.sleep, poll=poll, timeout=timeout,
                        on_progress=on_progress, stop=stop)

    # objects --------------------------------------------------------------------------
    def upload(self, stream: BinaryIO | bytes) -> dict:
        """POST a blob (streamed from a file object); {"hash", "size"}."""
        return self.http.json("POST", "/api/objects", data=stream,
                              headers={"Content-Type": "application/octet-stream"})

    def put_file(self, stream: BinaryIO) -> dict:
        """Stream a file to the server, hashing what is sent; the server's answer must name
        the same hash (else ChecksumMismatch). {"hash", "size"}"""
        reader = _HashingReader(stream)
        stored = self.upload(reader)
        if stored["hash"] != reader.hexdigest():
            raise ChecksumMismatch(reader.hexdigest(), stored["hash"])
        return stored

    def iter_object(self, oid: str) -> Iterator[bytes]:
        """The exact bytes whose hash is `oid` (a blob's content, a structured object's
        CBOR), streamed and checked against `oid` at the end (ChecksumMismatch)."""
        return _checked(oid, self.http.stream("GET", f"/api/objects/{_seg(oid)}",
                                              headers={"Accept": "application/cbor"}))

    def get_object_bytes(self, oid: str) -> bytes:
        return b"".join(self.iter_object(oid))

    # trees ----------------------------------------------------------------------------
    def put_tree(self, stream: BinaryIO) -> dict:
        """POST a tar archive (streamed from a file object) as a tree: {"hash", "files",
        "size"}."""
        return self.http.json("POST", "/api/trees", data=iter(lambda: stream.read(PIECE), b""),
                              headers={"Content-Type": TAR})

    def put_directory(self, path: str) -> dict:
        """Stream the folder at `path` as a tar, made and hashed as its files are read; the
        server must name the tree the CLI computed (else ChecksumMismatch)."""
        from wfobj.objstore import DirectoryArchive

        archive = DirectoryArchive(path)
        stored = self.put_tree(archive)
        if archive.stored is None or stored["hash"] != archive.stored.oid:
            raise ChecksumMismatch(archive.stored.oid if archive.stored else "(not sent whole)",
                                   stored["hash"])
        return stored

    def get_tree(self, oid: str, *, recursive: bool = False) -> dict:
        return self.http.json("GET", f"/api/trees/{_seg(oid)}",
                              params={"recursive": "true"} if recursive else None)

    def tree_file(self, oid: str, path: str) -> dict:
        """{"kind", "hash", "size", "executable"} of the file at `path` in the tree
        (PathNotInTree when there is none; NotAFile when `path` names a directory)."""
        entry = self.tree_entry(oid, path)
        if entry["kind"] != "file":
            raise NotAFile(oid, path)
        return entry

    def tree_entry(self, oid: str, path: str) -> dict:
        """{"kind", "hash", "size", "executable"} of what `path` names in the tree (the
        tree itself for an empty path), found by listing one directory at a time."""
        root = self.get_tree(oid)
        entry = {"kind": "dir", "hash": root["hash"], "size": root["size"], "executable": False}
        parts = [p for p in path.split("/") if p not in ("", ".")]
        for i, part in enumerate(parts):
            listing = root if i == 0 else self.get_tree(entry["hash"])
            found = next((e for e in listing["entries"] if e["name"] == part), None)
            if found is None:
                raise PathNotInTree(root["hash"], "/".join(parts[:i + 1]))
            entry = {k: found[k] for k in ("kind", "hash", "size", "executable")}
            if entry["kind"] != "dir" and i < len(parts) - 1:
                raise PathNotInTree(root["hash"], path)
        return entry

    def iter_tree_file(self, oid: str, path: str, blob: str) -> Iterator[bytes]:
        """The bytes of the file at `path` in the tree, checked against `blob`, the hash
        tree_file gives it (ChecksumMismatch)."""
        return _checked(blob, self.http.stream("GET",
                                               f"/api/trees/{_seg(oid)}/files/{_segs(path)}"))

    def tree_archive(self, oid: str) -> BinaryIO:
        """The tree as a tar archive, read as it arrives (unchecked: checkout_archive
        checks it against the tree)."""
        return PieceReader(self.http.stream("GET", f"/api/trees/{_seg(oid)}/archive"))


    # webhooks (admin) ----------------------------------------------------------------
    def add_hook(self, url: str, events: list[str], *, secret_name: str | None = None,
                 user: str | None = None) -> dict:
        body = {"url": url, "events": list(events), "secret_name": secret_name}
        return self.http.json("POST", "/api/hooks", json=body)

    def list_hooks(self) -> list[dict]:
        return self.http.json("GET", "/api/hooks")

    def remove_hook(self, hook_id: str, *, user: str | None = None) -> dict:
        return self.http.json("DELETE", f"/api/hooks/{_seg(hook_id)}")

    def hook_changes(self) -> list[dict]:
        return self.http.json("GET", "/api/hooks/changes")

    def hook_deliveries(self, *, hook: str | None = None, run_id: str | None = None,
                        limit: int = 100) -> list[dict]:
        query = {k: v for k, v in {"hook": hook, "run": run_id, "limit": limit}.items()
                 if v is not None}
        return self.http.json("GET", "/api/hooks/deliveries", params=query)
def _data_name(ref: str) -> str:
    """NAME of `data/NAME` (the API's path names data refs without their prefix)."""
    from wfobj.engine import DATA_PREFIX, DataRefError

    if not ref.startswith(DATA_PREFIX):
        raise DataRefError(ref, f"not a data ref: tags take refs under {DATA_PREFIX} only")
    return ref[len(DATA_PREFIX):]


def _checked(oid: str, pieces: Iterator[bytes]) -> Iterator[bytes]:
    """`pieces`, whose BLAKE3 is checked against `oid` once they end (ChecksumMismatch)."""
    hasher = blake3.blake3()
    for piece in pieces:
        hasher.update(piece)
        yield piece
    if hasher.hexdigest() != oid:
        raise ChecksumMismatch(oid, hasher.hexdigest())


class _HashingReader:
    """A file wrapper that hashes what is read from it (requests streams it in pieces)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.hasher = stream, blake3.blake3()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.hasher.update(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while piece := self.read(1 << 20):
            yield piece

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()


def _ndjson_records(resp: requests.Response) -> Iterator[dict]:
    """One dict per line of a streamed NDJSON answer; stops quietly if it is cut off."""
    with resp:
        try:
            for line in resp.iter_lines():
                if line:
                    yield json.loads(line)
        except (requests.RequestException, ValueError):
            return

