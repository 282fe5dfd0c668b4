"""engine/lifeline.py: the stop flag set by signals, and the parent-death signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tests import ROOT
from wfobj.cli.processes.lifeline import stop_on_signals


def test_first_signal_sets_the_flag_the_second_interrupts():
    stop = threading.Event()
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(2)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_escalation_every_signal_only_asks_to_stop():
    stop = threading.Event()
    with stop_on_signals(stop, second_raises=False):
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(2)


# a parent that forks a child armed with die_with_parent, prints the child's pid, and
# waits to be killed
FAMILY = textwrap.dedent("""
    import os, sys, time
    from wfobj.cli.processes.lifeline import die_with_parent
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        die_with_parent(parent)
        time.sleep(120)
        os._exit(0)
    print(pid, flush=True)
    time.sleep(120)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_a_child_dies_when_its_parent_is_killed_9():
    parent = subprocess.Popen([sys.executable, "-c", FAMILY], stdout=subprocess.PIPE,
                              text=True, cwd=str(ROOT))
    child = int(parent.stdout.readline())
    time.sleep(0.3)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its SIGKILLed parent")


def test_a_child_whose_parent_is_already_gone_exits_at_once():
    code = "from wfobj.cli.processes.lifeline import die_with_parent; die_with_parent(1); print('alive')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=str(ROOT))
    if sys.platform.startswith("linux"):
        assert done.returncode == 1 and "alive" not in done.stdout
