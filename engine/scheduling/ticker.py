"""The ticker: a loop, beside each engine worker, that starts the runs schedules and data
triggers call for (engine/scheduling/schedules.py, data_triggers.py).

Every `wfobj worker` process and every engine worker of `wfobj serve` runs one in a thread
of its own, so a long run never delays a slot. Any number of tickers may share a store:
each run they start is claimed by compare-and-swap in the transaction that creates it.
"""

from __future__ import annotations

import logging
import threading

from wfobj.engine.clock import Clock
from wfobj.objstore import ObjectStore

from .data_triggers import TriggerKeeper
from .schedules import SlotKeeper

log = logging.getLogger(__name__)
TICK_S = 1.0  # how often a ticker looks at schedules and data refs


class Ticker:
    """initialize / loop (one tick) / shutdown, driven by `serve()` until `stop` is set."""

    def __init__(self, store: ObjectStore, *, clock: Clock | None = None,
                 interval: float = TICK_S, stop: threading.Event | None = None) -> None:
        self.clock = clock or Clock()
        self.keepers = (SlotKeeper(store, self.clock), TriggerKeeper(store, self.clock))
        self.interval = interval
        self.stop = stop or threading.Event()
        self.thread: threading.Thread | None = None

    def tick(self) -> list[str]:
        """Start what is due now; the ids of the runs started."""
        started: list[str] = []
        for keeper in self.keepers:
            try:
                started += keeper.tick()
            except Exception:  # noqa: BLE001 - the store may be busy or damaged: try again
                log.exception("ticker: %s failed", type(keeper).__name__)
        return started

    def loop(self) -> bool:
        if self.stop.is_set():
            return False
        self.tick()
        self.stop.wait(self.interval)
        return not self.stop.is_set()

    def serve(self) -> None:
        while self.loop():
            pass

    def start(self) -> threading.Thread:
        """Run `serve()` in a daemon thread; `join()` after setting `stop`."""
        self.thread = threading.Thread(target=self.serve, name="wfobj-ticker", daemon=True)
        self.thread.start()
        return self.thread

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)
