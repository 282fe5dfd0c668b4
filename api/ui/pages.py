"""The UI's pages: plain Falcon resources over the engine's read functions, rendered by
templates. Each declares `credentials = "session"` and its `roles` (api/ui/session.py)."""

from __future__ import annotations

from urllib.parse import urlencode

import falcon

from wfobj.api.objects import send_blob
from wfobj.api.params import hash_param, int_query, name_param, run_id_param, task_param
from wfobj.engine import (
    RUN_TERMINAL,
    TASK_LIVE,
    Definition,
    ParamDefinition,
    RunStatus,
    TaskStatus,
    WorkflowService,
    base_task,
    excerpt,
    instance_key,
    instance_page,
    task_line,
    task_outline,
)
from wfobj.objstore import (
    MAX_PATH_BYTES,
    ObjectStore,
    WfobjError,
    archive_tree,
    entry_at,
)

from . import dag, features, lineage
from .render import Renderer

PAGE_SIZE = 25
INSTANCES_PER_PAGE = 200


class Page:
    credentials = "session"
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService, render: Renderer) -> None:
        self.service, self.render = service, render


class Home(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPSeeOther("/ui/runs")


class RunsPage(Page):
    """Runs, newest first, filtered by workflow and state, a page at a time."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        workflow = req.get_param("workflow") or None
        state = req.get_param("state") or None
        cursor = req.get_param("cursor") or None
        if workflow is not None:
            name_param(workflow)
        if state is not None and state not in set(RunStatus):
            raise falcon.HTTPBadRequest(title="Invalid state",
                                        description="state is one of " + ", ".join(RunStatus))
        limit = int_query(req, "limit", PAGE_SIZE, 1, 200)
        page = self.service.list_runs(workflow=workflow, state=state, limit=limit,
                                      cursor=cursor)
        filters = {k: v for k, v in (("workflow", workflow), ("state", state)) if v}
        if limit != PAGE_SIZE:
            filters["limit"] = str(limit)
        nxt = page["next_cursor"]
        self.render(req, resp, "runs.html", title="Runs", runs=page["runs"],
                    workflows=[w["name"] for w in self.service.list_workflows()],
                    states=[str(s) for s in RunStatus], workflow=workflow, state=state, paged=cursor is not None,
                    first_url="/ui/runs" + ("?" + urlencode(filters) if filters else ""),
                    next_url=("/ui/runs?" + urlencode({**filters, "cursor": nxt})) if nxt else None,
                    live=any(r["state"] not in RUN_TERMINAL for r in page["runs"]))


class SchedulesPage(Page):
    """Schedules with their next slots and last slot, and the data triggers (read-only)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp, "schedules.html", title="Schedules",
                    schedules=self.service.list_schedules(),
                    triggers=self.service.list_triggers())


class RunPage(Page):
    """One run: state, record, the definition's tasks (a fanned-out task as one row and one
    node with its instances counted by state), DAG, files, exports."""

    def __init__(self, service: WorkflowService, render: Renderer, store: ObjectStore) -> None:
        super().__init__(service, render)
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        run = self.service.get_run(run_id_param(run_id))
        outline = task_outline(self.store, run_id)
        shown = self.service.get_definition(run["definition_hash"])
        definition = Definition.from_json(shown["definition_hash"], shown["definition"])
        children = features.child_runs(self.service, run_id, outline.lines)
        self.render(req, resp, "run.html", title=f"Run {run_id[:13]}", run=run,
                    outline=outline, definition=definition, children=children,
                    files=[f for line in outline.lines for f in line.evidence["outputs"]],
                    layout=dag.outline_layout(outline, children),
                    file_params=params_of_type(definition.params, "file"),
                    dir_params=params_of_type(definition.params, "dir"), max_drawn=dag.MAX_DRAWN,
                    exports=features.export_links(run_id),
                    live=run["state"] not in RUN_TERMINAL)


def params_of_type(params: dict[str, ParamDefinition], type_: str) -> set[str]:
    """The names of the params of one type (`file`, `dir`): their values are hashes."""
    return {name for name, p in params.items() if p.type == type_}


