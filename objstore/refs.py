"""Ref names: mutable names (`workflows/<name>`, `runs/<run_id>`) pointing at objects."""

from __future__ import annotations

from .errors import InvalidRefName
from .ids import RefName

MAX_REF_LEN = 1024


def check_ref_name(name: str) -> RefName:
    """Return `name` as a RefName or raise InvalidRefName saying which rule it breaks."""
    if not isinstance(name, str) or not name:
        raise InvalidRefName(str(name), "empty")
    if len(name.encode()) > MAX_REF_LEN:
        raise InvalidRefName(name, f"longer than {MAX_REF_LEN} bytes")
    # every whitespace character but " " is non-printable, so this covers them all
    if not name.isprintable() or " " in name:
        raise InvalidRefName(name, "contains whitespace or non-printable characters")
    if "\\" in name or "\x00" in name:
        raise InvalidRefName(name, "contains a backslash")
    if name.startswith("/") or name.endswith("/"):
        raise InvalidRefName(name, "starts or ends with '/'")
    for segment in name.split("/"):
        if not segment:
            raise InvalidRefName(name, "has an empty segment")
        if segment in (".", ".."):
            raise InvalidRefName(name, f"has a '{segment}' segment")
    return RefName(name)
