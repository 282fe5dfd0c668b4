"""`wfobj serve`: the gunicorn API plus engine worker processes on one store, one command.

In order, so that a serve that cannot start touches nothing: say if the store is open to
other users (cli/file_modes.py), bind the API's socket (a taken port ends it here), check
the executor, load the signing key (made on first start; refused if open to others), make
the first admin token (the store is opened briefly and closed; gunicorn's workers open
LMDB after fork, api/app.py), start gunicorn on the bound socket, and start the engine
workers once the API answers (cli/processes/supervisor.py).

gunicorn runs threaded workers (`gthread`): a connection waits in the worker's poller,
without taking a thread, until its request line and headers are all in, for at most
`--header-timeout` seconds in all; one that stalls later in the request is cut off after
`--client-timeout` seconds, so idle or slow clients cannot take the API down.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .config import CONFIG_ENV
from .context import CliContext, Command, executor_options, pass_ctx
from .file_modes import CHECKED_ENV, warn_if_exposed, write_private
from .processes import request_heads

if TYPE_CHECKING:
    from wfobj.cli.processes.supervisor import Listener
    from wfobj.engine import ExecutorSettings

ADMIN_TOKEN_FILE = "admin-token"


def parse_bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host, int(port)


def ensure_admin_token(store_path: str) -> Path | None:
    """On first start (no tokens at all) create an admin token and write it to a file
    readable only by its owner, next to the store. Returns the file, or None."""
    from wfobj.engine import TokenStore
    from wfobj.objstore import open_store

    store = open_store(store_path)
    try:
        tokens = TokenStore(store)
        if not tokens.is_empty():
            return None
        token, _ = tokens.create("admin", "admin")
    finally:
        store.close()
    path = Path(store_path) / ADMIN_TOKEN_FILE
    write_private(path, token + "\n")
    return path


def gunicorn_argv(fd: int, workers: int, threads: int) -> list[str]:
    """gunicorn on the already bound socket `fd`, with worker threads that answer gunicorn's
    own errors as JSON (cli/processes/gunicorn_workers.py); cli/processes/gunicorn_hooks.py ties each of its
    workers' lives to the arbiter's."""
    return [sys.executable, "-m", "gunicorn", "--bind", f"fd://{fd}",
            "--workers", str(workers), "--worker-class", "wfobj.cli.processes.gunicorn_workers.ThreadWorker",
            "--threads", str(threads),
            "--graceful-timeout", "5", "--access-logfile", "-", "--no-control-socket",
            "--config", "python:wfobj.cli.processes.gunicorn_hooks", "wfobj.api.app:get_app()"]


OPENLINEAGE_ENV = "WFOBJ_OPENLINEAGE_URL"  # --openlineage-url of serve and worker


def engine_worker_argv(store_path: str, executor: ExecutorSettings | None = None,
                       concurrency: int | None = None,
                       max_instances: int | None = None) -> list[str]:
    """`wfobj worker --workers 1 --no-hook-deliverer` (cli/runs.py): one engine worker
    process on the store (the webhook deliverer is a child of its own, started once by
    whoever starts the workers). Its OpenLineage URL goes in its environment
    (openlineage_environment), never here: argv is visible to every local user."""
    from wfobj.engine import ExecutorSettings

    from .executor_flags import executor_argv

    extra = [] if concurrency is None else ["--concurrency", str(concurrency)]
    if max_instances is not None:
        extra += ["--max-instances", str(max_instances)]
    return [sys.executable, "-c", "from wfobj.cli.main import main; main()", "--store", store_path,
            "worker", "--workers", "1", "--no-hook-deliverer", *extra, *executor_argv(executor or ExecutorSettings())]


def openlineage_environment(url: str | None) -> dict[str, str]:
    """How an engine worker child learns the OpenLineage URL (it may carry a password)."""
    return {OPENLINEAGE_ENV: url} if url else {}


def deliverer_argv(store_path: str, timeout: float) -> list[str]:
    """`wfobj hook deliver` (cli/hooks.py): the webhook deliverer on the store."""
    return [sys.executable, "-c", "from wfobj.cli.main import main; main()", "--store", store_path,
            "hook", "deliver", "--timeout", repr(timeout)]


def with_server_url(executor: ExecutorSettings, bind: str) -> ExecutorSettings:
    """The slurm nodes reach this server at http://--bind unless told otherwise."""
    if executor.kind != "slurm" or executor.slurm.server_url:
        return executor
    slurm = dataclasses.replace(executor.slurm, server_url=f"http://{bind}")
    return dataclasses.replace(executor, slurm=slurm)


