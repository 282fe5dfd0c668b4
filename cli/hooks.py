"""`wfobj hook add|list|rm|deliveries|deliver`: webhooks (admin; docs/events.md)."""

from __future__ import annotations

import click

from .context import CliContext, Command, json_option, pass_ctx
from .human import table
from .workflows import local_user


@click.group("hook")
def hook_group() -> None:
    """Webhooks: run events POSTed as signed CloudEvents to URLs (admin)."""


@hook_group.command("add", cls=Command)
@click.argument("url")
@click.option("--events", required=True, metavar="E1,E2,…",
              help="run.created, run.started, run.succeeded, run.failed, run.killed, "
                   "task.failed (comma-separated)")
@click.option("--secret-name", metavar="S",
              help="sign each event with HMAC-SHA256 under secret S (wfobj secret set)")
@json_option
@pass_ctx
def add(ctx: CliContext, url: str, events: str, secret_name: str | None) -> None:
    """Send the --events of every run to URL."""
    names = [e.strip() for e in events.split(",") if e.strip()]
    ctx.emit(ctx.service().add_hook(url, names, secret_name=secret_name, user=local_user()),
             lambda h: click.echo(f"hook {h['id']}: {', '.join(h['events'])} -> {h['url']}"
                                  + (f" (signed with {h['secret_name']})"
                                     if h["secret_name"] else "")))


@hook_group.command("list")
@json_option
@pass_ctx
def list_hooks(ctx: CliContext) -> None:
    """List hooks: id, events, URL, secret name."""

    def human(rows: list[dict]) -> None:
        table(f"{'ID':<12}  {'SECRET':<12} {'EVENTS':<40} URL",
              (f"{r['id']:<12}  {r['secret_name'] or '-':<12} {','.join(r['events']):<40} "
               f"{r['url']}" for r in rows))

    ctx.emit(ctx.service().list_hooks(), human)


@hook_group.command("rm")
@click.argument("hook_id")
@json_option
@pass_ctx
def remove(ctx: CliContext, hook_id: str) -> None:
    """Remove hook HOOK_ID; its events not delivered yet are dropped."""
    ctx.emit(ctx.service().remove_hook(hook_id, user=local_user()),
             lambda h: click.echo(f"removed hook {h['id']} ({h['url']})"))


@hook_group.command("changes")
@json_option
@pass_ctx
def changes(ctx: CliContext) -> None:
    """Every add and remove of a hook, oldest first: when, who, what."""

    def human(rows: list[dict]) -> None:
        table(f"{'AT':<27}  {'HOOK':<12}  {'CHANGE':<7} {'BY':<16} URL",
              (f"{r['at']:<27}  {r['hook']:<12}  {'added' if r['new'] else 'removed':<7} "
               f"{r['user']:<16} {(r['new'] or r['old'])['url']}" for r in rows))

    ctx.emit(ctx.service().hook_changes(), human)


@hook_group.command("deliveries")
@click.option("--hook", "hook_id", metavar="ID", help="only this hook's deliveries")
@click.option("--run", "run_ref", metavar="RUN", help="only this run's (id, prefix or latest)")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@json_option
@pass_ctx
def deliveries(ctx: CliContext, hook_id: str | None, run_ref: str | None, limit: int) -> None:
    """Deliveries newest first: event, state, tries, last status and error."""
    from wfobj.engine import resolve_run_id

    run_id = resolve_run_id(ctx.service().list_runs, run_ref, None) if run_ref else None

    def human(rows: list[dict]) -> None:
        table(f"{'EVENT':<40}  {'TYPE':<22} {'HOOK':<12}  {'STATE':<9} TRIES STATUS  ERROR",
              (f"{r['event_id']:<40}  {r['type'].removeprefix('org.wfobj.'):<22} "
               f"{r['hook']:<12}  {r['state']:<9} {r['tries']:>5} {r['status'] or '-':>6}  "
               f"{r['error'] or ''}" for r in rows))

    ctx.emit(ctx.service().hook_deliveries(hook=hook_id, run_id=run_id, limit=limit), human)


@hook_group.command("deliver", cls=Command)
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256),
              help="deliveries in flight at once")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="seconds to connect to a receiver, and for each read of its answer")
@click.option("--max-tries", default=8, show_default=True, type=click.IntRange(1, 100),
              help="tries of one delivery before it is given up as failed")
@click.option("--log-days", default=30.0, show_default=True, type=click.FloatRange(0, 36500),
              help="keep the delivery log of the runs of this many days (0: keep it all)")
@pass_ctx
def deliver(ctx: CliContext, concurrency: int, timeout: float, max_tries: int,
            log_days: float) -> None:
    """Deliver the --store's webhook events until SIGINT/SIGTERM (`serve` runs this)."""
    import logging

    from wfobj.engine import DeliverySettings

    from .processes.deliverer import serve_deliverer

    ctx.store()  # fail early with a readable line if there is no store
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(message)s")
    serve_deliverer(ctx.store_path, DeliverySettings(concurrency=concurrency, timeout=timeout,
                                                     max_tries=max_tries, log_days=log_days))


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(hook_group)
