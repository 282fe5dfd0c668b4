"""Errors of the command line itself (not of the library it calls), under one root."""

from __future__ import annotations

from wfobj.objstore import WfobjError


class CliError(WfobjError):
    """Root of command-line errors."""


class ConfigError(CliError, ValueError):
    """A config file that cannot be used: missing, not TOML, an unknown key, a wrong type
    or value. Names the file and, when there is one, the key."""

    def __init__(self, path: str, reason: str, key: str | None = None):
        self.path = path
        self.key = key
        self.reason = reason
        where = f"{key} in {path}" if key else path
        super().__init__(f"config {where}: {reason}")


class HttpError(CliError):
    """A wfobj server answered with an error (`status`, and the `title` and `description`
    of the API's JSON error shape), or could not be reached (`status` None)."""

    def __init__(self, url: str, status: int | None, title: str, description: str):
        self.url, self.status, self.title, self.description = url, status, title, description
        if status is None:
            super().__init__(f"cannot reach {url}: unreachable: {description}")
        else:
            super().__init__(f"{description} (HTTP {status} {title})")


class ServeFailed(CliError):
    """`serve`'s API did not come up; the message says why."""
