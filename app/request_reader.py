"""Knowing when an HTTP/1.1 request has fully arrived, from its bytes so far (no socket, no threads).

The buffering worker (app/buffering_worker.py) feeds a connection's bytes to a RequestReader as they
arrive; once `complete`, the request is handed to gunicorn's own parser, which does the real parsing
and validation. Anything this reader cannot frame (a malformed head, conflicting lengths, a bad chunk
size) is handed over at once too, so gunicorn answers it as it always does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

PROBE_PATHS = frozenset({"/api/health", "/api/ready", "/metrics"})


@dataclass(frozen=True)
class ReadLimits:
    """How long and how slowly a request may arrive before it is cut off with 408."""

    header_timeout: float = 10.0  # seconds from the first byte to the end of the headers
    body_stall: float = 10.0  # seconds without a byte of the body
    body_min_rate: float = 10_000.0  # bytes/s on average, enforced once the body is body_stall seconds old
    body_timeout: float = 600.0  # seconds for the whole body
    max_head: int = 8190 + 4 + 100 * (8190 + 2)  # gunicorn's request line + 100 fields: beyond, gunicorn decides
    max_body: int = 20 * 1024 * 1024  # over this the app refuses (413) without reading: no point in buffering


@dataclass
class _Chunked:
    """Where the scan of a chunked body is: `pos` is the offset (from the body's start) still to read."""

    pos: int = 0
    state: str = "size"  # size -> data -> trailers -> done
    remaining: int = 0  # data bytes (+2 for the CRLF) left in the current chunk
    body_bytes: int = 0


@dataclass
class RequestReader:
    """The bytes of one request (and whatever the client sent after it) as they arrive."""

    limits: ReadLimits
    buf: bytearray = field(default_factory=bytearray)
    started: float = field(default_factory=time.monotonic)  # first byte (or the connection's start)
    head_end: int = -1  # offset just past the blank line, once the head is in
    body_started: float = 0.0
    last_byte: float = 0.0
    content_length: int = 0
    chunked: _Chunked | None = None
    method: str = ""
    path: str = ""
    expects_continue: bool = False
    continue_sent: bool = False
    hand_over: bool = False  # let gunicorn read the rest itself (it will answer the error)
    complete: bool = False

    def feed(self, data: bytes, now: float | None = None) -> None:
        """Add bytes that arrived; updates `complete` / `hand_over`."""
        now = time.monotonic() if now is None else now
        if not self.buf and data:
            self.started = now
        self.buf += data
        self.last_byte = now
        if self.head_end < 0:
            self._scan_head(now)
        if self.head_end >= 0 and not (self.complete or self.hand_over):
            self._scan_body()

    @property
    def body_received(self) -> int:
        """Bytes of the body so far (framing included for chunked bodies)."""
        return max(0, len(self.buf) - self.head_end) if self.head_end >= 0 else 0

    @property
    def is_probe(self) -> bool:
        """A GET of /api/health, /api/ready or /metrics: served by its own threads."""
        return self.method == "GET" and self.path in PROBE_PATHS

    def _scan_head(self, now: float) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > self.limits.max_head:
                self.hand_over = True
            return
        self.head_end = end + 4
        self.body_started = now
        lines = bytes(self.buf[:end]).split(b"\r\n")
        request_line = lines[0].split(b" ")
        if len(request_line) != 3:
            self.hand_over = True
            return
        self.method = request_line[0].decode("latin-1")
        self.path = request_line[1].split(b"?", 1)[0].decode("latin-1")
        lengths, chunked = [], False
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or name != name.strip():
                self.hand_over = True
                return
            key, val = name.lower(), value.strip().lower()
            if key == b"content-length":
                lengths.append(val)
            elif key == b"transfer-encoding":
                chunked = chunked or val.endswith(b"chunked")
                if not val.endswith(b"chunked"):
                    self.hand_over = True
            elif key == b"expect" and val == b"100-continue":
                self.expects_continue = True
        if (lengths and chunked) or len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            self.hand_over = True  # ambiguous framing: gunicorn refuses it
            return
        if chunked:
            self.chunked = _Chunked()
        elif lengths:
            self.content_length = int(lengths[0])
            if self.content_length > self.limits.max_body:
                self.hand_over = True  # the app answers 413 from the header alone

    def _scan_body(self) -> None:
        if self.chunked is None:
            self.complete = self.body_received >= self.content_length
            return
        c, body = self.chunked, memoryview(self.buf)[self.head_end :]
        while c.state != "done":
            if c.state == "size":
                eol = bytes(body[c.pos :]).find(b"\r\n")
                if eol < 0:
                    if len(body) - c.pos > 1024:  # no chunk-size line is that long
                        self.hand_over = True
                    return
                size_text = bytes(body[c.pos : c.pos + eol]).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    self.hand_over = True
                    return
                c.pos += eol + 2
                if size == 0:
                    c.state = "trailers"
                else:
                    c.state, c.remaining = "data", size + 2
                    c.body_bytes += size
                    if c.body_bytes > self.limits.max_body:
                        self.hand_over = True
                        return
            elif c.state == "data":
                take = min(c.remaining, len(body) - c.pos)
                c.pos += take
                c.remaining -= take
                if c.remaining:
                    return
                c.state = "size"
            else:  # trailers: lines until an empty one
                eol = bytes(body[c.pos :]).find(b"\r\n")
                if eol < 0:
                    return
                c.pos += eol + 2
                if eol == 0:
                    c.state = "done"
        self.complete = True

    def verdict(self, now: float) -> str | None:
        """Why the request must be cut off now (408), or None while it may go on arriving."""
        if self.complete or self.hand_over:
            return None
        lim = self.limits
        if self.head_end < 0:
            if now - self.started > lim.header_timeout:
                return f"the request headers did not arrive within {lim.header_timeout:g} s"
            return None
        if now - self.last_byte > lim.body_stall:
            return f"the request body stalled: no byte for {lim.body_stall:g} s"
        age = now - self.body_started
        if age > lim.body_timeout:
            return f"the request body did not arrive within {lim.body_timeout:g} s"
        if age > lim.body_stall and self.body_received / age < lim.body_min_rate:
            return (
                f"the request body arrived at {self.body_received / age:.0f} bytes/s, below the "
                f"{lim.body_min_rate:g} bytes/s a node waits for"
            )
        return None
