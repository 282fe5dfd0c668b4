"""The child side of `wfobj hook deliver`: the webhook deliverer on a store until
SIGINT/SIGTERM (`wfobj serve` starts one, cli/processes/supervisor.py)."""

from __future__ import annotations

import logging

from wfobj.engine import Deliverer, DeliverySettings
from wfobj.objstore import open_store

from .lifeline import stop_on_signals

log = logging.getLogger(__name__)


def serve_deliverer(store_path: str, settings: DeliverySettings) -> None:
    """Deliver the store's webhook events until asked to stop; the sends in flight finish
    (each bounded by the settings' timeout) before the process ends."""
    deliverer = Deliverer(open_store(store_path), settings=settings)
    with stop_on_signals(deliverer.stop, second_raises=False):
        log.info("webhook deliverer %s serving %s", deliverer.id, store_path)
        deliverer.serve()
