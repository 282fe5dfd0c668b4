"""What the UI shows beyond a run's own record: cross-run file links and lineage, cache
explanations, exports, live logs. Each is one small function over the engine's service;
a page shows the section only when its function returns something.
"""

from __future__ import annotations

from wfobj.engine import TaskStatus, WorkflowService


def file_links(service: WorkflowService, oid: str) -> dict:
    """{"hash", "size", "produced_by", "used_by", "parameter_of"}: every run that made, used
    or passed the blob, from the engine's file index."""
    return service.file_info(oid)


def file_lineage(service: WorkflowService, oid: str, direction: str) -> dict | None:
    """The cross-run lineage graph of a blob ({"nodes", "edges"}), None when it is just
    the file itself (nothing made it, or nothing was made from it)."""
    graph = service.file_lineage(oid, direction=direction)
    return graph if graph["edges"] else None


def cache_explanation(service: WorkflowService, run_id: str, task: str) -> dict | None:
    """The cache key of a task's last attempt and what it reused or missed."""
    return service.explain_task(run_id, task)


# the run exports of GET /api/runs/{run_id}/export/{format}, with the name a reader knows
EXPORTS = {"ro-crate": "RO-Crate", "prov": "W3C PROV", "openlineage": "OpenLineage",
           "in-toto": "in-toto attestation"}


def export_links(run_id: str) -> list[dict]:
    """[{"format", "label", "href"}]: the run's exports, API downloads that take the UI's
    session cookie (api/auth.py, BEARER_OR_SESSION)."""
    return [{"format": fmt, "label": label, "href": f"/api/runs/{run_id}/export/{fmt}"}
            for fmt, label in EXPORTS.items()]


def live_logs(service: WorkflowService, run_id: str, task: str) -> dict | None:
    """The end of what a running attempt wrote to stdout and stderr so far (the live logs
    that GET …/logs?follow=true streams), when the engine can follow them."""
    return service.live_tail(run_id, task)


CHILD_SEARCH = 50  # live runs of a child workflow looked at to find a running task's child


def child_runs(service: WorkflowService, run_id: str, lines: list) -> dict[str, str]:
    """Sub-workflow task → its child run id: from the task's evidence once its attempt is
    recorded, else (while it runs) the live run of its workflow whose record names this
    run and task as its `parent` (at most CHILD_SEARCH newest live runs of it are read)."""
    out = {line.name: line.evidence["child"] for line in lines if line.evidence.get("child")}
    for line in lines:
        if line.workflow is None or line.name in out or line.state != TaskStatus.RUNNING:
            continue
        wanted = {"run_id": run_id, "task": line.name}
        for state in ("running", "pending"):
            found = next((r["run_id"] for r in service.list_runs(
                workflow=line.workflow, state=state, limit=CHILD_SEARCH)["runs"]
                if r.get("parent") == wanted), None)
            if found:
                out[line.name] = found
                break
    return out
