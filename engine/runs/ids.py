"""Run ids as people type them: a full id, a unique prefix of at least 8 characters, or
`latest` (the newest run, of one workflow if given). Resolved through a service's
`list_runs`, so the local store and a server answer alike."""

from __future__ import annotations

import re
from collections.abc import Callable

from wfobj.engine.errors import RunIdUnresolved, excerpt

MIN_PREFIX = 8
LATEST = "latest"
FULL_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
PREFIX_RE = re.compile(r"[0-9a-f][0-9a-f-]{0,35}\Z")
# enough matches to say how ambiguous a prefix is, without reading every run
COUNT_UP_TO = 1000

ListRuns = Callable[..., dict]


def resolve_run_id(list_runs: ListRuns, text: str, workflow: str | None = None) -> str:
    """The full run id `text` names (RunIdUnresolved if none or several)."""
    if text == LATEST:
        return latest_run(list_runs, workflow)
    if FULL_ID_RE.match(text):
        return text
    if not PREFIX_RE.match(text):
        raise RunIdUnresolved(text, 0, f"{excerpt(text)} is not a run id, a prefix of one "
                              f"or {LATEST}")
    if len(text) < MIN_PREFIX:
        raise RunIdUnresolved(text, 0, f"run id prefix {text!r} is too short: give at "
                              f"least {MIN_PREFIX} characters")
    page = list_runs(id_prefix=text, workflow=workflow, limit=COUNT_UP_TO)
    ids = [run["run_id"] for run in page["runs"]]
    of = f" of workflow {workflow}" if workflow else ""
    if not ids:
        raise RunIdUnresolved(text, 0, f"no run{of} has an id starting with {text}")
    if len(ids) > 1:
        count = f"{len(ids)}{'+' if page['next_cursor'] else ''}"
        raise RunIdUnresolved(text, len(ids), f"run id prefix {text} is ambiguous: {count} "
                              f"runs{of} match (e.g. {ids[0]}, {ids[1]}); give more characters")
    return ids[0]


def latest_run(list_runs: ListRuns, workflow: str | None) -> str:
    runs = list_runs(workflow=workflow, limit=1)["runs"]
    if not runs:
        of = f" of workflow {workflow}" if workflow else ""
        raise RunIdUnresolved(LATEST, 0, f"there is no run{of} yet")
    return runs[0]["run_id"]
