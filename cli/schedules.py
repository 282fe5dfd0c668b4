"""`wfobj schedule …`, `wfobj tag`, `wfobj data …`, `wfobj trigger-on` and `wfobj
triggers …`: runs that start themselves on a clock or when data moves
(docs/schedules-and-triggers.md). Thin over the service, local or --server."""

from __future__ import annotations

import click

from .context import CliContext, json_option, pass_ctx
from .human import table
from .runs import split_params, upload_files
from .workflows import local_user

CATCHUP = ("none", "latest", "all")


@click.group("schedule")
def schedule_group() -> None:
    """Start runs of a workflow on a cron schedule (admin on a server)."""


def _show(view: dict) -> None:
    state = "paused" if view["paused"] else "active"
    pin = f" pinned {view['pinned'][:12]}" if view["pinned"] else ""
    click.echo(f"{view['name']} v{view['version']} ({state}): {view['cron']} "
               f"[{view['timezone']}] -> {view['workflow']}{pin}, catchup {view['catchup']}")
    for slot in view["next_slots"]:
        click.echo(f"  next {slot}")
    last = view.get("last")
    if last:
        click.echo(f"  last {last['slot']} {_slot_outcome(last)}"
                   + (f", {last['missed']} slot(s) missed" if last.get("missed") else ""))
    for change in view.get("history", []):
        click.echo(f"  v{change['version']} {change['change']} by {change['changed_by']} "
                   f"at {change['changed_at']}")


def _slot_outcome(last: dict) -> str:
    if last["run_id"]:
        return f"run {last['run_id']}"
    return f"no run: {last['error']}" if last["error"] else "no run (missed)"


@schedule_group.command("add")
@click.argument("name")
@click.option("--cron", required=True, metavar="EXPR",
              help="Five cron fields (minute hour day month weekday) or @hourly, @daily, …")
@click.option("--workflow", required=True, help="The workflow each slot runs.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter of every run (NAME=@FILE uploads a file or directory).")
@click.option("--timezone", default="UTC", show_default=True,
              help="IANA time zone the cron fields are read in.")
@click.option("--pin", is_flag=True,
              help="Run the definition current now, not the newest at each slot.")
@click.option("--catchup", type=click.Choice(CATCHUP), default="none", show_default=True,
              help="Slots missed while nothing ran: none, the latest, or all (at most 100).")
@json_option
@pass_ctx
def add(ctx: CliContext, name: str, cron: str, workflow: str, params: tuple[str, ...],
        timezone: str, pin: bool, catchup: str) -> None:
    """Create schedule NAME, or change it (every change is kept in its history)."""
    from wfobj.engine import Definition, parse_text_values

    svc = ctx.service()
    declared = svc.get_workflow(workflow)
    definition = Definition.from_json(declared["definition_hash"], declared["definition"])
    values = parse_text_values(definition.params, upload_files(ctx, svc, split_params(params)))
    view = svc.add_schedule(name, cron=cron, workflow=workflow, parameters=values,
                            timezone=timezone, pin=pin, catchup=catchup, user=local_user())
    ctx.emit(view, _show)


@schedule_group.command("list")
@json_option
@pass_ctx
def list_schedules(ctx: CliContext) -> None:
    """Schedules and their next slot."""
    def human(rows: list[dict]) -> None:
        table(f"{'NAME':<20} {'STATE':<7} {'CRON':<16} {'TIMEZONE':<16} {'NEXT SLOT':<28} "
              "WORKFLOW",
              (f"{r['name']:<20} {'paused' if r['paused'] else 'active':<7} {r['cron']:<16} "
               f"{r['timezone']:<16} {(r['next_slots'] or ['-'])[0]:<28} {r['workflow']}"
               for r in rows))

    ctx.emit(ctx.service().list_schedules(), human)


@schedule_group.command("show")
@click.argument("name")
@json_option
@pass_ctx
def show(ctx: CliContext, name: str) -> None:
    """A schedule: settings, next slots, last slot, and its history of changes."""
    ctx.emit(ctx.service().get_schedule(name), _show)


@schedule_group.command("pause")
@click.argument("name")
@json_option
@pass_ctx
def pause(ctx: CliContext, name: str) -> None:
    """Pause a schedule: its slots start nothing until it is resumed."""
    ctx.emit(ctx.service().pause_schedule(name, user=local_user()), _show)


@schedule_group.command("resume")
@click.argument("name")
@json_option
@pass_ctx
def resume(ctx: CliContext, name: str) -> None:
    """Resume a schedule; slots that passed while it was paused never start."""
    ctx.emit(ctx.service().resume_schedule(name, user=local_user()), _show)


@schedule_group.command("rm")
@click.argument("name")
@json_option
@pass_ctx
def remove(ctx: CliContext, name: str) -> None:
    """Remove a schedule (its history stays in the store)."""
    ctx.emit(ctx.service().remove_schedule(name, user=local_user()),
             lambda d: click.echo(f"removed schedule {d['name']} (version {d['version']})"))


