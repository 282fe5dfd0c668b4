"""Run resources: list, show, tasks and evidence, files, lineage, audit, kill; the cache
explanation of a task, resume, reproduce and compare; provenance exports."""

from __future__ import annotations

import json

import falcon

from wfobj.engine import (
    FOLLOW_WAIT_S,
    PREFIX_RE,
    ExportsBusy,
    RunStatus,
    WorkflowService,
    check_format,
    excerpt,
)

from .auth import BEARER_OR_SESSION
from .params import int_query, name_param, run_id_param, task_param

NDJSON = "application/x-ndjson"
MAX_PAGE = 1000


class RunList:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # a filter given empty (`?state=`) is a bad value, not an absent one
        workflow = req.get_param("workflow")
        state = req.get_param("state")
        cursor = req.get_param("cursor")
        id_prefix = req.get_param("id_prefix")
        if id_prefix is not None and not PREFIX_RE.match(id_prefix):
            raise falcon.HTTPBadRequest(
                title="Invalid id_prefix",
                description=f"invalid id_prefix {excerpt(id_prefix)}: the start of a "
                            "lower-case run id (hex digits and '-', at most 36)")
        if workflow is not None:
            name_param(workflow)
        if state is not None and state not in set(RunStatus):
            raise falcon.HTTPBadRequest(
                title="Invalid state",
                description=f"invalid state {excerpt(state)}: one of " + ", ".join(RunStatus))
        if cursor == "":
            raise falcon.HTTPBadRequest(title="Invalid cursor",
                                        description="cursor is empty: pass a next_cursor")
        resp.media = self.service.list_runs(
            workflow=workflow, state=state, limit=int_query(req, "limit", 50, 1, MAX_PAGE),
            cursor=cursor, id_prefix=id_prefix)


class _RunView:
    """GET on one aspect of a run: `view` names the service method."""

    roles = {"GET": "reader"}
    view = "get_run"

    def __init__(self, service: WorkflowService) -> None:
        self.fetch = getattr(service, self.view)

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        resp.media = self.fetch(run_id_param(run_id))


class Run(_RunView):
    view = "get_run"


class RunTasks:
    """GET the evidence of a run's tasks, a page at a time (`start`, `limit` ≤ 1000): a
    `Link: <…?start=N&limit=M>; rel="next"` header names the next page while there is one."""

    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        run_id = run_id_param(run_id)
        start = int_query(req, "start", 0, 0, 10**9)
        limit = int_query(req, "limit", MAX_PAGE, 1, MAX_PAGE)
        page = self.service.run_tasks(run_id, start=start, limit=limit)
        if len(page) == limit:
            resp.append_link(f"/api/runs/{run_id}/tasks?start={start + limit}&limit={limit}", "next")
        resp.media = page


class RunFiles:
    """GET a run's outputs; with ?recursive=true also every file inside its directories."""

    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        recursive = req.get_param_as_bool("recursive", default=False)
        resp.media = self.service.run_files(run_id_param(run_id), recursive=recursive)


class RunLineage(_RunView):
    view = "run_lineage"


class RunAudit(_RunView):
    view = "run_audit"


class RunTask:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str,
               task: str) -> None:
        resp.media = self.service.run_task(run_id_param(run_id), task_param(task))


class RunTaskLogs:
    """stdout and stderr of a task's attempt as NDJSON lines, followed while it runs for
    at most `wait` seconds (engine/provenance/logs.py); the last line says where to go on."""

    roles = {"GET": "reader"}
    MAX_OFFSET = 1 << 62

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str,
               task: str) -> None:
        follow = req.get_param_as_bool("follow", default=False)
        attempt = req.get_param("attempt")
        lines = self.service.follow_logs(
            run_id_param(run_id), task_param(task),
            attempt=None if attempt is None else int_query(req, "attempt", 1, 1, 1 << 31),
            stdout_offset=int_query(req, "stdout_offset", 0, 0, self.MAX_OFFSET),
            stderr_offset=int_query(req, "stderr_offset", 0, 0, self.MAX_OFFSET),
            follow=follow, wait=int_query(req, "wait", int(FOLLOW_WAIT_S), 1,
                                          int(FOLLOW_WAIT_S)))
        resp.content_type = NDJSON
        resp.stream = (json.dumps(item).encode() + b"\n" for item in lines)


class RunKill:
    roles = {"POST": "runner"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_post(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        resp.media = self.service.kill_run(run_id_param(run_id), user=req.context.user)
        resp.status = falcon.HTTP_202


class RunTaskCache:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str,
               task: str) -> None:
        resp.media = self.service.explain_task(run_id_param(run_id),
                                               task_param(task))


class _RunRepeat:
    """POST: a new run made from this one; `verb` names the service method."""

    roles = {"POST": "runner"}
    verb = "resume"

    def __init__(self, service: WorkflowService) -> None:
        self.start = getattr(service, self.verb)

    def on_post(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        resp.media = self.start(run_id_param(run_id), user=req.context.user)
        resp.status = falcon.HTTP_202


class RunResume(_RunRepeat):
    verb = "resume"


class RunReproduce(_RunRepeat):
    verb = "reproduce"


class RunCompare:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str,
               other: str) -> None:
        resp.media = self.service.compare_runs(run_id_param(run_id), run_id_param(other))


class RunExport:
    """GET a run as a provenance export (docs/exports.md): the bytes with their media
    type, and a file name in Content-Disposition. The run page of the web UI links here, so
    its session cookie is taken too (GET only)."""

    roles = {"GET": "reader"}
    credentials = BEARER_OR_SESSION

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str,
               format: str) -> None:  # noqa: A002 - the route's own name
        fmt = check_format(format)
        files = req.get_param("files", default="all")
        try:
            export = self.service.export_run(run_id_param(run_id), fmt, files=files)
        except ExportsBusy as exc:
            raise falcon.HTTPServiceUnavailable(title="Exports busy", description=str(exc),
                                                retry_after=exc.retry_after) from exc
        resp.content_type = export.content_type
        resp.downloadable_as = export.filename
        if export.size is not None:  # bytes already whole (none of the server's: they stream)
            resp.content_length = export.size
        # sent as it is made; the server closes it (freeing its slot) when done or cut off
        resp.stream = export

    def on_head(self, req: falcon.Request, resp: falcon.Response, run_id: str,
                format: str) -> None:  # noqa: A002 - the route's own name
        """GET's status and headers (type, file name; no length: an export is sent as it is
        made); the export is started, then dropped unsent, freeing its slot."""
        self.on_get(req, resp, run_id, format)
        resp.stream.close()
        resp.stream = ()
