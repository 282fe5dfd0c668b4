"""How engine and server processes end: on SIGINT/SIGTERM, and together with their parent.

A first SIGINT or SIGTERM sets a stop flag so the work in hand winds down (runs ended,
evidence kept); a second one raises KeyboardInterrupt for those who cannot wait. A child
started by a supervisor asks the kernel (Linux `prctl(PR_SET_PDEATHSIG)`) to signal it
when that parent dies, even by SIGKILL, so no child outlives the process that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, *,
                    second_raises: bool = True) -> Iterator[threading.Event]:
    """While inside: the first SIGINT/SIGTERM sets `stop`, the next raises
    KeyboardInterrupt (unless `second_raises` is off: then every one only sets `stop`).
    Outside the main thread (no signals there) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            if second_raises:
                raise KeyboardInterrupt(name)
            return
        log.warning("%s: stopping%s", name, "; send it again to stop at once" if second_raises
                    else "")
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> bool:
    """Have the kernel send `sig` to this process when its parent (`parent_pid`, the
    process that started it) dies; exit at once if it already has. Safe between fork and
    exec (it starts no process and reads no file). False where the platform has no such
    signal."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter runs on
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent_pid:  # it died before the signal was armed
        os._exit(1)
    return True
