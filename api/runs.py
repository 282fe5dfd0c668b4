"""Run resources: list, show, tasks and evidence, files, lineage, audit, kill; the cache
explanation of a task, resume, reproduce and compare."""

from __future__ import annotations

import falcon

from engine.errors import excerpt
from engine.run_ids import PREFIX_RE
from engine.service import WorkflowService
from engine.states import RunStatus

from .params import int_query, name_param, run_id_param

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


class RunTasks(_RunView):
    view = "run_tasks"


class RunFiles(_RunView):
    view = "run_files"


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
        resp.media = self.service.run_task(run_id_param(run_id), name_param(task, "task name"))


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
                                               name_param(task, "task name"))


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
