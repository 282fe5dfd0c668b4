"""`wfobj serve`: the gunicorn API plus engine worker processes on one store, one command.

The parent only supervises: it opens the store briefly to make the first admin token,
closes it, then starts gunicorn (whose workers open LMDB after fork, api/app.py) and the
engine workers. Ctrl-C or SIGTERM stops every child it started; if one child dies, the
rest are stopped too and the exit status is non-zero.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from engine.executor import check_executor
from engine.limits import DEFAULT_LIMITS, ContainerLimits, limits_argv
from engine.tokens import TokenStore
from objstore import open_store

from .context import CliContext, docker_executor_factory, limit_options, pass_ctx

ADMIN_TOKEN_FILE = "admin-token"
STOP_GRACE_S = 10.0


def parse_bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host, int(port)


def ensure_admin_token(store_path: str) -> Path | None:
    """On first start (no tokens at all) create an admin token and write it to a file
    readable only by its owner, next to the store. Returns the file, or None."""
    store = open_store(store_path)
    try:
        tokens = TokenStore(store)
        if not tokens.is_empty():
            return None
        token, _ = tokens.create("admin", "admin")
    finally:
        store.close()
    path = Path(store_path) / ADMIN_TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return path


def gunicorn_argv(bind: str, workers: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
            "--worker-class", "sync", "--graceful-timeout", "5", "--access-logfile", "-",
            "--no-control-socket",
            "api.app:get_app()"]


def engine_worker_argv(store_path: str, workers: int,
                       limits: ContainerLimits = DEFAULT_LIMITS) -> list[str]:
    """`wfobj worker` (cli/runs.py): engine worker processes on the store."""
    return [sys.executable, "-c", "from cli.main import main; main()", "--store", store_path,
            "worker", "--workers", str(workers), *limits_argv(limits)]


@dataclass
class Supervisor:
    """Starts child processes, each in its own process group, stops them all together
    (grandchildren too, even if a child died and left them orphaned), and reports the
    first child to die."""

    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.children.append((name, subprocess.Popen(argv, env=env, start_new_session=True)))

    def first_exited(self) -> tuple[str, int] | None:
        for name, proc in self.children:
            if proc.poll() is not None:
                return name, proc.returncode
        return None

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        for _, proc in self.children:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, proc in self.children:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        while time.monotonic() < deadline and any(_group_alive(p.pid) for _, p in self.children):
            time.sleep(0.1)
        for _, proc in self.children:
            _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def serve_forever(store_path: str, bind: str, workers: int, engine_workers: int,
                  limits: ContainerLimits = DEFAULT_LIMITS) -> int:
    """Run gunicorn and the engine workers until a signal or a child's death."""
    env = dict(os.environ, WFOBJ_STORE=str(Path(store_path).resolve()))
    sup = Supervisor()
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sup.start("api", gunicorn_argv(bind, workers), env)
        if engine_workers:
            sup.start("engine workers",
                      engine_worker_argv(env["WFOBJ_STORE"], engine_workers, limits), env)
        while (exited := sup.first_exited()) is None:
            time.sleep(0.2)
        click.echo(f"wfobj serve: {exited[0]} exited with status {exited[1]}; stopping",
                   err=True)
        return 1
    except _Stop as stop:
        click.echo(f"wfobj serve: {stop.args[0]}, stopping", err=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sup.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


@click.command("serve")
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="HOST:PORT")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes")
@click.option("--engine-workers", default=1, show_default=True, type=click.IntRange(0, 64),
              help="engine worker processes running the queued runs")
@limit_options
@pass_ctx
def serve(ctx: CliContext, bind: str, workers: int, engine_workers: int,
          limits: ContainerLimits) -> None:
    """Serve the REST API and run workflows on the --store."""
    parse_bind(bind)
    if not ctx.store_path:
        raise click.UsageError("no store: pass --store PATH or set WFOBJ_STORE")
    if engine_workers:  # an API alone runs nothing, so needs no executor
        check_executor(functools.partial(docker_executor_factory, limits))
    token_file = ensure_admin_token(ctx.store_path)
    if token_file is not None:
        click.echo(f"wfobj serve: first start, created an admin token in {token_file} "
                   "(readable by you only)", err=True)
    click.echo(f"wfobj serve: API on http://{bind}, {engine_workers} engine worker(s), "
               f"store {ctx.store_path}", err=True)
    sys.exit(serve_forever(ctx.store_path, bind, workers, engine_workers, limits))


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(serve)