def child_environment(store: str, config_path: str | None) -> dict[str, str]:
    """What gunicorn and the engine workers inherit: this environment (with the config
    file's environment settings, cli/config.py), the store, the config file read, and
    that the store's modes were looked at (cli/file_modes.py)."""
    env = dict(os.environ, WFOBJ_STORE=store, **{CHECKED_ENV: "1"})
    if config_path:
        env[CONFIG_ENV] = str(Path(config_path).resolve())
    return env


def head_environment(timeout: float, limit: int) -> dict[str, str]:
    """How gunicorn's workers learn the header deadline and how many heads may wait at
    once (cli/processes/request_heads.py)."""
    return {request_heads.TIMEOUT_ENV: repr(timeout), request_heads.LIMIT_ENV: str(limit)}


def listen(bind: str, client_timeout: float) -> Listener:
    from wfobj.cli.processes.supervisor import Listener

    try:
        return Listener.open(*parse_bind(bind), client_timeout=client_timeout)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {bind}: {exc.strerror or exc}") from None


@click.command("serve", cls=Command)
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="HOST:PORT")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes")
@click.option("--threads", default=16, show_default=True, type=click.IntRange(1, 256),
              help="request threads per gunicorn worker")
@click.option("--client-timeout", default=30.0, show_default=True,
              type=click.FloatRange(0.5, 3600),
              help="seconds a client may stall mid-request (sending or reading) before "
                   "it is cut off")
@click.option("--header-timeout", type=click.FloatRange(0.5, 3600), metavar="S",
              help="seconds a request's line and headers may take to arrive, all of them "
                   "[default: --client-timeout]")
@click.option("--header-connections", default=request_heads.DEFAULT_LIMIT, show_default=True,
              type=click.IntRange(1, 1000),
              help="connections per API worker process whose request head is still "
                   "arriving; one more closes the oldest")
@click.option("--engine-workers", default=1, show_default=True, type=click.IntRange(0, 64),
              help="engine worker processes running the queued runs")
@click.option("--max-instances", default=10_000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="Instances one fanned-out task may have; more fails the task (docs/workflow-format.md).")
@click.option("--openlineage-url", metavar="URL", envvar=OPENLINEAGE_ENV,
              help="engine workers post each run's OpenLineage events to URL/api/v1/lineage "
                   "as it runs (docs/exports.md); also $WFOBJ_OPENLINEAGE_URL")
@click.option("--hook-deliverer/--no-hook-deliverer", default=True, show_default=True,
              help="run the webhook deliverer (`wfobj hook deliver`, docs/events.md) beside "
                   "the API")
@click.option("--hook-timeout", default=10.0, show_default=True,
              type=click.FloatRange(0.1, 600), metavar="S",
              help="seconds the deliverer waits for a webhook receiver to connect, and for "
                   "each read of its answer")
@executor_options
@pass_ctx
def serve(ctx: CliContext, bind: str, workers: int, threads: int, client_timeout: float,
          header_timeout: float | None, header_connections: int, engine_workers: int,
          max_instances: int, openlineage_url: str | None, hook_deliverer: bool,
          hook_timeout: float, executor: ExecutorSettings) -> None:
    """Serve the REST API and run workflows on the --store."""
    from wfobj.cli.processes.supervisor import ServePlan, serve_forever
    from wfobj.engine import KeyFile, check_executor, executor_factory

    parse_bind(bind)
    if not ctx.store_path:
        raise click.UsageError("no store: pass --store PATH or set WFOBJ_STORE")
    warn_if_exposed("wfobj serve", ctx.store_path)
    executor = with_server_url(executor, bind)
    listener = listen(bind, client_timeout)
    try:
        if engine_workers:  # an API alone runs nothing, so needs no executor
            check_executor(executor_factory(executor))
        KeyFile(ctx.store_path).key()  # the signing key of signed exports, made on first start
        token_file = ensure_admin_token(ctx.store_path)
    except BaseException:
        listener.close()
        raise
    if token_file is not None:
        click.echo(f"wfobj serve: first start, created an admin token in {token_file} "
                   "(readable by you only)", err=True)
    store = str(Path(ctx.store_path).resolve())
    click.echo(f"wfobj serve: starting the API on http://{bind} ({workers}×{threads} "
               f"threads), then {engine_workers} engine worker(s) ({executor.kind} executor), "
               f"store {store}", err=True)
    plan = ServePlan(api_argv=gunicorn_argv(listener.fd, workers, threads),
                     engine_argv=engine_worker_argv(store, executor,
                                                    max_instances=max_instances),
                     engine_workers=engine_workers,
                     env=child_environment(store, ctx.config_path)
                     | openlineage_environment(openlineage_url)
                     | head_environment(header_timeout or client_timeout, header_connections),
                     deliverer_argv=deliverer_argv(store, hook_timeout) if hook_deliverer
                     else None)
    sys.exit(serve_forever(listener, plan))


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(serve)
