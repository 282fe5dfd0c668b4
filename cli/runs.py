"""`wfobj run …` and `wfobj worker`: trigger, inspect and kill runs; serve engine workers."""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from .context import CliContext, Command, executor_options, json_option, late_options, pass_ctx
from .human import seconds, shown, table, transition
from .run_ref import run_id_argument, strip_workflow_prefix
from .serving import OPENLINEAGE_ENV
from .trees import store_folder
from .workflows import local_user

if TYPE_CHECKING:
    from wfobj.engine import ExecutorSettings


@click.group("run")
def run() -> None:
    """Trigger, inspect and kill runs."""


def split_params(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="-p")
        out[name] = value
    return out


def upload_files(ctx: CliContext, svc, pairs: dict[str, str]) -> dict[str, str]:
    """`NAME=@FILE` puts FILE in the store and passes its hash; `NAME=@DIR` stores DIR as
    a tree (on --server, as a streamed tar) and passes the tree's hash."""
    out = dict(pairs)
    for name, value in pairs.items():
        if value.startswith("@") and os.path.isdir(value[1:]):
            out[name] = store_folder(ctx, value[1:])["hash"]
        elif value.startswith("@"):
            try:
                with open(value[1:], "rb") as f:
                    out[name] = svc.put_file(f)["hash"]
            except OSError as exc:
                raise click.BadParameter(f"{name}: cannot read {value[1:]}: {exc.strerror}",
                                         param_hint="-p") from None
    return out


def with_file_names(params: dict, pairs: dict[str, str], values: dict) -> dict:
    """A `file` or `dir` param given as `@PATH` goes by PATH's name in the run
    (`{"hash", "name"}`: `-p reads=@./r1.fq.gz` is named `r1.fq.gz`)."""
    out = dict(values)
    for name, text in pairs.items():
        spec = params.get(name)
        base = os.path.basename(text[1:].rstrip("/"))
        if text.startswith("@") and spec is not None and spec.type in ("file", "dir") \
                and base not in ("", ".", ".."):
            out[name] = {"hash": values[name], "name": base}
    return out


@run.command("trigger")
@click.argument("name", required=False)
@click.option("--hash", "definition_hash", help="Trigger this definition hash (pinned).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter; NAME=@FILE uploads FILE and passes its hash, NAME=@DIR "
                   "a folder as a tree.")
@click.option("--wait", is_flag=True, help="Wait for the end (runs it here if no worker does).")
@click.option("--no-cache", is_flag=True, help="Reuse no earlier attempt: run every task.")
@json_option
@pass_ctx
def trigger(ctx: CliContext, name: str | None, definition_hash: str | None,
            params: tuple[str, ...], wait: bool, no_cache: bool) -> None:
    """Start a run of workflow NAME (or of --hash H) with parameters."""
    if (name is None) == (definition_hash is None):
        raise click.UsageError("give a workflow NAME or --hash H (one of them)")
    from wfobj.engine import Definition, RunStatus, parse_text_values

    svc = ctx.service()
    name = strip_workflow_prefix(name)
    declared = (svc.get_workflow(name) if name else svc.get_definition(definition_hash))
    definition = Definition.from_json(declared["definition_hash"], declared["definition"])
    pairs = split_params(params)
    values = parse_text_values(definition.params, upload_files(ctx, svc, pairs))
    values = with_file_names(definition.params, pairs, values)
    started = svc.trigger(name=name, definition_hash=definition_hash, parameters=values,
                          user=local_user(), **({"cache": False} if no_cache else {}))
    if not wait:
        ctx.emit(started, lambda r: click.echo(f"{r['run_id']} {r['state']}"))
        return
    final = wait_for(ctx, svc, started["run_id"])
    tasks = every_task(svc, started["run_id"])
    ctx.emit({"run": final, "tasks": tasks}, lambda d: print_run_with_evidence(d))
    if final["state"] != RunStatus.SUCCESS:
        sys.exit(1)


def every_task(svc, run_id: str, page: int = 1000) -> list[dict]:
    """The evidence of all of a run's tasks, a page at a time (a fanned-out run may have
    100,000 instances)."""
    tasks: list[dict] = []
    while True:
        got = svc.run_tasks(run_id, start=len(tasks), limit=page)
        tasks.extend(got)
        if len(got) < page:
            return tasks


