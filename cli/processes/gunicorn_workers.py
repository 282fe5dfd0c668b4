"""gunicorn workers whose own answers are wfobj's JSON error shape, not gunicorn's HTML.

gunicorn answers by itself, before the app sees anything, for a request line over
`limit_request_line` (414), headers over their limits (431), a malformed request (400),
and an app that failed before it sent a byte (500). `JsonErrors.handle_error` keeps
gunicorn's statuses and logging and writes {"title", "description"} instead. Use it as
`--worker-class wfobj.cli.processes.gunicorn_workers.SyncWorker` (or `ThreadWorker`).
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.http import errors as http
from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker
from gunicorn.workers.sync import SyncWorker as _SyncWorker

from wfobj.engine import clip

# the statuses of gunicorn's own Worker.handle_error; any other ParseException is a 400
_CLIENT_STATUS = (
    ((http.InvalidResponseHeader, http.InvalidResponseHeaderName), 500,
     "Internal Server Error"),
    (http.LimitRequestLine, 414, "URI Too Long"),
    (http.LimitRequestHeaders, 431, "Request Header Fields Too Large"),
    (http.ExpectationFailed, 417, "Expectation Failed"),
    (http.UnsupportedTransferCoding, 501, "Not Implemented"),
    (http.ConfigurationProblem, 500, "Internal Server Error"),
    (http.ForbiddenProxyRequest, 403, "Forbidden"),
    (http.ParseException, 400, "Bad Request"),
)


def error_status(exc: BaseException) -> tuple[int, str]:
    """(status, reason) gunicorn answers `exc` with."""
    for kinds, status, reason in _CLIENT_STATUS:
        if isinstance(exc, kinds):
            return status, reason
    return 500, "Internal Server Error"


def error_response(status: int, reason: str, description: str) -> bytes:
    """A complete HTTP/1.1 answer carrying {"title", "description"}; the connection closes."""
    body = json.dumps({"title": reason, "description": description}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class JsonErrors:
    """Mixin for a gunicorn worker: its error answers in wfobj's JSON shape."""

    def handle_error(self, req, client, addr, exc) -> None:  # noqa: D102 - gunicorn's hook
        status, reason = error_status(exc)
        if status < 500:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
            description = clip(str(exc) or reason, 200)
        else:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(none)"))
            description = "the server failed while answering; its log has the details"
        try:
            util.write_nonblock(client, error_response(status, reason, description))
        except Exception:  # noqa: BLE001 - the client may be gone; gunicorn does the same
            self.log.debug("Failed to send error message.")


class SyncWorker(JsonErrors, _SyncWorker):
    """gunicorn's sync worker with JSON error answers."""


class ThreadWorker(JsonErrors, _ThreadWorker):
    """gunicorn's threaded worker with JSON error answers."""
