"""Errors of the CLI's own parts, under wfobj's one root (the CLI prints them in one line)."""

from __future__ import annotations

from objstore import WfobjError


class HttpError(WfobjError):
    """A wfobj server answered with an error (`status`, and the `title` and `description`
    of the API's JSON error shape), or could not be reached (`status` None)."""

    def __init__(self, url: str, status: int | None, title: str, description: str):
        self.url, self.status, self.title, self.description = url, status, title, description
        if status is None:
            super().__init__(f"cannot reach {url}: unreachable: {description}")
        else:
            super().__init__(f"{description} (HTTP {status} {title})")
