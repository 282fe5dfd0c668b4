"""The CLI's one HTTP client for a wfobj server: a session with the bearer token and user
agent, timeouts, and the API's JSON error shape turned into one error type (HttpError).
The remote service, the sync remote and the attempt server all talk through it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from wfobj.cli.errors import HttpError

USER_AGENT = "wfobj-cli"
TIMEOUT = (10, 600)  # connect, read (seconds)
PIECE = 1 << 20


class HttpClient:
    """Requests to paths under `url`; any answer >= 400 raises HttpError."""

    def __init__(self, url: str, token: str | None, *, session: requests.Session | None = None,
                 timeout: float | tuple[float, float] = TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        url = self.url + path
        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            raise HttpError(url, None, "unreachable", str(exc)) from None
        if resp.status_code >= 400:
            raise error_of(url, resp)
        return resp

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    def stream(self, method: str, path: str, **kw: Any) -> Iterator[bytes]:
        """The answer's body in pieces; a connection cut mid-way raises HttpError."""
        return self.pieces(self.request(method, path, stream=True, **kw), path)

    def pieces(self, resp: requests.Response, path: str) -> Iterator[bytes]:
        """The body of `resp` (asked with stream=True) in pieces, as `stream` gives them."""
        received = 0
        with resp:
            try:
                for piece in resp.iter_content(PIECE):
                    received += len(piece)
                    yield piece
            except requests.RequestException as exc:
                raise HttpError(self.url + path, None, "cut off",
                                f"answer cut off after {received} bytes "
                                f"({type(exc).__name__})") from None

    def close(self) -> None:
        self.session.close()


class PieceReader:
    """An answer's pieces as a file to read() from, for readers that pull (a tar reader)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces, self.buffer = pieces, bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            piece = next(self.pieces, None)
            if piece is None:
                break
            self.buffer += piece
        taken = len(self.buffer) if size < 0 else min(size, len(self.buffer))
        data = bytes(self.buffer[:taken])
        del self.buffer[:taken]
        return data


def error_of(url: str, resp: requests.Response) -> HttpError:
    """The HttpError of an error answer: the API's {"title", "description"} when it has
    them, else the reason and the start of the body."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return HttpError(url, resp.status_code, str(body.get("title") or resp.reason),
                         str(body.get("description") or body.get("title") or body))
    return HttpError(url, resp.status_code, resp.reason or "error",
                     resp.text[:200] or resp.reason or "")
