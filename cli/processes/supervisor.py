"""The one owner of child processes: gunicorn and the engine workers of `wfobj serve`,
and the engine worker processes of `wfobj worker --workers N` (each engine worker is one
`wfobj worker --workers 1` process started here; nothing else forks workers).

The supervisor binds the API's socket itself, so a taken port fails the serve before
anything else starts, then hands the socket to gunicorn (`--bind fd://N`). Engine workers
start only once the API answers /api/health: a serve whose API cannot come up never
claims a run. Every child is asked to die with the supervisor (cli/processes/lifeline.py), so a
SIGKILLed supervisor leaves nothing serving; Ctrl-C or SIGTERM stops every child; if one
child dies, the rest are stopped too and the exit status is non-zero.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import click
import requests

from wfobj.cli.errors import ServeFailed

from .lifeline import die_with_parent

STOP_GRACE_S = 10.0
UP_TIMEOUT_S = 60.0
LISTEN_BACKLOG = 2048


@dataclass
class Listener:
    """The API's listening socket, bound by the supervisor. Every connection accepted on
    it inherits a receive and a send timeout (SO_RCVTIMEO/SO_SNDTIMEO): a client that
    sends nothing, or reads nothing, for `client_timeout` seconds mid-request is cut off
    and frees its gunicorn thread."""

    sock: socket.socket
    bind: str

    @classmethod
    def open(cls, host: str, port: int, client_timeout: float) -> Listener:
        """Bind and listen; OSError (e.g. EADDRINUSE) if it cannot."""
        family, _, _, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            timeout = struct.pack("ll", int(client_timeout), int(client_timeout % 1 * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        return cls(sock, f"{host}:{port}")

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    def health_url(self) -> str:
        """/api/health through this socket (a wildcard bind is asked on loopback)."""
        host, port = self.sock.getsockname()[:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if self.sock.family == socket.AF_INET else "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/api/health"

    def close(self) -> None:
        self.sock.close()


@dataclass
class Supervisor:
    """Starts child processes, each in its own process group and armed to die with this
    process, stops them all together (grandchildren too, even if a child died and left
    them orphaned), and reports the first child to die."""

    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    pid: int = field(default_factory=os.getpid)

    def start(self, name: str, argv: list[str], env: dict[str, str],
              pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
        parent = self.pid
        proc = subprocess.Popen(argv, env=env, start_new_session=True, pass_fds=pass_fds,
                                preexec_fn=lambda: die_with_parent(parent))
        self.children.append((name, proc))
        return proc

    def first_exited(self) -> tuple[str, int] | None:
        for name, proc in self.children:
            if proc.poll() is not None:
                return name, proc.returncode
        return None

    def watch(self, stop: StopSignal, poll: float = 0.2) -> tuple[str, int] | None:
        """Wait for a stop signal (None) or a child's death ((name, exit status))."""
        while not stop.name:
            if (exited := self.first_exited()) is not None:
                return exited
            time.sleep(poll)
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


def wait_until_up(url: str, api: subprocess.Popen, stop: StopSignal,
                  timeout: float = UP_TIMEOUT_S) -> bool:
    """True once `url` answers 200, False if a stop signal came first; ServeFailed if the
    API process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop.name:
            return False
        if api.poll() is not None:
            raise ServeFailed(f"the API did not start (gunicorn exited with status "
                              f"{api.returncode}; its log is above)")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise ServeFailed(f"the API did not answer {url} within {timeout:g}s")


@dataclass
class StopSignal:
    """Set by SIGINT/SIGTERM; the supervisor's loops look at it. (Raising from the handler
    instead would be lost whenever the signal lands in a finalizer or a cleanup.)"""

    name: str | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        self.name = signal.Signals(signum).name


@contextmanager
def supervising() -> Iterator[tuple[Supervisor, StopSignal]]:
    """A Supervisor and the StopSignal SIGINT/SIGTERM set while inside; on the way out
    (however it is left) every child is stopped."""
    sup, stop = Supervisor(), StopSignal()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield sup, stop
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sup.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def ended(who: str, stop: StopSignal, exited: tuple[str, int] | None) -> int:
    """Say why the supervision ended; the exit status: 0 on a signal, 1 on a death."""
    if exited is None:
        click.echo(f"{who}: {stop.name}, stopping", err=True)
        return 0
    click.echo(f"{who}: {exited[0]} exited with status {exited[1]}; stopping", err=True)
    return 1


@dataclass
class ServePlan:
    """What `serve_forever` starts: gunicorn's argv (taking the listener's fd), one
    engine worker's argv and how many of them, and the children's environment."""

    api_argv: list[str]
    engine_argv: list[str]
    engine_workers: int
    env: dict[str, str]
    deliverer_argv: list[str] | None = None  # the webhook deliverer (`wfobj hook deliver`)


def start_engine_workers(sup: Supervisor, argv: list[str], count: int,
                         env: dict[str, str]) -> None:
    for i in range(count):
        sup.start(f"engine worker {i + 1}", argv, env)


def serve_forever(listener: Listener, plan: ServePlan) -> int:
    """Run the API, then the engine workers, until a signal or a child's death."""
    with supervising() as (sup, stop):
        try:
            api = sup.start("api", plan.api_argv, plan.env, pass_fds=(listener.fd,))
            url = listener.health_url()
            listener.close()  # gunicorn holds it now; it goes when gunicorn goes
            if wait_until_up(url, api, stop):
                if not stop.name:
                    start_engine_workers(sup, plan.engine_argv, plan.engine_workers, plan.env)
                if not stop.name and plan.deliverer_argv:
                    sup.start("webhook deliverer", plan.deliverer_argv, plan.env)
                click.echo(f"wfobj serve: API up on http://{listener.bind}", err=True)
        except ServeFailed as exc:
            click.echo(f"wfobj serve: {exc}", err=True)
            return 1
        return ended("wfobj serve", stop, sup.watch(stop))


def run_engine_workers(argv: list[str], count: int, env: dict[str, str],
                       deliverer_argv: list[str] | None = None) -> int:
    """`wfobj worker`: N engine worker processes (`argv`, each one worker) and the webhook
    deliverer (`deliverer_argv`, unless None) until a signal or a child's death."""
    with supervising() as (sup, stop):
        start_engine_workers(sup, argv, count, env)
        if not stop.name and deliverer_argv:
            sup.start("webhook deliverer", deliverer_argv, env)
        return ended("wfobj worker", stop, sup.watch(stop))
