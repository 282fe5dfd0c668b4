"""Masking secret values in task streams: every occurrence of 6+ bytes becomes ***, also
when a value is split across reads of the stream; only the exact bytes are caught."""

from __future__ import annotations

import io
import random
import struct

import pytest

from wfobj.engine.executors.capture import split_frames
from wfobj.engine.executors.masking import Masker

TOKEN = b"ghp_abcdef0123456789"


def feed_all(masker: Masker, pieces: list[bytes]) -> bytes:
    mask = masker.stream()
    return b"".join(mask.feed(p) for p in pieces) + mask.flush()


def test_a_value_is_masked_wherever_it_is():
    masker = Masker([TOKEN])
    text = b"token=" + TOKEN + b"\n" + TOKEN + TOKEN + b" end " + TOKEN
    assert feed_all(masker, [text]) == b"token=***\n****** end ***"


def test_a_value_split_across_any_two_reads_is_masked():
    masker = Masker([TOKEN])
    text = b"before " + TOKEN + b" after"
    for cut in range(len(text) + 1):
        assert feed_all(masker, [text[:cut], text[cut:]]) == b"before *** after", cut


def test_byte_by_byte_and_random_pieces():
    masker = Masker([TOKEN, b"hunter22"])
    text = (b"x" * 100 + TOKEN + b"y" * 3 + b"hunter22" + b"hunter2" + TOKEN[:-1]) * 20
    expected = (b"x" * 100 + b"***" + b"yyy" + b"***" + b"hunter2" + TOKEN[:-1]) * 20
    assert feed_all(masker, [bytes([b]) for b in text]) == expected
    rng = random.Random(7)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(text)), 15))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert feed_all(masker, pieces) == expected


def test_the_longer_of_two_overlapping_values_wins():
    masker = Masker([b"abcdef", b"abcdefgh"])
    assert feed_all(masker, [b"-abcdefgh-abcdef-"]) == b"-***-***-"
    assert feed_all(masker, [b"-abcde", b"fgh-"]) == b"-***-"


def test_short_values_are_not_masked_and_nothing_is_held_without_values():
    assert not Masker([b"12345"])
    assert Masker([b"12345"]).stream() is None
    masker = Masker([b"12345", b"123456"])
    assert feed_all(masker, [b"12345 123456"]) == b"12345 ***"


def test_transformed_values_are_not_caught():
    masker = Masker([TOKEN])
    import base64
    text = base64.b64encode(TOKEN) + b" " + TOKEN[::-1] + b" " + TOKEN.upper()
    assert feed_all(masker, [text]) == text


def test_text_masking_of_vars():
    masker = Masker([TOKEN])
    assert masker.text("v=" + TOKEN.decode()) == "v=***"
    assert masker.text("plain") == "plain"


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(payload)) + payload


@pytest.mark.parametrize("piece", [1, 3, 7, 64])
def test_docker_frames_split_anywhere_are_masked_per_stream(piece):
    stream = (frame(1, b"out " + TOKEN[:9]) + frame(2, b"err " + TOKEN[:4])
              + frame(1, TOKEN[9:] + b"\n") + frame(2, TOKEN[4:] + b" done"))
    out, err = io.BytesIO(), io.BytesIO()
    split_frames([stream[i:i + piece] for i in range(0, len(stream), piece)], out, err,
                 None, Masker([TOKEN]))
    assert out.getvalue() == b"out ***\n"
    assert err.getvalue() == b"err *** done"
