"""`wfobj` commands: runs (placeholder until its issue lands)."""

import click


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
