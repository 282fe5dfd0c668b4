"""Runs that start themselves (schedules, data triggers): checked like a trigger, created
in one transaction with the caller's claim, so a slot or a content starts one run only."""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import metadata

from wfobj.engine.clock import Clock
from wfobj.engine.definitions.params import check_parameters
from wfobj.engine.model import Definition
from wfobj.engine.runs.lifecycle import create_run
from wfobj.engine.runs.state import RunState
from wfobj.objstore import ObjectStore, WriteBatch

from .render import check_rendered_sizes


@functools.cache
def engine_version() -> str:
    """What run records name as the engine that made them."""
    try:
        return "wfobj " + metadata.version("wfobj")
    except metadata.PackageNotFoundError:
        return "wfobj (unpackaged)"


def start_run(store: ObjectStore, clock: Clock, *, definition_oid: str,
              definition: Definition, parameters: dict, started_by: str, trigger: dict,
              claim: Callable[[WriteBatch, str], None]) -> RunState:
    """Check `parameters` as a trigger would (ParameterError, RenderedTooLarge) and queue
    the run with `claim(batch, run_id)` in its transaction (ConflictError if it fails)."""
    values = check_parameters(definition.params, parameters, store)
    check_rendered_sizes(definition, values)
    return create_run(store, clock, definition_oid=definition_oid, definition=definition,
                      parameters=values, user=started_by, engine_version=engine_version(),
                      origin={"trigger": trigger}, claim=claim)