class AttemptPage(Page):
    """One task attempt: every evidence field, stdout and stderr, cache, output downloads.
    A fanned-out task has no attempts of its own: its page lists its instances instead."""

    def __init__(self, service: WorkflowService, render: Renderer, store: ObjectStore) -> None:
        super().__init__(service, render)
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str, task: str,
               attempt: int | None = None) -> None:
        run = self.service.get_run(run_id_param(run_id))
        task = task_param(task)
        line = task_line(self.store, run_id, task)
        if line is None:
            raise falcon.HTTPNotFound(title="Not found",
                                      description=f"run {run_id} has no task {task!r}")
        if attempt is None and line.fans_out:
            self.instances(req, resp, run, task)
            return
        if attempt is None:
            ev = self.service.run_task(run_id, task)
        else:
            ev = self.service.run_attempt(run_id, task, attempt)
        state = line.state
        latest = attempt is None or attempt == len(ev["attempts"])
        running = latest and state in TASK_LIVE and run["state"] not in RUN_TERMINAL
        self.render(req, resp, "attempt.html", title=f"{task} · run {run_id[:13]}", run=run,
                    task=task, ev=ev, task_state=state, running=running, skip=line.skip,
                    known=KNOWN_EVIDENCE_FIELDS, fanned_out=base_task(task),
                    cache=features.cache_explanation(self.service, run_id, task) if latest
                    else None,
                    logs=features.live_logs(self.service, run_id, task) if running else None,
                    live=running)

    def instances(self, req: falcon.Request, resp: falcon.Response, run: dict,
                  task: str) -> None:
        """A fanned-out task's instances (those in one state with `?state=`),
        INSTANCES_PER_PAGE at a time, in item order."""
        number = int_query(req, "page", 1, 1, 10**9)
        state = req.get_param("state") or None
        if state is not None and state not in set(TaskStatus):
            raise falcon.HTTPBadRequest(title="Invalid state",
                                        description="state is one of " + ", ".join(TaskStatus))
        run_id = run["run_id"]
        page = instance_page(self.store, run_id, task, (number - 1) * INSTANCES_PER_PAGE,
                             INSTANCES_PER_PAGE, state)
        spread = page.task.instances
        total = 0 if spread is None else spread.states.get(state, 0) if state else spread.count
        pages = max(1, -(-total // INSTANCES_PER_PAGE))
        if number > pages:
            raise falcon.HTTPNotFound(title="No such page",
                                      description=f"{task} has {total} instances"
                                      f"{' ' + state if state else ''}: {pages} "
                                      f"page{'s' if pages != 1 else ''} of {INSTANCES_PER_PAGE}")
        here = f"/ui/runs/{run_id}/tasks/{task}"
        self.render(req, resp, "instances.html", title=f"{task} · run {run_id[:13]}",
                    run=run, task=task, page=page, total=total, number=number, pages=pages,
                    per_page=INSTANCES_PER_PAGE, state=state, here=here,
                    items=list_items(self.service, run, task, page.lines),
                    links=pager_links(here, number, pages, {"state": state} if state else {}),
                    live=run["state"] not in RUN_TERMINAL)


def list_items(service: WorkflowService, run: dict, task: str,
               lines: list) -> dict[str, str] | None:
    """Each shown instance's item, when `task` fans out over a `list` param (KEY is then
    only an index); None otherwise (a directory entry's KEY is its name already)."""
    shown = service.get_definition(run["definition_hash"])["definition"]
    param = (shown["tasks"][task].get("for_each") or {}).get("param")
    if param is None or shown.get("params", {}).get(param, {}).get("type") != "list":
        return None
    values = run["parameters"].get(param) or []
    out = {}
    for line in lines:
        key = instance_key(line.name)
        if key is not None and key.isdigit() and int(key) < len(values):
            value = values[int(key)]
            out[line.name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def pager_links(here: str, number: int, pages: int,
                query: dict[str, str] | None = None) -> dict[str, str]:
    """First, previous, next and last page links of a paged list (those that apply),
    keeping `query`."""
    def at(n: int) -> str:
        params = {**(query or {}), **({"page": str(n)} if n > 1 else {})}
        return f"{here}?{urlencode(params)}" if params else here

    links = {}
    if number > 1:
        links.update(first=at(1), prev=at(number - 1))
    if number < pages:
        links.update(next=at(number + 1), last=at(pages))
    return links


# fields attempt.html lays out itself; any other evidence field is listed as it comes
KNOWN_EVIDENCE_FIELDS = frozenset({
    "task", "state", "attempt", "evidence_hash", "image", "image_id", "image_digests",
    "image_facts_hash", "command", "env", "workdir", "inputs", "outputs", "vars", "exit_code",
    "stdout", "stderr", "started_at", "ended_at", "duration_s", "host", "error", "limits",
    "cache_key", "cached_from", "cache_reason", "executor", "attempts", "secrets", "child",
    "retry"})


class AuditPage(Page):
    """The audit trail with its hash chain checked."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        run = self.service.get_run(run_id_param(run_id))
        check = self.service.verify_audit(run_id)
        try:
            entries, unreadable = self.service.run_audit(run_id), None
        except WfobjError as exc:
            entries, unreadable = [], str(exc)
        self.render(req, resp, "audit.html", title=f"Audit · run {run_id[:13]}", run=run,
                    check=check, entries=entries, unreadable=unreadable,
                    live=run["state"] not in RUN_TERMINAL)


class FilePage(Page):
    """A blob by hash: its size, a download, and the runs that made, used or passed it."""

    def __init__(self, service: WorkflowService, render: Renderer, store: ObjectStore) -> None:
        super().__init__(service, render)
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        oid = hash_param(hash)
        if self.store.is_structured(oid):  # ObjectNotFound → 404
            raise falcon.HTTPNotFound(title="Not a file",
                                      description=f"{oid} is a structured object, not a file")
        name = download_name(req.get_param("name"))
        self.render(req, resp, "file.html", title=f"File {oid[:12]}", oid=oid,
                    size=self.store.size_of(oid), name=name,
                    links=features.file_links(self.service, oid),
                    lineage={d: lineage.picture(features.file_lineage(self.service, oid, d),
                                                oid, name) for d in ("up", "down")})


def download_name(name: str | None) -> str | None:
    """A file name for Content-Disposition: the last path part, printable ASCII only."""
    if not name:
        return None
    base = name.rsplit("/", 1)[-1]
    clean = "".join(c for c in base if 32 < ord(c) < 127 and c not in '"\\;')
    return clean[:200] or None


class FileDownload(Page):
    """A blob's bytes as an attachment, verified on the way out (like /api/objects)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        oid = hash_param(hash)
        if self.store.is_structured(oid):
            raise falcon.HTTPNotFound(title="Not a file",
                                      description=f"{oid} is a structured object, not a file")
        name = download_name(req.get_param("name")) or oid
        resp.set_header("Content-Disposition", f'attachment; filename="{name}"')
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.etag = oid
        send_blob(self.store, resp, oid)


class TreePage(Page):
    """A directory by its tree hash: its entries (folders browsable, files linked to their
    file page and download), the way back up, and the whole tree as a tar."""

    def __init__(self, service: WorkflowService, render: Renderer, store: ObjectStore) -> None:
        super().__init__(service, render)
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        root = self.service.tree_hash(hash_param(hash))  # NotATree → 400, unknown → 404
        path = tree_path(req.get_param("path") or "")
        here = entry_at(self.store, root, path) if path else None
        if here is not None and here.kind != "dir":
            raise falcon.HTTPBadRequest(title="Not a directory",
                                        description=f"{path!r} is a file in {root}")
        listing = self.service.get_tree(here.oid if here else root)
        parts = path.split("/") if path else []
        crumbs = [("/".join(parts[:i + 1]), part) for i, part in enumerate(parts)]
        self.render(req, resp, "tree.html", title=f"Tree {root[:12]}", root=root, path=path,
                    crumbs=crumbs, tree=listing)


def tree_path(text: str) -> str:
    """A path inside a tree as a query gives it, normalized (no empty, `.` or `..` parts)."""
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts or len(text) > MAX_PATH_BYTES:
        raise falcon.HTTPBadRequest(title="Invalid path",
                                    description=f"{excerpt(text)} is not a path inside a tree")
    return "/".join(parts)


class TreeArchive(Page):
    """The tree as a tar attachment, every file verified as it is sent."""

    def __init__(self, service: WorkflowService, store: ObjectStore) -> None:
        self.service, self.store = service, store

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        root = self.service.tree_hash(hash_param(hash))
        resp.content_type = "application/x-tar"
        resp.set_header("Content-Disposition", f'attachment; filename="{root[:12]}.tar"')
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.etag = root
        resp.stream = archive_tree(self.store, root)
