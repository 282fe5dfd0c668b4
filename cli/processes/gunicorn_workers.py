"""gunicorn workers whose own answers are wfobj's JSON error shape, not gunicorn's HTML.

gunicorn answers by itself, before the app sees anything, for a request line over
`limit_request_line` (414), headers over their limits (431), a malformed request (400),
and an app that failed before it sent a byte (500). `JsonErrors.handle_error` keeps
gunicorn's statuses and logging and writes {"title", "description"} instead. Use it as
`--worker-class wfobj.cli.processes.gunicorn_workers.SyncWorker` (or `ThreadWorker`).

`ThreadWorker`, the one `serve` runs, also reads each request's line and headers in its
poller rather than in a thread, with one deadline for all of them (request_heads.py), so
clients that trickle their headers hold sockets, never the request threads.
"""

from __future__ import annotations

import contextlib
import errno
import json
import selectors
from functools import partial

from gunicorn import http as parsers
from gunicorn import util
from gunicorn.http import errors as http
from gunicorn.http.wsgi import Response
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER as STOP_LINGER
from gunicorn.workers.gthread import TConn
from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker
from gunicorn.workers.sync import SyncWorker as _SyncWorker

from wfobj.engine import clip

from . import request_heads
from .lingering import LingeringCloses

HEAD_READ_BYTES = 16 << 10  # one read of a head in the poller
LEFT_BODY_BYTES = 64 << 10  # a body's rest read and dropped to keep its connection

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


def closing_if_body_left(app, environ: dict, start_response):  # noqa: ANN001, ANN201 - WSGI
    """Run the WSGI `app`; when it starts its answer, what of the request body it left
    unread and has already arrived (LEFT_BODY_BYTES at most) is read and dropped, and if
    more is still to come gunicorn is told to close the connection, so the answer says
    `Connection: close` (an app's own Connection header is dropped by gunicorn) instead
    of promising a keep-alive that `_keepalive_after` then breaks: a 413 on a 1 GiB upload,
    a 401 on a body the client is still sending."""

    def start(status: str, headers: list, exc_info=None):  # noqa: ANN001, ANN202
        write = start_response(status, headers, exc_info)
        answer = getattr(start_response, "__self__", None)
        if isinstance(answer, Response) and not _body_all_read(environ):
            answer.force_close()
        return write

    return app(environ, start)


