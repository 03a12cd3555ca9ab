"""Sending a list of images to N nodes: K worker threads per node pull from one queue, with failover."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.fetch import Fetched, fetch_results
from client.files import ImageFile, node_input
from client.http import Attempt, DetectRequest, attempt_record, path_request, upload_request
from client.link import MB, Link
from client.nodes import Node
from client.preprocess import Preprocess, prepare
from client.queue import Job, WorkQueue
from client.records import Record
from detector.imaging import ImageDecodeError


@dataclass
class RemoteSettings:
    """How to reach the nodes and how hard to try."""

    nodes: list[str]
    mode: str = "path"  # "path" or "upload"
    remote_root: str | None = None
    save_image: bool = False
    model: str | None = None  # the nodes' model to use, by name (--model-name); None: each node's default
    per_node: int = 1
    connect_timeout: float = 5.0
    timeout: float = 120.0  # read timeout: a node on a big model may take long for one image
    retries: int = 3  # extra attempts per image after the first
    backoff: float = 0.5  # seconds before the first retry, doubled each time, at most backoff_max
    backoff_max: float = 8.0
    failures_to_remove: int = 2
    probe_interval: float = 0.5
    give_up: float = 120.0  # fail what is left when no node has been in service for this long
    bandwidth_mbps: float | None = None
    max_pause: float = 30.0  # longest pause a node's Retry-After can ask for
    fetch_dir: Path | None = None  # --fetch: download each ok image's result files into this folder
    rtt_ms: float | None = None  # added to every request (client/link.py)
    preprocess: Preprocess = field(default_factory=Preprocess)  # upload mode: the edge's work on each image


def build_request(image: ImageFile, settings: RemoteSettings) -> tuple[DetectRequest, float]:
    """The /api/detect request for one image in the configured mode, and the seconds its `encode` took.

    Raises OSError (unreadable file) or ImageDecodeError (preprocessing a file that is not an image).
    """
    if settings.mode == "upload":
        prepared = prepare(image.path, settings.preprocess)
        return upload_request(prepared.data, image.rel, settings.save_image, settings.model), prepared.seconds
    return path_request(node_input(image, settings.remote_root), settings.save_image, settings.model), 0.0


def remote_record(
    job: Job, node: Node | None, attempt: Attempt | None, error: str | None = None, encode: float = 0.0
) -> Record:
    """The record of a job's final attempt (ok or failed)."""
    record = attempt_record(
        attempt,
        file=job.image.rel,
        size=job.image.size,
        node=node.address if node is not None else None,
        attempts=job.attempts,
        tried=job.tried,
        error=error,
    )
    record.shed = job.shed
    record.encode = round(encode, 6)
    return record


