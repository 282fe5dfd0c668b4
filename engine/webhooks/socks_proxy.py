"""Webhook tries through a SOCKS proxy, under their TryDeadline (engine/webhooks/deadline.py).

urllib3's SOCKS connections (PySocks) connect and negotiate with the proxy in one call, each
read of the proxy's answers timed on its own: a proxy that trickles its handshake, a byte
within every timeout, holds a try for as long as it has bytes to send, and the connection
has no socket a deadline could cut until the handshake is over. Here the try's socket is
made first and registered with the deadline before it connects, so the deadline cuts it
in any phase: connecting (a connect in progress is aborted), negotiating, sending the
request or reading the answer. Imported only when a SOCKS proxy is used (PySocks is then
installed: requests refuses a `socks5://` proxy without it).
"""

from __future__ import annotations

import socket

import socks
from urllib3.connection import HTTPSConnection
from urllib3.contrib.socks import (
    SOCKSConnection,
    SOCKSHTTPConnectionPool,
    SOCKSHTTPSConnectionPool,
)
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from .deadline import TryDeadline, Watched, current_deadline


class WatchedSOCKSConnection(Watched, SOCKSConnection):
    """A SOCKS connection whose socket the thread's TryDeadline watches from the start."""

    def _new_conn(self) -> socks.socksocket:
        deadline = current_deadline()
        if deadline is None:
            return super()._new_conn()
        try:
            return self._watched_socket(deadline)
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                            f"(connect timeout={self.timeout})") from exc
        except socks.ProxyError as exc:
            cause = exc.socket_err or exc
            if isinstance(cause, TimeoutError):
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                                f"(connect timeout={self.timeout})") from exc
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {cause}") from exc
        except OSError as exc:
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {exc}") from exc

    def _watched_socket(self, deadline: TryDeadline) -> socks.socksocket:
        """PySocks' create_connection, with the socket registered before it connects."""
        options = self._socks_options
        proxy_host = (options["proxy_host"] or "").strip("[]")
        error: OSError | None = None
        for family, kind, proto, _, _ in socket.getaddrinfo(
                proxy_host, options["proxy_port"], 0, socket.SOCK_STREAM):
            sock = socks.socksocket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(self.timeout, (int, float)):
                    sock.settimeout(self.timeout)
                sock.set_proxy(options["socks_version"], proxy_host, options["proxy_port"],
                               options["rdns"], options["username"], options["password"])
                if self.source_address:
                    sock.bind(self.source_address)
                if not deadline.attach(sock):
                    raise TimeoutError("the try's deadline passed before connecting")
                sock.connect((self.host.strip("[]"), self.port))
                return sock
            except OSError as exc:  # socks.ProxyError is one
                error = exc
                sock.close()
        raise error or OSError(f"no address for the SOCKS proxy {proxy_host!r}")


class WatchedSOCKSHTTPSConnection(WatchedSOCKSConnection, HTTPSConnection):
    pass


class WatchedSOCKSHTTPPool(SOCKSHTTPConnectionPool):
    ConnectionCls = WatchedSOCKSConnection


class WatchedSOCKSHTTPSPool(SOCKSHTTPSConnectionPool):
    ConnectionCls = WatchedSOCKSHTTPSConnection


WATCHED_SOCKS_POOLS = {"http": WatchedSOCKSHTTPPool, "https": WatchedSOCKSHTTPSPool}