def wait_for(ctx: CliContext, svc, run_id: str) -> dict:
    """Wait for the run's end (running it here if no worker does) and return it.
    Ctrl-C (or SIGTERM) once: the run winds down and ends, evidence kept; twice: at once."""
    from wfobj.cli.processes.lifeline import stop_on_signals

    with stop_on_signals(threading.Event()) as stop:
        return svc.wait(run_id, on_progress=None if ctx.json else ProgressLines(), stop=stop,
                        on_waiting=lambda why: click.echo(f"wfobj: {why}", err=True))


class ProgressLines:
    """--wait's stderr: one `TIME  TASK  OLD -> NEW` line per state change as it is
    seen (`(run)` for the run itself; the first look shows states without an arrow)."""

    def __init__(self) -> None:
        self.last: dict | None = None

    def __call__(self, run: dict) -> None:
        from wfobj.engine import state_changes

        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for change in state_changes(self.last, run):
            what = change.task if change.task is not None else "(run)"
            click.echo(f"{at}  {what:<20} {transition(change.old, change.new)}", err=True)
        self.last = run


def print_run_with_evidence(data: dict) -> None:
    r = data["run"]
    click.echo(f"run {r['run_id']} {r['state']}  workflow {r['workflow']}  "
               f"definition {r['definition_hash']}")
    click.echo(f"manifest {r['manifest_hash']}")
    for ev in data["tasks"]:
        click.echo("")
        click.echo(f"task {ev['task']}: {ev['state']} (attempt {ev['attempt']})")
        if ev.get("evidence_hash"):
            print_evidence(ev)


def print_evidence(ev: dict) -> None:
    click.echo(f"  evidence  {ev['evidence_hash']}")
    click.echo(f"  image     {ev['image']} {ev['image_id'] or ''}".rstrip())
    click.echo(f"  command   {json.dumps(ev['command'])}")
    click.echo(f"  exit      {shown(ev['exit_code'])}  {seconds(ev['duration_s'])}  "
               f"host {(ev.get('host') or {}).get('name', '?')}")
    for i in ev["inputs"]:
        click.echo(f"  input     {i['path']} {i['hash']} ({i['size']} B)")
    for o in ev["outputs"]:
        click.echo(f"  output    {o['path']} {o['hash']} ({o['size']} B)")
    for k, v in ev["vars"].items():
        click.echo(f"  var       {k}={v}")
    for stream in ("stdout", "stderr"):
        s = ev[stream]
        click.echo(f"  {stream:<9} {s['hash']} ({s['size']} B)")
    if ev.get("error"):
        click.echo(f"  error     {ev['error']}")
    if ev.get("child"):  # a sub-workflow task's child run
        click.echo(f"  child     run {ev['child']['run_id']}")
    if ev.get("retry"):
        got = ", ".join(f"{k} {shown(ev['retry']['resources'].get(k))}"
                        for k in ("cpus", "memory", "pids"))
        click.echo(f"  retry     waited {seconds(ev['retry']['delay_s'])}; {got}")


def _state_option() -> list[click.Parameter]:
    from wfobj.engine import RunStatus

    return [click.Option(["--state"], type=click.Choice([str(s) for s in RunStatus]))]


@run.command("list", cls=Command)
@click.option("--workflow", help="Only runs of this workflow.")
@late_options(_state_option)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--cursor", help="Continue after a previous page.")
@json_option
@pass_ctx
def list_(ctx: CliContext, workflow: str | None, state: str | None, limit: int,
          cursor: str | None) -> None:
    """Runs, newest first."""
    def human(page: dict) -> None:
        table(f"{'RUN':<36}  {'STATE':<8} {'WORKFLOW':<20} CREATED",
              (f"{r['run_id']}  {r['state']:<8} {r['workflow']:<20} {r['created_at']}"
               + (f"  (damaged: {r['damaged']})" if "damaged" in r else "")
               for r in page["runs"]))
        if page["next_cursor"]:
            click.echo(f"(more: --cursor {page['next_cursor']})")

    ctx.emit(ctx.service().list_runs(workflow=strip_workflow_prefix(workflow), state=state, limit=limit, cursor=cursor),
             human)


