"""Container limits: the caps a server puts on every task container by default, a task's
`resources` overriding them, and the record of what was applied (evidence `limits`).

Without a default a task could fork or allocate until the host gives out, so memory and
process count are capped unless the server is told otherwise; CPU is shared, not capped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wfobj.engine.values import parse_memory


@dataclass(frozen=True)
class ContainerLimits:
    """Caps of one container; None means no cap."""

    memory: int | None = None  # bytes (swap included: the container gets no extra swap)
    pids: int | None = None  # processes and threads
    cpus: float | None = None

    def overridden(self, *, memory: str | None, pids: int | None,
                   cpus: float | None) -> ContainerLimits:
        """These defaults with a task's own `resources` put over them."""
        return ContainerLimits(
            memory=self.memory if memory is None else parse_memory(memory),
            pids=self.pids if pids is None else pids,
            cpus=self.cpus if cpus is None else cpus)

    def as_json(self) -> dict:
        return {"memory": self.memory, "pids": self.pids, "cpus": self.cpus}


DEFAULT_LIMITS = ContainerLimits(memory=2 << 30, pids=1024)


def parse_limits(*, memory: str | None = None, pids: int | None = None,
                 cpus: float | None = None) -> ContainerLimits:
    """Server defaults from the command line; None keeps DEFAULT_LIMITS' value, pids 0 and
    memory `0`/`none` mean no cap."""
    if pids is not None and pids < 0:
        raise ValueError(f"pids {pids} is negative (0 means no cap)")
    if cpus is not None and not (math.isfinite(cpus) and cpus > 0):
        raise ValueError(f"cpus {cpus} is not a positive number")
    return ContainerLimits(
        memory=DEFAULT_LIMITS.memory if memory is None else parse_memory(memory),
        pids=DEFAULT_LIMITS.pids if pids is None else pids or None,
        cpus=DEFAULT_LIMITS.cpus if cpus is None else cpus)
