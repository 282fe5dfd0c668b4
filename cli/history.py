"""`wfobj run explain|resume|reproduce|compare`, `wfobj file`, `wfobj lineage` and
`wfobj reindex`: what the task cache and the file index answer (docs/cache.md)."""

from __future__ import annotations

import json
import sys

import click

from .context import CliContext, json_option, pass_ctx
from .human import shown
from .runs import run, wait_for
from .workflows import local_user


def short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 72 else text[:71] + "…"


@click.command("explain")
@click.argument("run_id")
@click.argument("task")
@json_option
@pass_ctx
def explain(ctx: CliContext, run_id: str, task: str) -> None:
    """TASK's cache key in RUN: its parts, whether it hit, and on a miss what changed."""
    def human(e: dict) -> None:
        click.echo(f"key        {e['key'] or '-'}")
        if e["hit"]:
            click.echo(f"hit        reused evidence {e['cached_from']}")
        else:
            click.echo("miss" + (f"       ({e['reason']})" if e.get("reason") else ""))
        for name, value in (e["components"] or {}).items():
            click.echo(f"  {name:<28} {short(value)}")
        near = e["nearest"]
        if near is not None:
            click.echo(f"nearest    run {near['run_id']} key {near['key']}")
            for d in near["differs"] or []:
                click.echo(f"  {d['component']:<28} was {short(d['was'])}  now {short(d['now'])}")
            if not near["differs"]:
                click.echo("  (same key)")
        elif not e["hit"]:
            click.echo("nearest    none: no earlier attempt of this task in this workflow")

    ctx.emit(ctx.service().explain_task(run_id, task), human)


def repeat(ctx: CliContext, verb: str, run_id: str, wait: bool) -> tuple[dict, dict | None]:
    """Start a resume or reproduce of RUN; with wait, also its end."""
    svc = ctx.service()
    started = getattr(svc, verb)(run_id, user=local_user())
    return started, wait_for(ctx, svc, started["run_id"]) if wait else None


@click.command("resume")
@click.argument("run_id")
@click.option("--wait", is_flag=True, help="Wait for the end (runs it here if no worker does).")
@json_option
@pass_ctx
def resume(ctx: CliContext, run_id: str, wait: bool) -> None:
    """A new run of RUN's definition and parameters, cache on: finished tasks are reused."""
    from wfobj.engine import RunStatus

    started, final = repeat(ctx, "resume", run_id, wait)
    if final is None:
        ctx.emit(started, lambda r: click.echo(f"{r['run_id']} {r['state']} (resumes {run_id})"))
        return
    ctx.emit(final, lambda r: click.echo(f"{r['run_id']} {r['state']} (resumes {run_id})"))
    if final["state"] != RunStatus.SUCCESS:
        sys.exit(1)


@click.command("reproduce")
@click.argument("run_id")
@click.option("--wait", is_flag=True, help="Wait for the end, then print the comparison.")
@json_option
@pass_ctx
def reproduce(ctx: CliContext, run_id: str, wait: bool) -> None:
    """A new run of RUN's definition and parameters, cache off, images pinned to the ids
    RUN recorded; with --wait, ends by comparing the two runs."""
    started, final = repeat(ctx, "reproduce", run_id, wait)
    if final is None:
        ctx.emit(started, lambda r: click.echo(f"{r['run_id']} {r['state']} (reproduces {run_id})"))
        return
    comparison = ctx.service().compare_runs(run_id, started["run_id"])

    def human(d: dict) -> None:
        click.echo(f"{d['run']['run_id']} {d['run']['state']} (reproduces {run_id})")
        print_comparison(d["compare"])

    ctx.emit({"run": final, "compare": comparison}, human)
    if not comparison["identical"]:
        sys.exit(1)


@click.command("compare")
@click.argument("a")
@click.argument("b")
@json_option
@pass_ctx
def compare(ctx: CliContext, a: str, b: str) -> None:
    """Compare runs A and B by content: per task state, exit code, outputs and vars."""
    ctx.emit(ctx.service().compare_runs(a, b), print_comparison)


