"""app/request_reader.py: when a request has fully arrived, when it must be handed to gunicorn as is,
and when it arrives too slowly."""

from __future__ import annotations

import pytest

from app.request_reader import ReadLimits, RequestReader

LIMITS = ReadLimits(header_timeout=10, body_stall=5, body_min_rate=1000, body_timeout=60, max_body=10_000)


def reader_of(*parts: bytes, start: float = 0.0, step: float = 0.1) -> RequestReader:
    """A reader fed `parts` at `step`-second intervals from `start`."""
    reader = RequestReader(LIMITS)
    for i, part in enumerate(parts):
        reader.feed(part, now=start + i * step)
    return reader


def test_a_get_without_a_body_is_complete_with_its_headers():
    reader = reader_of(b"GET /api/health HTTP/1.1\r\nHost: n\r\n", b"\r\n")
    assert reader.complete and reader.is_probe and not reader.hand_over


def test_a_content_length_body_is_complete_only_when_every_byte_is_in():
    head = b"POST /api/detect HTTP/1.1\r\nContent-Length: 10\r\n\r\n"
    reader = reader_of(head, b"12345")
    assert not reader.complete and reader.body_received == 5 and not reader.is_probe
    reader.feed(b"67890", now=1.0)
    assert reader.complete


def test_a_chunked_body_is_complete_after_its_last_chunk_and_trailers():
    head = b"POST /api/detect HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    reader = reader_of(head, b"5\r\nhel", b"lo\r\n3;ext=1\r\nabc\r\n0\r\n")
    assert not reader.complete
    reader.feed(b"X-Trailer: 1\r\n", now=1.0)
    assert not reader.complete
    reader.feed(b"\r\n", now=1.1)
    assert reader.complete


def test_bytes_after_a_complete_request_stay_in_the_buffer():
    first = b"GET /api/health HTTP/1.1\r\n\r\n"
    reader = reader_of(first + b"GET /api/ready HTTP/1.1\r\n\r\n")
    assert reader.complete and bytes(reader.buf).startswith(first)


@pytest.mark.parametrize(
    "head",
    [
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",  # both framings
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",  # two lengths
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"NOT A REQUEST LINE\r\n\r\n",
        b"POST / HTTP/1.1\r\nBad Header : x\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 20000\r\n\r\n",  # over max_body: the app answers 413 at once
    ],
)
def test_what_cannot_be_framed_is_handed_to_gunicorn_at_once(head):
    reader = reader_of(head)
    assert reader.hand_over and not reader.complete


def test_a_bad_chunk_size_is_handed_over():
    reader = reader_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"zz\r\n")
    assert reader.hand_over


def test_a_head_longer_than_gunicorn_accepts_is_handed_over():
    reader = reader_of(b"GET /" + b"a" * (LIMITS.max_head + 10))
    assert reader.hand_over


def test_expect_continue_is_noticed():
    reader = reader_of(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert reader.expects_continue and not reader.complete


def test_slow_headers_are_cut_off():
    reader = reader_of(b"POST / HTTP/1.1\r\n", start=0.0)
    assert reader.verdict(9.0) is None
    assert "headers" in (reader.verdict(10.5) or "")


def test_a_stalled_body_is_cut_off():
    reader = reader_of(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n", b"x" * 10)
    assert reader.verdict(4.0) is None
    assert "stalled" in (reader.verdict(5.5) or "")


def test_a_body_below_the_minimum_rate_is_cut_off_once_it_is_old_enough():
    reader = RequestReader(LIMITS)
    reader.feed(b"POST / HTTP/1.1\r\nContent-Length: 9000\r\n\r\n", now=0.0)
    for t in range(1, 6):  # 100 bytes/s, a burst every second: never stalled, and too young to judge
        reader.feed(b"x" * 100, now=float(t))
        assert reader.verdict(float(t)) is None
    reader.feed(b"x" * 100, now=6.0)
    assert "bytes/s" in (reader.verdict(6.0) or "")  # older than body_stall now, at 100 of 1000 bytes/s


def test_a_body_at_a_good_rate_is_never_cut_off_before_its_deadline():
    reader = RequestReader(LIMITS)
    reader.feed(b"POST / HTTP/1.1\r\nContent-Length: 9000\r\n\r\n", now=0.0)
    for t in range(1, 10):
        reader.feed(b"x" * 1100, now=float(t))  # 1100 bytes/s, over the 1000 minimum
        assert reader.verdict(float(t)) is None
    assert reader.complete


def test_the_whole_body_deadline_holds_whatever_the_rate():
    limits = ReadLimits(body_stall=100, body_min_rate=0, body_timeout=3, max_body=10_000)
    reader = RequestReader(limits)
    reader.feed(b"POST / HTTP/1.1\r\nContent-Length: 9000\r\n\r\n", now=0.0)
    reader.feed(b"x", now=2.9)
    assert "within 3 s" in (reader.verdict(3.1) or "")


def test_a_complete_request_is_never_cut_off():
    reader = reader_of(b"GET / HTTP/1.1\r\n\r\n")
    assert reader.verdict(1000.0) is None