@run.command("show")
@run_id_argument
@json_option
@pass_ctx
def show(ctx: CliContext, run_id: str) -> None:
    """A run's record and state."""
    def human(r: dict) -> None:
        for key in ("run_id", "workflow", "state", "definition_hash", "manifest_hash",
                    "engine_version", "triggered_by", "created_at", "started_at", "ended_at"):
            click.echo(f"{key:<16} {shown(r[key])}")
        click.echo(f"{'parameters':<16} {json.dumps(r['parameters'])}")
        if r.get("parent"):  # a sub-workflow's child run
            click.echo(f"{'parent':<16} {r['parent']['run_id']} task {r['parent']['task']}")
        for task, state in r["tasks"].items():
            click.echo(f"  {task:<24} {state}")

    ctx.emit(ctx.service().get_run(run_id), human)


@run.command("tasks")
@run_id_argument
@json_option
@pass_ctx
def tasks(ctx: CliContext, run_id: str) -> None:
    """Evidence of every task's last attempt, in topological order."""
    def human(rows: list[dict]) -> None:
        table(f"{'TASK':<24} {'STATE':<8} ATTEMPT  EVIDENCE",
              (f"{ev['task']:<24} {ev['state']:<8} {ev['attempt']:<7}  "
               f"{shown(ev.get('evidence_hash'))}" for ev in rows))

    ctx.emit(every_task(ctx.service(), run_id), human)


@run.command("task")
@run_id_argument
@click.argument("task")
@json_option
@pass_ctx
def task(ctx: CliContext, run_id: str, task: str) -> None:
    """Evidence of TASK's last attempt, with every attempt's hash."""
    def human(ev: dict) -> None:
        click.echo(f"task {ev['task']}: {ev['state']} (attempt {ev['attempt']})")
        if ev.get("evidence_hash"):
            print_evidence(ev)
        click.echo(f"  attempts  {' '.join(ev['attempts']) or '-'}")

    ctx.emit(ctx.service().run_task(run_id, task), human)


@run.command("files")
@run_id_argument
@click.option("-r", "--recursive", is_flag=True,
              help="Also list every file inside output folders, by its full path.")
@json_option
@pass_ctx
def files(ctx: CliContext, run_id: str, recursive: bool) -> None:
    """Every file (and folder, a tree: `dir/`) the run produced."""
    def human(rows: list[dict]) -> None:
        table(f"{'HASH':<64}  {'SIZE':>10}  TASK/PATH", (
            f"{f['hash']}  {f['size']:>10}  {f['task']}/{f['path']}"
            f"{'/' if f.get('kind') == 'dir' else ''}" for f in rows))

    ctx.emit(ctx.service().run_files(run_id, recursive=recursive), human)


@run.command("lineage")
@run_id_argument
@json_option
@pass_ctx
def lineage(ctx: CliContext, run_id: str) -> None:
    """The input → task → output graph of the run."""
    def human(graph: dict) -> None:
        for edge in graph["edges"]:
            click.echo(f"{edge['from']} -[{edge['kind']}]-> {edge['to']}")

    ctx.emit(ctx.service().run_lineage(run_id), human)


@run.command("audit")
@run_id_argument
@json_option
@pass_ctx
def audit(ctx: CliContext, run_id: str) -> None:
    """The run's hash-chained audit trail, oldest first."""
    def human(rows: list[dict]) -> None:
        for e in rows:
            task = f" {e['task']}" if e["task"] else ""
            reason = f"  ({e['reason']})" if e["reason"] else ""
            click.echo(f"{e['seq']:>4} {e['at']} {e['actor']:<28} {e['event']}{task}: "
                       f"{transition(e['from'], e['to'])}{reason}")

    ctx.emit(ctx.service().run_audit(run_id), human)


@run.command("kill")
@run_id_argument
@json_option
@pass_ctx
def kill(ctx: CliContext, run_id: str) -> None:
    """Kill a run: at once if pending, else its worker stops its containers."""
    from wfobj.engine import RunStatus

    ctx.emit(ctx.service().kill_run(run_id, user=local_user()),
             lambda r: click.echo(f"{r['run_id']} {r['state']}"
                                  + (" (kill requested)" if r["state"] == RunStatus.RUNNING else "")))


@run.command("logs")
@run_id_argument
@click.argument("task", required=False)
@click.option("-f", "--follow", is_flag=True,
              help="Print TASK's output as it is written, until its attempt ends.")
