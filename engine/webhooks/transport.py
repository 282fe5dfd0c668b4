"""The connections a webhook try's `TryDeadline` (engine/webhooks/deadline.py) can cut,
mounted on the deliverer's sessions (`watched_session`).

That holds for every way a try goes out: directly, through an HTTP proxy, and through a
SOCKS proxy, whose socket is watched from before it connects, so a proxy that trickles
its own handshake is cut too (engine/webhooks/socks_proxy.py).
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .deadline import Watched


class WatchedHTTPConnection(Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(Watched, HTTPSConnection):
    pass


class WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


WATCHED_POOLS = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections a TryDeadline can cut: direct, through an HTTP
    proxy and through a SOCKS proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if proxy.lower().startswith("socks"):  # requests made it: PySocks is installed
            from .socks_proxy import WATCHED_SOCKS_POOLS

            manager.pool_classes_by_scheme = WATCHED_SOCKS_POOLS
        else:
            manager.pool_classes_by_scheme = WATCHED_POOLS
        return manager


def watched_session() -> requests.Session:
    """A requests session whose tries a TryDeadline can cut."""
    session = requests.Session()
    adapter = WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
