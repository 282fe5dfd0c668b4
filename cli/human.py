"""How human-readable output shows values: a missing value is `-`, never `None`; a state
change reads `old -> new`; tables start with a header line. (--json output is untouched.)"""

from __future__ import annotations

from collections.abc import Iterable

import click

MISSING = "-"


def shown(value: object) -> str:
    """`value` as text; None (a time not reached, an exit never seen) as `-`."""
    return MISSING if value is None else str(value)


def transition(old: str | None, new: str | None) -> str:
    """`old -> new`; a side that is None is left out (`pending` for a first state)."""
    if old is None:
        return shown(new)
    if new is None:
        return f"{old} ->"
    return f"{old} -> {new}"


def seconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3f}s"


def table(header: str, lines: Iterable[str]) -> None:
    """Print a table: its header line, then one line per row."""
    click.echo(header)
    for line in lines:
        click.echo(line)
