"""Errors of the command line itself (not of the library it calls), under one root."""

from __future__ import annotations

from objstore.errors import WfobjError


class CliError(WfobjError):
    """Root of command-line errors."""


class HttpError(CliError):
    """A wfobj server answered with an error (`status`, and the `title` and `description`
    of the API's JSON error shape), or could not be reached (`status` None)."""

    def __init__(self, url: str, status: int | None, title: str, description: str):
        self.url, self.status, self.title, self.description = url, status, title, description
        if status is None:
            super().__init__(f"cannot reach {url}: unreachable: {description}")
        else:
            super().__init__(f"{description} (HTTP {status} {title})")
