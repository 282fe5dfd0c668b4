"""What the UI shows when the engine offers it: cross-run file links and lineage, cache
explanations, exports, live logs. Each is one small function over the engine's service;
a page shows the section only when its function returns something.
"""

from __future__ import annotations

from engine.service import WorkflowService
from objstore import WfobjError

SCAN_RUNS = 200  # without a file index, the file page searches this many newest runs


def file_links(service: WorkflowService, oid: str) -> dict:
    """{"produced_by", "used_by", "parameter_of", "searched"}: the runs that link a blob.
    `searched` is None when the answer covers every run, else how many newest runs it read."""
    found: dict = {"produced_by": [], "used_by": [], "parameter_of": [], "searched": 0}
    page = service.list_runs(limit=SCAN_RUNS)
    for run in page["runs"]:
        found["searched"] += 1
        add_run_links(service, run, oid, found)
    if page["next_cursor"] is None:
        found["searched"] = None
    return found


def add_run_links(service: WorkflowService, run: dict, oid: str, found: dict) -> None:
    for name, value in run["parameters"].items():
        if value == oid:
            found["parameter_of"].append({"run_id": run["run_id"], "param": name})
    try:
        evidence = service.run_tasks(run["run_id"])
    except WfobjError:
        return  # a damaged run is the audit's business, not this page's
    for ev in evidence:
        for out in ev.get("outputs", ()):
            if out["hash"] == oid:
                found["produced_by"].append({"run_id": run["run_id"], "task": ev["task"],
                                             "path": out["path"], "attempt": ev["attempt"]})
        for inp in ev.get("inputs", ()):
            if inp["hash"] == oid:
                found["used_by"].append({"run_id": run["run_id"], "task": ev["task"],
                                         "input": inp["name"]})


def file_lineage(service: WorkflowService, oid: str, direction: str) -> dict | None:
    """The cross-run lineage graph of a blob ({"nodes", "edges"}), when the engine has it."""
    return None


def cache_explanation(service: WorkflowService, run_id: str, task: str) -> dict | None:
    """The cache key of a task's last attempt and what it reused or missed, when known."""
    return None


# the run exports of GET /api/runs/{run_id}/export/{format}, with the name a reader knows
EXPORTS = {"ro-crate": "RO-Crate", "prov": "W3C PROV", "openlineage": "OpenLineage",
           "in-toto": "in-toto attestation"}


def export_links(run_id: str) -> list[dict]:
    """[{"format", "label", "href"}]: the run's exports, API downloads that take the UI's
    session cookie (api/auth.py, BEARER_OR_SESSION)."""
    return [{"format": fmt, "label": label, "href": f"/api/runs/{run_id}/export/{fmt}"}
            for fmt, label in EXPORTS.items()]


def live_logs(service: WorkflowService, run_id: str, task: str) -> dict | None:
    """stdout and stderr of a running attempt so far, when the engine can follow them."""
    return None
