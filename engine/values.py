"""Values the definitions, the executors and the command line read the same way."""

from __future__ import annotations

import re

MEMORY_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
MEMORY_RE = re.compile(r"^([0-9]+)([bkmg]?)$", re.IGNORECASE)
NO_LIMIT = ("", "0", "none", "unlimited")
PULL_POLICIES = ("missing", "always", "never")  # a task's `pull`: when to pull its image


def parse_memory(text: str) -> int | None:
    """A docker-style size (`512m`, `2g`, `4096`) in bytes; `0` or `none`: no cap."""
    if text.strip().lower() in NO_LIMIT:
        return None
    match = MEMORY_RE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size like 512m or 2g")
    return int(match.group(1)) * MEMORY_UNITS[match.group(2).lower()] or None