# ---- data refs ------------------------------------------------------------------------
@click.command("tag")
@click.argument("ref", metavar="data/NAME")
@click.argument("target", metavar="HASH")
@click.option("--old", metavar="HASH", help="Move only if the ref points at HASH now.")
@click.option("--new", "new_only", is_flag=True, help="Only if the ref does not exist yet.")
@json_option
@pass_ctx
def tag(ctx: CliContext, ref: str, target: str, old: str | None, new_only: bool) -> None:
    """Point the data ref data/NAME at a file (blob) or directory (tree), by
    compare-and-swap; workflows subscribed with trigger-on start runs on new content."""
    if old and new_only:
        raise click.UsageError("give --old HASH or --new, not both")
    moved = ctx.service().tag_data(ref, target, old=old, new_only=new_only)
    ctx.emit(moved, lambda d: click.echo(f"{d['ref']} -> {d['hash']} ({d['kind']})"
                                         + (f", was {d['previous']}" if d["previous"] else "")))


@click.group("data")
def data_group() -> None:
    """Data refs (data/NAME): named inputs that trigger runs when they move."""


@data_group.command("list")
@json_option
@pass_ctx
def list_data(ctx: CliContext) -> None:
    """Every data ref, its hash and kind."""
    ctx.emit(ctx.service().list_data(), lambda rows: table(
        f"{'REF':<32} {'KIND':<5} HASH",
        (f"{r['ref']:<32} {r['kind']:<5} {r['hash']}" for r in rows)))


@data_group.command("show")
@click.argument("ref", metavar="data/NAME")
@json_option
@pass_ctx
def show_data(ctx: CliContext, ref: str) -> None:
    """Where a data ref points."""
    ctx.emit(ctx.service().get_data(ref),
             lambda d: click.echo(f"{d['ref']} -> {d['hash']} ({d['kind']})"))


# ---- data triggers --------------------------------------------------------------------
def _trigger_options(fn):
    fn = click.option("--param", required=True, help="The file or dir param set to the "
                      "new content's hash.")(fn)
    fn = click.option("--workflow", required=True, help="The workflow to run.")(fn)
    return click.argument("ref", metavar="data/NAME")(fn)


@click.command("trigger-on")
@_trigger_options
@click.option("-p", "--param-value", "params", multiple=True, metavar="NAME=VALUE",
              help="A value of one of the workflow's other params, for every run.")
@json_option
@pass_ctx
def trigger_on(ctx: CliContext, ref: str, workflow: str, param: str,
               params: tuple[str, ...]) -> None:
    """Run WORKFLOW with PARAM = the new hash each time data/NAME moves to content its
    definition never ran on (admin on a server)."""
    from wfobj.engine import Definition, parse_text_values

    svc = ctx.service()
    declared = svc.get_workflow(workflow)
    definition = Definition.from_json(declared["definition_hash"], declared["definition"])
    values = parse_text_values(definition.params, upload_files(ctx, svc, split_params(params)))
    view = svc.add_trigger(ref, workflow=workflow, param=param, parameters=values,
                           user=local_user())
    ctx.emit(view, lambda d: click.echo(
        f"{'subscribed' if d['created'] else 'already subscribed'}: {d['ref']} -> "
        f"{d['workflow']} (param {d['param']})"))


@click.group("triggers")
def triggers_group() -> None:
    """Data-trigger subscriptions made with trigger-on."""


@triggers_group.command("list")
@json_option
@pass_ctx
def list_triggers(ctx: CliContext) -> None:
    """Subscriptions, and the last content each saw."""
    def human(rows: list[dict]) -> None:
        table(f"{'REF':<24} {'WORKFLOW':<20} {'PARAM':<12} LAST",
              (f"{r['ref']:<24} {r['workflow']:<20} {r['param']:<12} {_last(r['last'])}"
               for r in rows))

    ctx.emit(ctx.service().list_triggers(), human)


def _last(last: dict | None) -> str:
    if last is None:
        return "-"
    if last["run_id"]:
        return f"{last['hash'][:12]} run {last['run_id']}"
    if last["error"]:
        return f"{last['hash'][:12]} no run: {last['error']}"
    return f"{last['hash'][:12]} already run ({last['already_run_by']})"


@triggers_group.command("rm")
@_trigger_options
@json_option
@pass_ctx
def remove_trigger(ctx: CliContext, ref: str, workflow: str, param: str) -> None:
    """End a subscription."""
    ctx.emit(ctx.service().remove_trigger(ref, workflow=workflow, param=param),
             lambda d: click.echo(f"removed: {d['ref']} -> {d['workflow']} ({d['param']})"))


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    for command in (schedule_group, tag, data_group, trigger_on, triggers_group):
        group.add_command(command)