def _body_all_read(environ: dict) -> bool:
    """Read what has come of the request body without waiting: True if it ended within
    LEFT_BODY_BYTES, False if more is still to come (or it failed)."""
    body, sock = environ.get("wsgi.input"), environ.get("gunicorn.socket")
    if body is None or sock is None:
        return True
    sock.setblocking(False)
    try:
        for _ in range(LEFT_BODY_BYTES // 1024):
            if not body.read(1024):
                return True
        return False
    except (OSError, http.ParseException):  # nothing more here yet, or a bad chunk
        return False
    finally:
        sock.setblocking(True)


class SyncWorker(JsonErrors, _SyncWorker):
    """gunicorn's sync worker with JSON error answers."""


class ThreadWorker(JsonErrors, _ThreadWorker):
    """gunicorn's threaded worker with JSON error answers, which reads each request's head
    in its poller and hands a connection to a thread only once the head is all in
    (request_heads.py): a client trickling its headers holds no thread. A head that takes
    longer than the header deadline is answered 408, one over MAX_HEAD_BYTES 431; past
    the limit of waiting heads the oldest connection is closed. A connection it closes
    politely lingers in the poller too (lingering.py), never in its main loop. (TLS, PROXY
    protocol and HTTP/2 prior knowledge, which `serve` never sets, are left to gunicorn as
    they are.)"""

    def init_process(self) -> None:
        self.heads = request_heads.from_environment()
        super().init_process()

    def load_wsgi(self) -> None:
        """The app, answering `Connection: close` when its body is left unread."""
        super().load_wsgi()
        self.wsgi = partial(closing_if_body_left, self.wsgi)

    def run(self) -> None:
        self.closes = LingeringCloses(self.poller)  # the poller is made in init_process
        super().run()

    def accept(self, listener) -> None:  # noqa: ANN001 - gunicorn's listener socket
        """gunicorn's accept, with a connection whose polite close does not block the
        loop (lingering.py)."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self.enqueue_req(LingeringConn(self.closes, self.cfg, client_sock, client_addr,
                                       listener.getsockname()))

    def enqueue_req(self, conn) -> None:  # noqa: ANN001 - gunicorn's TConn
        """Every connection with a request to read comes here (new, kept alive, or with
        bytes read ahead): it waits in the poller until its head is in."""
        if not self._reads_heads(conn):
            super().enqueue_req(conn)
            return
        sent = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        if sent and request_heads.head_state(sent) is not request_heads.Verdict.WAIT:
            self._to_thread(conn, sent)
            return
        for oldest in self.heads.hold(conn, sent):
            self.log.info("more than %d request heads arriving at once; the oldest "
                          "connection was closed", self.heads.limit)
            self._close_waiting(oldest)
        conn.sock.setblocking(False)
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self._on_head_bytes, conn))

    def _reads_heads(self, conn) -> bool:  # noqa: ANN001
        return not (self.cfg.is_ssl or getattr(self.cfg, "proxy_protocol", "off") != "off"
                    or negotiation.prior_knowledge_allowed(self.cfg, conn.client))

    def _on_head_bytes(self, conn, _sock) -> None:  # noqa: ANN001
        try:
            chunk = conn.sock.recv(HEAD_READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away before its head ended
            self._close_waiting(conn)
            return
        verdict = self.heads.feed(conn, chunk)
        if verdict is request_heads.Verdict.READY:
            self.poller.unregister(conn.sock)
            self._to_thread(conn, self.heads.take(conn))
        elif verdict is request_heads.Verdict.TOO_LARGE:
            self.log.warning("Invalid request from ip=%s: request head over %d bytes",
                             (conn.client or ("",))[0], request_heads.MAX_HEAD_BYTES)
            self._close_waiting(conn, error_response(
                431, "Request Header Fields Too Large",
                f"the request line and headers are over {request_heads.MAX_HEAD_BYTES} bytes"))

    def _to_thread(self, conn, head: bytes) -> None:  # noqa: ANN001
        """The head is in: gunicorn's parser reads it from memory, the body (if any) from
        the socket, in a thread."""
        if conn.parser is None:
            conn.parser = parsers.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(head)
        conn.data_ready = True  # no wait for a first byte in the thread
        super().enqueue_req(conn)

    def _keepalive_after(self, conn, keepalive: bool) -> bool:  # noqa: ANN001
        """Keep the connection for another request only if the app read the body to its
        end, or what it left is already here (64 KiB at most): gunicorn would wait for
        the rest in this thread, and a client trickling it would hold the thread, its
        401 long answered."""
        if not keepalive:
            return False
        conn.sock.setblocking(False)
        try:
            return bool(conn.parser.finish_body(max_bytes=LEFT_BODY_BYTES))
        except OSError:  # the rest has not come: close rather than wait for it
            return False
        finally:
            conn.sock.setblocking(True)

    def murder_pending(self) -> None:
        """Also close the connections whose head is past its deadline, and end the polite
        closes whose time is up (gunicorn calls this about once a second, and while it
        stops)."""
        super().murder_pending()
        self.closes.expire()
        if not self.alive:
            self.heads.cut_short(STOP_LINGER)
        for conn, sent_some in self.heads.expired():
            if not sent_some:  # an idle connection: nothing to answer
                self._close_waiting(conn)
                continue
            self.log.info("a client did not send its request head within %gs "
                          "(--header-timeout); its connection was closed", self.heads.timeout)
            self._close_waiting(conn, error_response(
                408, "Request Timeout",
                f"the request line and headers did not arrive within {self.heads.timeout:g}s"))

    def _close_waiting(self, conn, answer: bytes = b"") -> None:  # noqa: ANN001
        """Close a connection whose head never came in whole, with `answer` (as much of
        it as the socket takes now) and a polite close, or, having sent nothing, at once."""
        self.heads.take(conn)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        if not answer:
            conn.close()
            return
        with contextlib.suppress(OSError):
            conn.sock.send(answer)
        self.closes.close(conn.sock)


class LingeringConn(TConn):
    """gunicorn's connection, closed politely in the worker's poller (lingering.py)
    rather than by a blocking read in its main loop."""

    def __init__(self, closes: LingeringCloses, *args) -> None:  # noqa: ANN002
        super().__init__(*args)
        self.closes = closes

    def close(self, graceful: bool = False) -> None:
        if graceful and not self.cfg.is_ssl:
            self.closes.close(self.sock)
        else:
            super().close(graceful)
