"""Slow middlemen on loopback for tests of a try's deadline: a SOCKS5 proxy (RFC 1928, no
authentication, CONNECT only) that relays to where it is asked or trickles its handshake
answers a byte at a time, and a server that trickles a fixed answer (a TLS handshake, an
HTTP proxy's answer to CONNECT); each notes when a client connection opened and when the
client hung up."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Tunnel:
    opened_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None  # when the client hung up (or the relay ended)
    target: tuple[str, int] | None = None


class Accepting:
    """Serves each connection of `listener` in a thread of its own (`handle`), noting it as
    a Tunnel, until `stop` is set or the listener closes."""

    stop: threading.Event
    tunnels: list[Tunnel]

    def handle(self, client: socket.socket, tunnel: Tunnel) -> None:
        raise NotImplementedError

    def serve(self, listener: socket.socket) -> None:
        while not self.stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            tunnel = Tunnel()
            self.tunnels.append(tunnel)
            threading.Thread(target=self.handle, args=(client, tunnel), daemon=True).start()


@dataclass
class SocksProxy(Accepting):
    """`trickle`: seconds between the bytes of its handshake answers (0: at once)."""

    trickle: float = 0.0
    tunnels: list[Tunnel] = field(default_factory=list)
    url: str = ""
    stop: threading.Event = field(default_factory=threading.Event)

    def handle(self, client: socket.socket, tunnel: Tunnel) -> None:
        upstream = None
        try:
            ver, count = read_exactly(client, 2)
            read_exactly(client, count)  # the methods offered: "no authentication" taken
            self.send(client, bytes([5, 0]))
            ver, cmd, _, atyp = read_exactly(client, 4)
            if atyp == 1:
                host = socket.inet_ntoa(read_exactly(client, 4))
            elif atyp == 3:
                host = read_exactly(client, read_exactly(client, 1)[0]).decode()
            else:
                raise OSError("address type not supported here")
            (port,) = struct.unpack("!H", read_exactly(client, 2))
            tunnel.target = (host, port)
            upstream = socket.create_connection((host, port), timeout=5)
            upstream.settimeout(None)
            self.send(client, bytes([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]))
            self.relay(client, upstream)
        except OSError:
            pass
        finally:
            tunnel.closed_at = time.monotonic()
            for s in (client, upstream):
                if s is not None:
                    s.close()

    def send(self, client: socket.socket, data: bytes) -> None:
        if not self.trickle:
            client.sendall(data)
            return
        for i in range(len(data)):
            # the client sends nothing while it waits for this answer: readable is hung up
            readable, _, _ = select.select([client], [], [], self.trickle)
            if readable or self.stop.is_set():
                raise OSError("client hung up")
            client.sendall(data[i:i + 1])

    def relay(self, client: socket.socket, upstream: socket.socket) -> None:
        """Bytes both ways until the client hangs up (what the upstream sends after
        that is dropped)."""
        def down() -> None:
            with contextlib.suppress(OSError):
                while chunk := upstream.recv(4096):
                    client.sendall(chunk)
        threading.Thread(target=down, daemon=True).start()
        while chunk := client.recv(4096):
            upstream.sendall(chunk)


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("client hung up")
        data += chunk
    return data


@contextmanager
def socks_proxy(proxy: SocksProxy | None = None) -> Iterator[SocksProxy]:
    proxy = proxy or SocksProxy()
    listener = socket.create_server(("127.0.0.1", 0))
    proxy.url = f"socks5://127.0.0.1:{listener.getsockname()[1]}"
    thread = threading.Thread(target=proxy.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.stop.set()
        listener.close()
        thread.join(5)


@dataclass
class Trickler(Accepting):
    """A TCP server that reads what a client first sends, then answers `answer` a byte
    every `trickle` seconds (a TLS server stuck in its handshake, an HTTP proxy slow to
    answer CONNECT), noting when each connection opened and when the client hung up."""

    answer: bytes
    trickle: float = 0.5
    tunnels: list[Tunnel] = field(default_factory=list)
    port: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def handle(self, client: socket.socket, tunnel: Tunnel) -> None:
        try:
            client.recv(65536)  # the ClientHello, or the CONNECT request
            for i in range(len(self.answer)):
                readable, _, _ = select.select([client], [], [], self.trickle)
                if readable and not client.recv(65536, socket.MSG_PEEK):
                    return  # hung up
                if self.stop.is_set():
                    return
                client.sendall(self.answer[i:i + 1])
        except OSError:
            pass
        finally:
            tunnel.closed_at = time.monotonic()
            client.close()


@contextmanager
def trickling(server: Trickler) -> Iterator[Trickler]:
    listener = socket.create_server(("127.0.0.1", 0))
    server.port = listener.getsockname()[1]
    thread = threading.Thread(target=server.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        listener.close()
        thread.join(5)
