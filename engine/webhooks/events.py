"""The events hooks receive: which audit entries make one, and each as a CloudEvents 1.0
event in structured JSON mode, signed with HMAC-SHA256 (docs/events.md).

An event is made from the audit entry that records the change (its `seq` makes the
event's id, so a retried delivery carries the same id and body) and the run's manifest
written in the same transaction (`manifest` in `data`: the hash that proves the run).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

SPEC_VERSION = "1.0"
TYPE_PREFIX = "org.wfobj."
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
SIGNATURE_HEADER = "X-Wfobj-Signature"
SIGNATURE_PREFIX = "sha256="
# what a hook may subscribe to, in the order a run makes them
EVENT_NAMES = ("run.created", "run.started", "run.succeeded", "run.failed", "run.killed",
               "task.failed")
_RUN_STATE_EVENTS = {"running": "run.started", "success": "run.succeeded",
                     "failed": "run.failed", "killed": "run.killed"}


@dataclass(frozen=True)
class RunEvent:
    """One event of a run, noted as its audit entry is written."""

    name: str  # one of EVENT_NAMES
    seq: int  # the audit entry's sequence number in its run
    at: str
    task: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RunFacts:
    """What every event of a run says about it, as of the transaction that makes it."""

    run_id: str
    workflow: str
    state: str
    manifest: str
    triggered_by: str


def event_name(audit_event: str, new: str | None) -> str | None:
    """The event an audit entry makes, or None (most entries make none)."""
    if audit_event == "run_created":
        return "run.created"
    if audit_event == "run_state":
        return _RUN_STATE_EVENTS.get(str(new))
    if audit_event == "task_state" and str(new) == "failed":
        return "task.failed"
    return None


def cloud_event(facts: RunFacts, event: RunEvent) -> dict:
    """The CloudEvents 1.0 structured-mode event (a JSON object)."""
    data: dict = {"run_id": facts.run_id, "workflow": facts.workflow, "state": facts.state,
                  "manifest": facts.manifest, "triggered_by": facts.triggered_by,
                  "audit_seq": event.seq}
    out = {"specversion": SPEC_VERSION, "id": event_id(facts.run_id, event.seq),
           "source": f"/api/runs/{facts.run_id}", "type": TYPE_PREFIX + event.name,
           "time": event.at, "datacontenttype": "application/json"}
    if event.task is not None:
        out["subject"] = event.task
        data["task"] = event.task
    if event.reason:
        data["reason"] = event.reason
    return out | {"data": data}


def event_id(run_id: str, seq: int) -> str:
    """An event's id: its run's and its audit entry's, so a retry carries the same one."""
    return f"{run_id}.{seq}"


def encode(event: dict) -> bytes:
    """The exact body POSTed (and signed): compact JSON with sorted keys."""
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: bytes, body: bytes) -> str:
    """The value of the signature header: `sha256=` and the HMAC-SHA256 of `body`, hex."""
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def check_signature(secret: bytes, body: bytes, header: str) -> bool:
    """What a receiver does: compare the header with the body's HMAC in constant time."""
    return hmac.compare_digest(signature(secret, body), header)