def print_comparison(c: dict) -> None:
    click.echo(f"a {c['a']}\nb {c['b']}")
    click.echo(f"definition {'same' if c['same_definition'] else 'different'}, parameters "
               f"{'same' if c['same_parameters'] else 'different'}: "
               f"{'IDENTICAL' if c['identical'] else 'DIFFERENT'}")
    for t in c["tasks"]:
        click.echo(f"  {'=' if t['same'] else '≠'} {t['task']:<24} state {shown(t['state'][0])}/"
                   f"{shown(t['state'][1])}  exit {shown(t['exit_code'][0])}/"
                   f"{shown(t['exit_code'][1])}")
        for o in t["outputs"]:
            if not o["same"]:
                click.echo(f"      output {o['path']}: {o['a'] or '-'} vs {o['b'] or '-'}")
            for p in o.get("paths", ()):  # inside an output folder on both sides
                click.echo(f"        {p['change']:<8} {o['path']}/{p['path']}: "
                           f"{p['a'] or '-'} vs {p['b'] or '-'}")
        for v in t["vars"]:
            if not v["same"]:
                click.echo(f"      var {v['name']}: {short(v['a'])} vs {short(v['b'])}")
        for s in t.get("secrets", ()):
            click.echo(f"      secret {s['name']}: {'same' if s['same'] else 'different'} "
                       "value" + ("" if s["a"] and s["b"] else
                                  f" (used only in {'a' if s['a'] else 'b'})"))


@click.command("file")
@click.argument("hash_")
@json_option
@pass_ctx
def file_cmd(ctx: CliContext, hash_: str) -> None:
    """Every run that produced HASH, used it as an input, or took it as a parameter."""
    def human(f: dict) -> None:
        click.echo(f"file {f['hash']} ({shown(f['size'])} B)")
        for p in f["produced_by"]:
            via = f" (cache hit of {p['cached_from']})" if p.get("cached_from") else ""
            click.echo(f"  produced by  {p['run_id']} {p['task']} {p['path']} "
                       f"attempt {p['attempt']}{via}")
        for u in f["used_by"]:
            click.echo(f"  used by      {u['run_id']} {u['task']} /in/{u['input']}")
        for p in f["parameter_of"]:
            click.echo(f"  parameter of {p['run_id']} {p['param']}")

    ctx.emit(ctx.service().file_info(hash_), human)


@click.command("lineage")
@click.argument("hash_")
@click.option("--up", "direction", flag_value="up", default=True,
              help="What the file was made from (default).")
@click.option("--down", "direction", flag_value="down", help="What was made from the file.")
@click.option("--depth", default=10, show_default=True, type=click.IntRange(1, 100),
              help="How many tasks to follow.")
@json_option
@pass_ctx
def lineage_cmd(ctx: CliContext, hash_: str, direction: str, depth: int) -> None:
    """The lineage of file HASH across every run in the store."""
    def human(graph: dict) -> None:
        for edge in graph["edges"]:
            click.echo(f"{edge['from']} -[{edge['kind']}]-> {edge['to']}")

    ctx.emit(ctx.service().file_lineage(hash_, direction=direction, depth=depth), human)


@click.command("reindex")
@json_option
@pass_ctx
def reindex(ctx: CliContext) -> None:
    """Rebuild the run list, task cache and file indexes of --store from its runs."""
    from wfobj.engine import WorkflowService

    count = WorkflowService(ctx.store()).reindex()
    ctx.emit({"runs": count}, lambda r: click.echo(f"reindexed {r['runs']} runs"))


def register(group: click.Group) -> None:
    """Add this module's commands to `group`; its run verbs join `run` (cli/runs.py)."""
    for command in (explain, resume, reproduce, compare):
        run.add_command(command)
    for command in (file_cmd, lineage_cmd, reindex):
        group.add_command(command)
