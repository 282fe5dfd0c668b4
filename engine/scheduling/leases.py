"""Leases: which worker owns which run, kept in store meta and changed only by CAS.

A lease is JSON {worker, pid, host, expires}. The owner renews it while it runs the run;
a lease past `expires` (or held by a dead process on this host) is abandoned, and whoever
takes it over by CAS ends the run as failed with an audit entry saying why.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Lease:
    worker: str
    pid: int
    host: str
    expires: float

    def encode(self) -> bytes:
        return json.dumps({"worker": self.worker, "pid": self.pid, "host": self.host,
                           "expires": round(self.expires, 3)}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Lease:
        data = json.loads(raw)
        return cls(data["worker"], int(data["pid"]), data["host"], float(data["expires"]))

    def abandoned(self, now: float) -> str | None:
        """Why this lease no longer protects its run, or None while it is alive."""
        if self.expires < now:
            return f"its lease expired {now - self.expires:.1f}s ago without a heartbeat"
        if self.host == this_host() and not process_alive(self.pid):
            return f"its process {self.pid} on {self.host} is gone"
        return None


def this_host() -> str:
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
