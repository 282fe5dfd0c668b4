"""Checks for path and query parameters: malformed values are 400, never a lookup."""

from __future__ import annotations

import re

import falcon

from wfobj.engine import TASK_NAME_RE, excerpt
from wfobj.objstore import InvalidHash, check_hash, check_prefix

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_RUN_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def _bad(what: str, value: str, rule: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(
        title=f"Invalid {what}", description=f"invalid {what} {excerpt(value)}: {rule}")


def name_param(value: str, what: str = "workflow name") -> str:
    """A workflow or task name: no slashes, no dot-dot, nothing a path could use."""
    if not _NAME_RE.match(value) or ".." in value:
        raise _bad(what, value, "letters, digits, '.', '_', '-' (not starting with one "
                   "of the last three, no '..'), at most 128 characters")
    return value


def task_param(value: str) -> str:
    """A task of a run: a task name, or an instance `TASK[KEY]` of a fanned-out task."""
    if not TASK_NAME_RE.fullmatch(value):
        raise _bad("task name", value, "a task name (letters, digits, _ and -), or an "
                   "instance TASK[KEY] (KEY: letters, digits and _.+=,@%-, not starting with '.')")
    return value


def run_id_param(value: str) -> str:
    if not _RUN_ID_RE.match(value):
        raise _bad("run id", value, "expected a lower-case UUID")
    return value


def hash_param(value: str) -> str:
    try:
        return check_hash(value)
    except InvalidHash as exc:
        raise _bad("hash", value, exc.reason) from None


def prefix_param(value: str) -> str:
    """A full hash, or an abbreviated one (at least 6 hex digits) the store resolves."""
    try:
        return check_prefix(value.lower())
    except InvalidHash as exc:
        raise _bad("hash", value, exc.reason) from None


def int_query(req: falcon.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.get_param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"query parameter {name}", raw, "not an integer") from None
    if not lo <= value <= hi:
        raise _bad(f"query parameter {name}", raw, f"must be between {lo} and {hi}")
    return value