@json_option
@pass_ctx
def logs(ctx: CliContext, run_id: str, task: str | None, follow: bool) -> None:
    """Full stdout and stderr of TASK's last attempt (every task without TASK)."""
    svc = ctx.service()
    if follow:
        if not task:
            raise click.UsageError("--follow needs a TASK")
        follow_logs(ctx, svc, run_id, task)
        return
    names = [task] if task else list(svc.get_run(run_id)["tasks"])
    rows = [svc.run_logs(run_id, name) for name in names]

    def human(items: list[dict]) -> None:
        for item in items:
            if not task:
                click.echo(f"== {item['task']} (attempt {item['attempt']}) ==")
            click.echo(item["stdout"], nl=False)
            click.echo(item["stderr"], nl=False, err=True)

    ctx.emit(rows, human)


def follow_logs(ctx: CliContext, svc, run_id: str, task: str) -> None:
    """Print each piece of output as it arrives (stdout to stdout, stderr to stderr);
    with --json, every record of the log stream as one JSON line."""
    from wfobj.engine import follow_to_end

    for item in follow_to_end(svc.follow_logs, run_id, task):
        if ctx.json:
            click.echo(json.dumps(item))
        elif item["type"] == "output":
            click.echo(item["text"], nl=False, err=item["stream"] == "stderr")
            (sys.stderr if item["stream"] == "stderr" else sys.stdout).flush()


@click.command("worker", cls=Command)
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 1024),
              help="Tasks of one run running at once.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes.")
@click.option("--max-instances", default=10_000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="Instances one fanned-out task may have; more fails the task (docs/workflow-format.md).")
@click.option("--openlineage-url", metavar="URL", envvar=OPENLINEAGE_ENV,
              help="Post each run's OpenLineage events to URL/api/v1/lineage as it runs "
                   "(docs/exports.md); also $WFOBJ_OPENLINEAGE_URL.")
@click.option("--hook-deliverer/--no-hook-deliverer", default=True, show_default=True,
              help="Also run the webhook deliverer (`wfobj hook deliver`, docs/events.md) "
                   "as a process of its own.")
@click.option("--hook-timeout", default=10.0, show_default=True,
              type=click.FloatRange(0.1, 600), metavar="S",
              help="Seconds the deliverer waits for a webhook receiver to connect, and for "
                   "each read of its answer.")
@executor_options
@pass_ctx
def worker(ctx: CliContext, concurrency: int, workers: int, max_instances: int,
           openlineage_url: str | None, hook_deliverer: bool, hook_timeout: float,
           executor: ExecutorSettings) -> None:
    """Engine workers alone: claim pending runs on --store and execute them (--executor).
    With --workers N or the webhook deliverer (the default), each worker and the deliverer
    is a process started and owned by cli/processes/supervisor.py."""
    import logging
    import os

    from wfobj.cli.processes.supervisor import run_engine_workers
    from wfobj.engine import check_executor, ensure_counters, executor_factory

    from .file_modes import warn_if_exposed
    from .processes.worker import serve_worker
    from .serving import (
        child_environment,
        deliverer_argv,
        engine_worker_argv,
        openlineage_environment,
    )

    ctx.store()  # fail early with a readable line if there is no store
    warn_if_exposed("wfobj worker", ctx.store_path)
    factory = executor_factory(executor)
    check_executor(factory)  # one line naming what is missing, before any run is claimed
    ensure_counters(ctx.store())  # count an older store's runs before any of them moves
    if workers > 1 or hook_deliverer:
        store = os.path.abspath(ctx.store_path)
        argv = engine_worker_argv(store, executor, concurrency, max_instances)
        env = child_environment(store, ctx.config_path) | openlineage_environment(openlineage_url)
        sys.exit(run_engine_workers(argv, workers, env, deliverer_argv(store, hook_timeout)
                                    if hook_deliverer else None))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(message)s")
    feed = None
    if openlineage_url:
        from wfobj.engine import OpenLineageFeed

        feed = OpenLineageFeed(openlineage_url).step
    serve_worker(ctx.store_path, factory, concurrency=concurrency, on_run_step=feed,
                 max_instances=max_instances)


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(run)
    group.add_command(worker)