class Dispatcher:
    """Runs the jobs over the nodes and emits exactly one record per job."""

    def __init__(self, settings: RemoteSettings, notify: Callable[[str], None] = lambda message: None):
        self.settings = settings
        self.emit: Callable[[Record], None] = lambda record: None
        self.notify = notify
        self.nodes = [
            Node(
                address,
                settings.per_node,
                settings.failures_to_remove,
                settings.probe_interval,
                probe_timeout=settings.connect_timeout,
                notify=notify,
                read_timeout=settings.timeout,
            )
            for address in settings.nodes
        ]
        self.queue = WorkQueue([])  # replaced by run()
        # One shared link: N nodes do not get N times the uplink.
        rate = settings.bandwidth_mbps if settings.mode == "upload" else None
        rtt = (settings.rtt_ms or 0.0) / 1000
        self.link = Link(rate * MB if rate else None, rtt) if rate or rtt else None

    def live_nodes(self) -> set[str]:
        """Addresses of the nodes in service right now."""
        return {n.address for n in self.nodes if n.available}

    def node_infos(self, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
        """Every node's GET /api/info answer (asked in parallel), by address; {"error": ...} for a node that
        did not answer."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            answers = list(pool.map(lambda n: n.client.info(timeout), self.nodes))
        return {n.address: a for n, a in zip(self.nodes, answers, strict=True)}

    def warm(self, images: list[ImageFile]) -> None:
        """Send these images once to every node (in parallel across nodes), ignoring the answers."""

        def warm_node(node: Node) -> None:
            for image in images:
                try:
                    request, _ = build_request(image, self.settings)
                except (OSError, ImageDecodeError):
                    continue
                node.client.send(request)

        threads = [threading.Thread(target=warm_node, args=(n,), daemon=True) for n in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def run(self, images: list[ImageFile], emit: Callable[[Record], None]) -> None:
        """Send every image; `emit` gets each image's one record; returns when all have theirs."""
        self.emit = emit
        self.queue = WorkQueue(images)
        workers = [
            threading.Thread(target=self._work, args=(node,), name=f"{node.address}#{slot}", daemon=True)
            for node in self.nodes
            for slot in range(self.settings.per_node)
        ]
        for worker in workers:
            worker.start()
        interrupted = False
        try:
            self._watch()
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            for job in self.queue.close():
                self._final(job, None, None, "interrupted before it was sent" if interrupted else "not sent")
            if not interrupted:  # on Ctrl-C in-flight requests are abandoned, not awaited
                for worker in workers:
                    worker.join(timeout=self.settings.timeout + self.settings.connect_timeout + 1)
            for node in self.nodes:
                node.close()

    def _watch(self) -> None:
        """Wait for the end; if no node is in service for `give_up` seconds, fail what is left."""
        down_since = None
        while not self.queue.wait_finished(0.2):
            if self.live_nodes():
                down_since = None
                continue
            down_since = down_since or time.monotonic()
            if time.monotonic() - down_since >= self.settings.give_up:
                self.notify(f"no node in service for {self.settings.give_up:.0f} s: giving up on the rest")
                for job in self.queue.close():
                    self._final(job, None, None, f"no node in service for {self.settings.give_up:.0f} s")
                self.queue.wait_finished(self.settings.timeout + self.settings.connect_timeout + 1)
                return

    def _work(self, node: Node) -> None:
        queue = self.queue
        while not queue.finished and not queue.closed:
            if not node.wait_available(0.2):
                continue
            pause = node.paused_for()
            if pause > 0:  # busy node: its slots take nothing until its Retry-After is over
                time.sleep(min(pause, 0.2))
                continue
            job = queue.take(node.address, self.live_nodes, timeout=0.2)
            if job is None:
                continue
            if not node.available:  # taken out while this slot waited: hand the job back untouched
                if not queue.retry(job, 0.0):
                    self._final(job, None, None, "stopped before it was sent")
                continue
            self._attempt(node, job)

    def _attempt(self, node: Node, job: Job) -> None:
        job.attempts += 1
        job.tried.append(node.address)
        try:
            request, encode = build_request(job.image, self.settings)
        except OSError as exc:  # the client cannot read its own file: no node can help
            self._final(job, node, None, f"cannot read {job.image.rel}: {exc.strerror or exc}")
            return
        except ImageDecodeError as exc:  # --resize/--quality on a file that is no image
            self._final(job, node, None, f"cannot preprocess {job.image.rel}: {exc}")
            return
        attempt = node.client.send(request, link=self.link)
        if attempt.overloaded:
            # Back-pressure, not a failure: the node is fine but full. It pauses for its Retry-After and the
            # image goes back to the front of the queue, for another node now or this one later.
            job.shed += 1
            node.pause(min(attempt.retry_after or 1.0, self.settings.max_pause))
            if not self.queue.retry(job, 0.0, front=True):
                self._final(job, node, attempt, "stopped while the nodes were busy")
            return
        if not attempt.retryable:
            node.succeeded()  # 200 or 4xx: the node is fine, the answer is final
            fetched = None
            if attempt.ok and self.settings.fetch_dir is not None:
                fetched = fetch_results(node.client, attempt.body, job.image.rel, self.settings.fetch_dir)
            self._final(job, node, attempt, encode=encode, fetched=fetched)
            return
        node.failed(attempt.error or f"HTTP {attempt.status}")
        job.avoid.add(node.address)
        if job.attempts > self.settings.retries:
            self._final(job, node, attempt, f"gave up after {job.attempts} attempts; last: {attempt.error}", encode)
            return
        # Another node that has not failed this image can take it at once; the backoff is for
        # going back to nodes that already failed it (all of them down, or a flaky network).
        fresh = self.live_nodes() - job.avoid
        delay = 0.0 if fresh else min(self.settings.backoff * 2 ** (job.attempts - 1), self.settings.backoff_max)
        if not self.queue.retry(job, delay):
            self._final(job, node, attempt, encode=encode)

    def _final(
        self,
        job: Job,
        node: Node | None,
        attempt: Attempt | None,
        error: str | None = None,
        encode: float = 0.0,
        fetched: Fetched | None = None,
    ) -> None:
        record = remote_record(job, node, attempt, error, encode)
        if fetched is not None:
            fetched.apply(record)
        self.emit(record)
        self.queue.done()
