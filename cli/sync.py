"""`wfobj push` / `wfobj pull`: sync refs and their objects with a server or another store."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from .context import CliContext, json_option, pass_ctx

if TYPE_CHECKING:
    from wfobj.objstore import Remote, SyncReport


def is_url(remote: str) -> bool:
    return remote.startswith(("http://", "https://"))


def open_remote(remote: str, token: str | None, local_path: str | None) -> Remote:
    """A Remote for an http(s) URL of `wfobj serve`, or for a store path."""
    if is_url(remote):
        from wfobj.cli.client.sync import HttpRemote

        return HttpRemote(remote, token)
    if local_path and os.path.realpath(remote) == os.path.realpath(local_path):
        raise click.UsageError(f"REMOTE {remote} is the local store itself")
    from wfobj.engine import EngineRefPolicy
    from wfobj.objstore import LocalRemote, open_store

    return LocalRemote(open_store(remote), EngineRefPolicy())


class ProgressLine:
    """Objects and bytes so far, on one stderr line, at most a few times a second."""

    def __init__(self, verb: str, enabled: bool):
        self.verb, self.enabled, self.last, self.shown = verb, enabled, 0.0, False

    def __call__(self, objects: int, size: int) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last >= 0.2:
            self.last, self.shown = now, True
            click.echo(f"\r{self.verb} {objects} objects, {human_bytes(size)}", err=True, nl=False)

    def done(self) -> None:
        if self.shown:
            click.echo("", err=True)


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def print_report(report: SyncReport) -> None:
    verb = {"push": "sent", "pull": "received"}[report.direction]
    prefix = "dry run: would have " if report.dry_run else ""
    counts: dict[str, int] = {}
    for ref in report.refs:
        counts[ref.status] = counts.get(ref.status, 0) + 1
    click.echo(
        f"{prefix}{verb} {report.objects} objects, {human_bytes(report.bytes)} "
        f"in {report.packs} pack(s), {report.rounds} request(s)"
    )
    click.echo("refs: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    for ref in report.refs:
        if ref.status != "unchanged":
            reason = f" ({ref.reason})" if ref.reason else ""
            click.echo(f"  {ref.status:<12} {ref.name} -> {ref.new[:12]}{reason}")


def _sync_options(fn: Callable) -> Callable:
    fn = click.option(
        "--force", is_flag=True, help="Move workflow refs even if not a fast-forward."
    )(fn)
    fn = click.option("--dry-run", is_flag=True, help="Report what would move; change nothing.")(fn)
    fn = click.option("--token", "remote_token", help="API token for an http(s) REMOTE.")(fn)
    fn = click.argument("refs", nargs=-1)(fn)
    fn = click.argument("remote")(fn)
    return json_option(fn)


def _run_sync(obj: CliContext, remote: str, remote_token: str | None, label: str,
              sync: Callable[..., SyncReport]) -> None:
    """Open the local store and REMOTE, run `sync(store, remote, progress)`, report."""
    from wfobj.objstore import REFUSED

    store = obj.store()
    other = open_remote(remote, remote_token or obj.token, obj.store_path)
    line = ProgressLine(label, sys.stderr.isatty() or not obj.json)
    try:
        report = sync(store, other, line)
    finally:
        line.done()
        other.close()
        store.close()
    obj.emit(report.to_json(), lambda _: print_report(report))
    if any(r.status == REFUSED for r in report.refs):
        sys.exit(1)


@click.command("push")
@_sync_options
@pass_ctx
def push_cmd(obj: CliContext, remote: str, refs: tuple[str, ...], remote_token: str | None,
             dry_run: bool, force: bool) -> None:
    """Send REFS (default: all) and the objects they need to REMOTE (URL or store path)."""
    from wfobj.engine import EngineRefPolicy
    from wfobj.objstore import push

    _run_sync(obj, remote, remote_token, "sending", lambda store, target, line: push(
        store, target, EngineRefPolicy(), list(refs), force=force, dry_run=dry_run,
        progress=line))


@click.command("pull")
@_sync_options
@pass_ctx
def pull_cmd(obj: CliContext, remote: str, refs: tuple[str, ...], remote_token: str | None,
             dry_run: bool, force: bool) -> None:
    """Fetch REFS (default: all) and the objects they need from REMOTE (URL or store path)."""
    from wfobj.engine import EngineRefPolicy
    from wfobj.objstore import pull

    _run_sync(obj, remote, remote_token, "receiving", lambda store, source, line: pull(
        store, source, EngineRefPolicy(), list(refs), force=force, dry_run=dry_run,
        progress=line))


def register(group: click.Group) -> None:
    """Add `push` and `pull` to `group`."""
    group.add_command(push_cmd)
    group.add_command(pull_cmd)
