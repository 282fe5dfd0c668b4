"""Resume and reproduce: what a new run of an ended run's definition and parameters
records about where it comes from (docs/cache.md)."""

from __future__ import annotations

from wfobj.engine.errors import NothingToRepeat
from wfobj.engine.model import ImageFacts, TaskEvidence, read
from wfobj.objstore import ObjectStore

from .state import RunState


def check_ended(run: RunState, verb: str) -> None:
    if not run.terminal:
        raise NothingToRepeat(run.run_id, run.state, verb)


def resume_origin(run: RunState) -> dict:
    """Cache on: finished tasks are reused, the rest run."""
    check_ended(run, "resume")
    return {"cache": True, "resumes": run.run_id}


def reproduce_origin(store: ObjectStore, run: RunState) -> dict:
    """Cache off, every task pinned to the image id its last attempt recorded (a task
    that never ran keeps its tag)."""
    check_ended(run, "reproduce")
    return {"cache": False, "reproduces": run.run_id, "image_pins": image_pins(store, run)}


def image_pins(store: ObjectStore, run: RunState) -> dict[str, str]:
    pins = {}
    for name in run.order:
        attempts = run.tasks[name].attempts
        if attempts:
            ev = read(store, attempts[-1], TaskEvidence)
            image_id = read(store, ev.image_facts.oid, ImageFacts).image_id
            if image_id:
                pins[name] = image_id
    return pins
