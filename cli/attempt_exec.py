"""`wfobj exec`: run one attempt on this machine for a server (a cluster node's side).

Given the server URL, an attempt token and the attempt spec's hash, it fetches the spec
and its inputs into the node-local --store (created if missing; only what it lacks comes,
each object verified), runs the container with this machine's Docker as the local
executor does, and sends the report, outputs, stdout and stderr back. SIGTERM (scancel)
stops the container and still reports. Exit 0 once the report is accepted, whatever the
task's own outcome; non-zero (one line on stderr) when the server could not be reached
or refused.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import click

from .context import CliContext, pass_ctx

if TYPE_CHECKING:
    from wfobj.engine import ContainerLimits

EXEC_GRACE_S = 3.0  # SIGTERM to SIGKILL in the container: below Slurm's KillWait


def node_executor(limits: ContainerLimits):
    from wfobj.engine import DockerExecutor

    return DockerExecutor(limits=limits, grace=EXEC_GRACE_S)


@click.command("exec")
@click.argument("spec_hash")
@click.option("--server", "server", envvar="WFOBJ_SERVER", metavar="URL",
              help="The server that owns the attempt (as the global --server).")
@click.option("--token", "token", envvar="WFOBJ_TOKEN", metavar="TOKEN",
              help="The attempt token (as the global --token; WFOBJ_TOKEN).")
@click.option("--node", metavar="NAME",
              help="This node's name for the evidence's host.name (default: the hostname).")
@pass_ctx
def exec_attempt(ctx: CliContext, spec_hash: str, server: str | None, token: str | None,
                 node: str | None) -> None:
    """Fetch, run and report the attempt SPEC_HASH (needs --server, --token and --store)."""
    import socket

    from wfobj.cli.client.attempts import HttpAttemptServer
    from wfobj.cli.processes.lifeline import stop_on_signals
    from wfobj.engine import execute, network_filesystem
    from wfobj.objstore import check_hash, init_store

    try:
        spec_hash = check_hash(spec_hash)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SPEC_HASH") from None
    server, token = server or ctx.server, token or ctx.token
    if not server or not token:
        raise click.UsageError("wfobj exec needs --server URL and --token (an attempt token)")
    if not ctx.store_path:
        raise click.UsageError("no node-local store: pass --store PATH or set WFOBJ_STORE")
    if fstype := network_filesystem(ctx.store_path):
        raise click.UsageError(f"the node store {ctx.store_path} is on a network filesystem "
                               f"({fstype}); give --store a node-local disk (LMDB's locks "
                               "do not hold across machines)")
    store = init_store(ctx.store_path)
    remote = HttpAttemptServer(server, token, spec_hash)
    try:
        with stop_on_signals(threading.Event(), second_raises=False) as cancel:
            done = execute(store, remote, spec_hash, node_executor,
                           node=node or socket.gethostname(), cancel=cancel)
    finally:
        remote.close()
        store.close()
    click.echo(json.dumps(done.to_json()) if ctx.json else
               f"{done.spec} {done.state}: fetched {done.fetched_objects} object(s), "
               f"{done.fetched_bytes} bytes; sent {done.sent_objects} object(s), "
               f"{done.sent_bytes} bytes")


def register(group: click.Group) -> None:
    group.add_command(exec_attempt)
