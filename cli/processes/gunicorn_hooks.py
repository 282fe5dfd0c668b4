"""gunicorn settings and hooks of `wfobj serve` (`--config python:wfobj.cli.processes.gunicorn_hooks`).

Each gunicorn worker asks the kernel for SIGTERM when the arbiter that forked it dies,
even by SIGKILL, so no worker goes on serving (or holding the port) without it; gunicorn's
own check of its parent runs once a second at best and not while a request is in hand.

A client cut off by the listener's timeouts (cli/processes/supervisor.py `Listener`) makes a
blocking socket call fail with EAGAIN, which gunicorn logs with a traceback; the logger
below says it in one line instead, so stalling clients cannot flood the error log.
"""

from __future__ import annotations

import sys

from gunicorn.glogging import Logger

from .lifeline import die_with_parent


class ServeLogger(Logger):
    """gunicorn's logger, with stalled clients in one line."""

    def exception(self, msg: str, *args: object, **kwargs: object) -> None:  # noqa: D102
        if isinstance(sys.exc_info()[1], BlockingIOError):  # SO_RCVTIMEO/SO_SNDTIMEO
            self.info("a client stalled past --client-timeout; its connection was closed")
            return
        super().exception(msg, *args, **kwargs)


logger_class = ServeLogger


def post_fork(server, worker) -> None:  # noqa: ANN001 - gunicorn's Arbiter and Worker
    """In the new worker: die with the arbiter."""
    die_with_parent(server.pid)
