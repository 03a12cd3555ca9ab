"""A gthread worker whose event loop reads each request whole before any thread sees it.

gunicorn's gthread worker hands a connection to a thread as soon as its first bytes arrive, and the
thread then blocks while the rest trickles in: a few slow uploads (edge devices on slow uplinks) fill
every thread, and health checks queue behind them. Here the worker's own event loop reads the request
line, headers and body of every connection without blocking, with a deadline and a minimum rate
(a JSON 408 and a closed connection otherwise); only a complete request is handed to a thread,
replayed into gunicorn's own parser, so everything after that (parsing, limits, errors, keep-alive)
is gthread's. Probes (GET /api/health, /api/ready, /metrics) run on threads of their own, so they
never wait behind detections either.

Selected by gunicorn.conf.py (`worker_class`). TLS is not read here: terminate it in front (a proxy or
an ingress, see docs/deployment.md); with gunicorn's own TLS settings the worker behaves as gthread.
"""

from __future__ import annotations

import errno
import json
import selectors
import socket
import time
from concurrent import futures
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker

from app.config import Settings
from app.request_reader import ReadLimits, RequestReader

PROBE_THREADS = 2
RECV_BYTES = 256 * 1024
LINGER_SECONDS = 2.0  # after a 408: how long the loop drains what the client still sends, so it reads the answer
LINGER_BYTES = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def timeout_response(message: str) -> bytes:
    """The 408 the worker writes itself: the API's JSON error shape, and the connection closes."""
    body = json.dumps({"error": {"code": "request_timeout", "message": message}}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def read_limits(settings: Settings) -> ReadLimits:
    """The worker's cut-offs from the node's settings."""
    return ReadLimits(
        header_timeout=settings.header_timeout,
        body_stall=settings.body_stall_seconds,
        body_min_rate=settings.body_min_rate,
        body_timeout=settings.body_timeout,
        max_body=int(settings.max_upload_mb * 1024 * 1024) + 64 * 1024,  # multipart framing on top
    )


class BufferingWorker(ThreadWorker):
    """gthread with whole requests read in the event loop (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = ReadLimits()
        self.reading: dict[TConn, RequestReader] = {}
        self.lingering: dict[TConn, tuple[float, int]] = {}  # 408 sent, write side shut: (deadline, bytes drained)
        self.probe_pool: futures.ThreadPoolExecutor | None = None
        self.timeouts: Any = None
        self.buffering = not self.cfg.is_ssl

    def init_process(self) -> None:
        """Read the cut-offs (app.config.Settings) and start the probes' own threads."""
        from prometheus_client import Counter  # after the fork: PROMETHEUS_MULTIPROC_DIR is set by now

        self.limits = read_limits(Settings.from_env())
        self.probe_pool = futures.ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="probe")
        self.timeouts = Counter(
            "detector_request_timeouts", "Requests cut off with 408 while they arrived (too slow, stalled)"
        )
        if not self.buffering:
            self.log.warning("TLS is on: requests are read by threads, as with gthread (slow bodies hold them)")
        super().init_process()

    # --- connections in, requests out ------------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        """Accept a connection and start reading its first request in the loop."""
        if not self.buffering:
            super().accept(listener)
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        self._start_reading(conn, b"")

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection has its next request coming: read it in the loop too."""
        if not self.buffering:
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn, b"")

    def enqueue_req(self, conn: TConn) -> None:
        """gthread calls this for bytes read ahead behind a finished request: read the rest of that one."""
        if not self.buffering or conn.parser is None:
            super().enqueue_req(conn)
            return
        self._start_reading(conn, conn.parser.unreader.take_buffered())

    def _start_reading(self, conn: TConn, already: bytes) -> None:
        conn.sock.setblocking(False)
        reader = RequestReader(self.limits)
        self.reading[conn] = reader
        if already:
            reader.feed(already)
            if self._maybe_dispatch(conn, reader):
                return
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: TConn, _sock: socket.socket) -> None:
        reader = self.reading[conn]
        data = self._recv(conn.sock)
        if data is None:
            return
        if not data:  # the client went away before its request was whole
            self._drop(conn, registered=True)
            return
        reader.feed(data)
        if reader.expects_continue and not reader.continue_sent and not (reader.complete or reader.hand_over):
            reader.continue_sent = True  # the client waits for this before it sends the body
            self._send_quietly(conn.sock, CONTINUE)
        if self._maybe_dispatch(conn, reader, registered=True):
            return

    def _maybe_dispatch(self, conn: TConn, reader: RequestReader, registered: bool = False) -> bool:
        """Hand a whole (or unframeable) request to a thread; True if it was handed."""
        if not (reader.complete or reader.hand_over):
            return False
        if registered:
            self.poller.unregister(conn.sock)
        del self.reading[conn]
        conn.sock.setblocking(True)
        if conn.parser is None:  # gunicorn's HTTP/1.x parser over this socket (TConn.init, minus TLS and h2c)
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.initialized = True
        conn.parser.unreader.unread(bytes(reader.buf))
        conn.data_ready = True
        conn.continue_sent = reader.continue_sent  # read by handle_request
        pool = self.probe_pool if reader.is_probe and self.probe_pool is not None else self.tpool
        future = pool.submit(self.handle, conn)
        future.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))
        return True

    def handle_request(self, req: Any, conn: TConn) -> bool:
        """gthread's, minus the second `100 Continue` when the loop already sent one."""
        if getattr(conn, "continue_sent", False):
            req._expected_100_continue = False
            conn.continue_sent = False  # one request's flag
        return bool(super().handle_request(req, conn))

    # --- cut-offs ----------------------------------------------------------------------------------------

    def murder_pending(self) -> None:
        """gthread's timeouts, then the requests that arrive too slowly: 408 and close (idle ones just close)."""
        super().murder_pending()
        now = time.monotonic()
        for conn, reader in list(self.reading.items()):
            if not reader.buf:
                if now - reader.started > self.limits.header_timeout:
                    self._drop(conn, registered=True)
                continue
            reason = reader.verdict(now)
            if reason is not None:
                self.log.info("408 for %s: %s", conn.client, reason)
                self.timeouts.inc()
                self._send_quietly(conn.sock, timeout_response(reason))
                self._linger(conn)
        for conn, (deadline, _) in list(self.lingering.items()):
            if now > deadline:
                self._drop(conn, registered=True)

    def _linger(self, conn: TConn) -> None:
        """Half-close after the 408 and drain what the client still sends, without blocking the loop.

        Closing a socket with unread bytes makes the kernel send a reset, which can reach the client
        before it has read the answer (RFC 9112 section 9.6); gunicorn's close_graceful blocks, so this
        does the same from the event loop.
        """
        del self.reading[conn]
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(conn, registered=True)
            return
        self.lingering[conn] = (time.monotonic() + LINGER_SECONDS, 0)
        self.poller.modify(conn.sock, selectors.EVENT_READ, partial(self._on_lingering, conn))

    def _on_lingering(self, conn: TConn, _sock: socket.socket) -> None:
        deadline, drained = self.lingering[conn]
        data = self._recv(conn.sock)
        if data is None:
            return
        drained += len(data)
        if not data or drained >= LINGER_BYTES:
            self._drop(conn, registered=True)
        else:
            self.lingering[conn] = (deadline, drained)

    def _drop(self, conn: TConn, registered: bool) -> None:
        if registered:
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
        self.reading.pop(conn, None)
        self.lingering.pop(conn, None)
        self.nr_conns -= 1
        conn.close()

    @staticmethod
    def _recv(sock: socket.socket) -> bytes | None:
        """What a readable socket holds: b"" once the client has gone (or broke), None when nothing came yet."""
        try:
            return sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""

    @staticmethod
    def _send_quietly(sock: socket.socket, data: bytes) -> None:
        """A small answer on a non-blocking socket; a client that cannot take it is being closed anyway."""
        try:
            sock.send(data)
        except OSError:
            pass

    def run(self) -> None:
        """gthread's loop; on the way out, connections still arriving are closed and the probe threads end."""
        try:
            super().run()
        finally:
            for conn in [*self.reading, *self.lingering]:
                self._drop(conn, registered=False)
            if self.probe_pool is not None:
                self.probe_pool.shutdown(wait=False)
