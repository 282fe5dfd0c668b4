"""Posting a run's OpenLineage events to an HTTP endpoint while it runs.

A worker calls `OpenLineageFeed.step(store, run_id)` at every scheduler step; when the
run's manifest has changed since the last look, the events of the export
(engine/provenance/exports/openlineage.py) not yet sent are posted with the `openlineage-python`
HTTP transport (`POST <url>/api/v1/lineage`, the endpoint Marquez serves). Best effort:
an event the endpoint refuses is logged and tried again at the next change, never
failing the run.
"""

from __future__ import annotations

import logging

from wfobj.objstore import ObjectStore

from .run_stream import RunStream, open_run_stream

log = logging.getLogger(__name__)
RETRY = {"total": 1, "backoff_factor": 0.1, "status_forcelist": [500, 502, 503, 504]}


class OpenLineageFeed:
    """Sends each (run id, event type) once per worker process."""

    def __init__(self, url: str, *, endpoint: str = "api/v1/lineage",
                 timeout: float = 5.0) -> None:
        self.url, self.endpoint, self.timeout = url, endpoint, timeout
        self._transport = None  # made on first use: after a worker process forks
        self.seen: dict[str, str | None] = {}  # run id -> manifest last looked at
        self.sent: dict[str, set[tuple[str, str]]] = {}

    def transport(self):
        if self._transport is None:
            from openlineage.client.transport.http import HttpConfig, HttpTransport

            self._transport = HttpTransport(HttpConfig(
                url=self.url, endpoint=self.endpoint, timeout=self.timeout, retry=RETRY))
        return self._transport

    def step(self, store: ObjectStore, run_id: str) -> None:
        """Post what is new about `run_id`. Once an ended run is all sent, only its last
        manifest id is kept: a later look at it sends nothing."""
        run = open_run_stream(store, run_id)  # the manifest: rows only as the events ask
        if self.seen.get(run_id) == run.manifest_hash:
            return
        self.seen[run_id] = run.manifest_hash
        if self.post_new(run) and run.terminal:
            self.sent.pop(run_id, None)

    def post_new(self, run: RunStream) -> bool:
        """Post the events not sent yet; True when every one went through."""
        from .openlineage import events

        sent = self.sent.setdefault(run.run_id, set())
        for event in events(run):
            key = (event.run.runId, event.eventType.value)
            if key in sent:
                continue
            try:
                self.transport().emit(event)
            except Exception as exc:  # noqa: BLE001 - the feed never fails a run
                log.warning("OpenLineage feed to %s: run %s event %s not sent: %s",
                            self.url, run.run_id, key[1], exc)
                self.seen.pop(run.run_id, None)  # look again at the next step
                return False
            sent.add(key)
        return True
