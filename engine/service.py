"""The engine's one facade: what the API resources and the local CLI call.

Every method returns JSON-ready data in exactly the shapes of SPEC §4 (times as RFC 3339
UTC strings with microseconds, hashes as hex), so `api/` and `cli/` only move it around.
Errors are engine.errors / objstore.errors exceptions carrying data; the edges translate.

SKELETON: the engine issue (#3) fills these in; signatures are the contract for api/ and cli/.
"""

from __future__ import annotations

from typing import Any

from objstore import ObjectStore


class WorkflowService:
    def __init__(self, store: ObjectStore, *, clock: Any = None) -> None:
        self.store = store

    # workflows ---------------------------------------------------------------------
    def apply_workflow(self, name: str, source: str | bytes | dict, *, user: str,
                       content_type: str = "application/json") -> tuple[dict, bool]:
        """Register a definition under `name`. Returns ({"name", "definition_hash",
        "version"}, created) — created is False when the definition is unchanged."""
        raise NotImplementedError

    def list_workflows(self) -> list[dict]:
        """[{"name", "definition_hash", "version", "updated_at"}]"""
        raise NotImplementedError

    def get_workflow(self, name: str) -> dict:
        """{"name", "definition_hash", "version", "definition"}"""
        raise NotImplementedError

    def workflow_versions(self, name: str) -> list[dict]:
        """[{"version", "definition_hash", "registered_by", "registered_at"}], newest first"""
        raise NotImplementedError

    def get_definition(self, definition_hash: str) -> dict:
        """{"definition_hash", "definition"}"""
        raise NotImplementedError

    # runs ---------------------------------------------------------------------------
    def trigger(self, *, name: str | None = None, definition_hash: str | None = None,
                parameters: dict | None = None, user: str) -> dict:
        """Validate parameters, record the run, queue it. {"run_id", "state", "definition_hash"}"""
        raise NotImplementedError

    def list_runs(self, *, workflow: str | None = None, state: str | None = None,
                  limit: int = 50, cursor: str | None = None) -> dict:
        """{"runs": [run…], "next_cursor"}, newest first; cursor stable while runs arrive."""
        raise NotImplementedError

    def get_run(self, run_id: str) -> dict:
        raise NotImplementedError

    def run_tasks(self, run_id: str) -> list[dict]:
        raise NotImplementedError

    def run_task(self, run_id: str, task: str) -> dict:
        raise NotImplementedError

    def run_files(self, run_id: str) -> list[dict]:
        raise NotImplementedError

    def run_lineage(self, run_id: str) -> dict:
        raise NotImplementedError

    def run_audit(self, run_id: str) -> list[dict]:
        raise NotImplementedError

    def kill_run(self, run_id: str, *, user: str) -> dict:
        """{"run_id", "state"}; raises a conflict error if the run is already terminal."""
        raise NotImplementedError
