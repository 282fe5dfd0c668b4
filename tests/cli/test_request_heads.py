"""What a gunicorn worker of `serve` holds while request heads arrive: when a head is in,
its one deadline, its size bound, and how many may wait at once (the oldest goes)."""

from __future__ import annotations

import pytest

from wfobj.cli.processes.request_heads import MAX_HEAD_BYTES, Verdict, WaitingHeads, head_state

HEAD = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(("data", "verdict"), [
    (HEAD, Verdict.READY),
    (HEAD + b"body bytes", Verdict.READY),
    (b"GET / HTTP/1.1\r\n\r\n", Verdict.READY),
    (HEAD[:-1], Verdict.WAIT),
    (HEAD[:-2], Verdict.WAIT),
    (b"", Verdict.WAIT),
    (b"GET / HTTP/1.1\nHost: x", Verdict.READY),  # a bare LF: gunicorn refuses it at once
    (b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES, Verdict.TOO_LARGE),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n", Verdict.TOO_LARGE),
    (b"GET / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n" + b"b" * MAX_HEAD_BYTES, Verdict.READY),
])
def test_head_state(data, verdict):
    assert head_state(data) is verdict


def test_a_head_sent_a_byte_at_a_time_is_seen_when_it_ends():
    clock = [0.0]
    heads = WaitingHeads(timeout=5, limit=4, clock=lambda: clock[0])
    assert heads.hold("c") == []
    verdicts = [heads.feed("c", HEAD[i:i + 1]) for i in range(len(HEAD))]
    assert verdicts == [Verdict.WAIT] * (len(HEAD) - 1) + [Verdict.READY]
    assert heads.take("c") == HEAD and "c" not in heads


def test_one_deadline_for_the_whole_head_however_it_trickles():
    clock = [0.0]
    heads = WaitingHeads(timeout=5, limit=4, clock=lambda: clock[0])
    heads.hold("quiet")
    heads.hold("trickling", b"G")
    for _ in range(4):
        clock[0] += 1.2
        heads.feed("trickling", b"E")
        assert heads.expired() == []
    clock[0] = 5.0
    assert heads.expired() == [("quiet", False), ("trickling", True)]
    assert len(heads) == 0


def test_past_the_limit_the_oldest_head_is_pushed_out():
    heads = WaitingHeads(timeout=5, limit=2)
    assert heads.hold("a") == [] and heads.hold("b") == []
    assert heads.hold("c") == ["a"]
    assert "a" not in heads and len(heads) == 2


def test_a_stopping_worker_cuts_every_deadline_short():
    clock = [0.0]
    heads = WaitingHeads(timeout=30, limit=4, clock=lambda: clock[0])
    heads.hold("a")
    heads.cut_short(2)
    clock[0] = 2.0
    assert heads.expired() == [("a", False)]
