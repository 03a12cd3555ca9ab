"""client/queue.py on its own: take order, timeouts, retry backoff, failover preference, close, many takers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from client.files import ImageFile
from client.queue import Job, WorkQueue


def images(count: int) -> list[ImageFile]:
    """`count` distinct image entries (nothing is read from disk)."""
    return [
        ImageFile(path=Path(f"/images/img-{i:04d}.jpg"), rel=f"img-{i:04d}.jpg", size=1000 + i) for i in range(count)
    ]


def live(*nodes: str) -> Callable[[], set[str]]:
    """A live_nodes callback that always answers `nodes`."""
    return lambda: set(nodes)


def taker(queue: WorkQueue, node: str, nodes: Callable[[], set[str]], timeout: float) -> tuple[threading.Thread, list]:
    """A thread blocked in queue.take(); the returned list gets [job, seconds waited] once take() returns."""
    out: list = []

    def run() -> None:
        start = time.monotonic()
        job = queue.take(node, nodes, timeout=timeout)
        out.extend([job, time.monotonic() - start])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_jobs_are_handed_out_in_the_order_of_the_images() -> None:
    queue = WorkQueue(images(5))
    taken = [queue.take("a:1", live("a:1"), timeout=0.1) for _ in range(5)]
    assert [job.image.rel for job in taken if job is not None] == [f"img-{i:04d}.jpg" for i in range(5)]
    assert all(job is not None and job.attempts == 0 and job.tried == [] and not job.avoid for job in taken)


def test_an_empty_queue_returns_none_at_once() -> None:
    queue = WorkQueue([])
    start = time.monotonic()
    assert queue.take("a:1", live("a:1"), timeout=5) is None
    assert time.monotonic() - start < 1
    assert queue.finished


def test_take_returns_none_after_the_timeout_while_every_job_is_in_flight() -> None:
    queue = WorkQueue(images(1))
    assert queue.take("a:1", live("a:1"), timeout=0.1) is not None
    start = time.monotonic()
    assert queue.take("a:1", live("a:1"), timeout=0.2) is None
    assert 0.2 <= time.monotonic() - start < 2
    assert not queue.finished  # the job taken has no final record yet


def test_a_job_backing_off_is_not_handed_out_before_its_delay() -> None:
    queue = WorkQueue(images(1))
    job = queue.take("a:1", live("a:1"), timeout=0.1)
    assert job is not None
    before = time.monotonic()
    assert queue.retry(job, 30.0) is True
    assert before + 30.0 <= job.ready_at <= time.monotonic() + 30.0
    start = time.monotonic()
    assert queue.take("a:1", live("a:1"), timeout=0.2) is None
    assert 0.2 <= time.monotonic() - start < 2


def test_a_retried_job_is_handed_out_again_once_its_delay_has_passed() -> None:
    queue = WorkQueue(images(1))
    job = queue.take("a:1", live("a:1"), timeout=0.1)
    assert job is not None
    assert queue.retry(job, 0.15)
    start = time.monotonic()
    again = queue.take("a:1", live("a:1"), timeout=3)
    waited = time.monotonic() - start
    assert again is job
    assert 0.14 <= waited < 2  # woken by the backoff ending, well before the timeout


def test_a_ready_job_is_taken_before_an_earlier_one_still_backing_off() -> None:
    queue = WorkQueue(images(2))
    first = queue.take("a:1", live("a:1"), timeout=0.1)
    second = queue.take("a:1", live("a:1"), timeout=0.1)
    assert first is not None and second is not None
    queue.retry(first, 30.0)  # queued first, but backing off
    queue.retry(second, 0.0)
    assert queue.take("a:1", live("a:1"), timeout=0.1) is second
    assert queue.take("a:1", live("a:1"), timeout=0.1) is None


def test_a_job_that_failed_on_a_node_goes_to_another_node_first() -> None:
    queue = WorkQueue(images(2))
    failed = queue.take("a:1", live("a:1", "b:1"), timeout=0.1)
    assert failed is not None and failed.image.rel == "img-0000.jpg"
    failed.avoid.add("a:1")
    queue.retry(failed, 0.0)
    # a:1 skips the job it failed and gets the next one ...
    other = queue.take("a:1", live("a:1", "b:1"), timeout=0.1)
    assert other is not None and other.image.rel == "img-0001.jpg"
    # ... and then waits rather than take it back while b:1 is live
    assert queue.take("a:1", live("a:1", "b:1"), timeout=0.2) is None
    assert queue.take("b:1", live("a:1", "b:1"), timeout=0.1) is failed


def test_a_job_goes_back_to_the_node_that_failed_it_when_every_live_node_has_failed_it() -> None:
    queue = WorkQueue(images(1))
    job = queue.take("a:1", live("a:1", "b:1"), timeout=0.1)
    assert job is not None
    job.avoid.update({"a:1", "b:1"})
    queue.retry(job, 0.0)
    assert queue.take("a:1", live("a:1", "b:1"), timeout=0.1) is job


def test_a_job_goes_back_to_the_node_that_failed_it_when_the_other_nodes_are_down() -> None:
    queue = WorkQueue(images(1))
    job = queue.take("a:1", live("a:1", "b:1"), timeout=0.1)
    assert job is not None
    job.avoid.add("a:1")
    queue.retry(job, 0.0)
    assert queue.take("a:1", live("a:1", "b:1"), timeout=0.1) is None
    assert queue.take("a:1", live("a:1"), timeout=0.1) is job  # b:1 went down: a:1 is the only live node


def test_a_node_waiting_for_work_gets_a_job_back_as_soon_as_the_last_other_node_fails_it() -> None:
    queue = WorkQueue(images(1))
    job = queue.take("a:1", live("a:1", "b:1"), timeout=0.1)
    assert job is not None
    job.avoid.add("a:1")
    queue.retry(job, 0.0)
    again = queue.take("b:1", live("a:1", "b:1"), timeout=0.1)
    assert again is job
    thread, out = taker(queue, "a:1", live("a:1", "b:1"), timeout=5)
    time.sleep(0.1)
    assert out == []  # a:1 is still waiting
    job.avoid.add("b:1")
    queue.retry(job, 0.0)
    thread.join(3)
    assert out[0] is job
    assert out[1] < 3


def test_done_marks_jobs_final_and_finished_turns_true_after_the_last() -> None:
    queue = WorkQueue(images(2))
    for _ in range(2):
        assert queue.take("a:1", live("a:1"), timeout=0.1) is not None
    assert not queue.finished
    assert queue.wait_finished(0.05) is False
    queue.done()
    assert not queue.finished
    queue.done()
    assert queue.finished
    assert queue.wait_finished(0) is True
    assert queue.take("a:1", live("a:1"), timeout=5) is None


def test_wait_finished_returns_as_soon_as_another_thread_finishes_the_last_job() -> None:
    queue = WorkQueue(images(1))
    assert queue.take("a:1", live("a:1"), timeout=0.1) is not None
    timer = threading.Timer(0.1, queue.done)
    timer.start()
    start = time.monotonic()
    assert queue.wait_finished(5) is True
    assert time.monotonic() - start < 3
    timer.join()


def test_close_returns_the_pending_jobs_and_stops_handing_out_work() -> None:
    queue = WorkQueue(images(3))
    in_flight = queue.take("a:1", live("a:1"), timeout=0.1)
    assert in_flight is not None
    assert not queue.closed
    left = queue.close()
    assert queue.closed
    assert [job.image.rel for job in left] == ["img-0001.jpg", "img-0002.jpg"]
    start = time.monotonic()
    assert queue.take("a:1", live("a:1"), timeout=5) is None
    assert time.monotonic() - start < 1
    assert queue.retry(in_flight, 0.0) is False
    assert queue.close() == []  # the failed retry did not put the job back


def test_close_wakes_a_node_waiting_in_take() -> None:
    queue = WorkQueue(images(1))
    assert queue.take("a:1", live("a:1"), timeout=0.1) is not None
    thread, out = taker(queue, "a:1", live("a:1"), timeout=5)
    time.sleep(0.1)
    queue.close()
    thread.join(3)
    assert out[0] is None
    assert out[1] < 3


def test_the_queue_is_finished_once_every_closed_out_job_got_its_final_record() -> None:
    queue = WorkQueue(images(3))
    assert queue.take("a:1", live("a:1"), timeout=0.1) is not None
    left = queue.close()
    assert not queue.finished
    for _ in [*left, "in flight"]:
        queue.done()
    assert queue.finished
    assert queue.wait_finished(0)


def test_concurrent_takers_get_every_job_exactly_once() -> None:
    count, threads = 200, 8
    queue = WorkQueue(images(count))
    nodes = [f"n{i}:1" for i in range(threads)]
    taken: list[list[Job]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            deadline = time.monotonic() + 10
            while not queue.finished and time.monotonic() < deadline:
                job = queue.take(nodes[k], lambda: set(nodes), timeout=0.05)
                if job is not None:
                    taken[k].append(job)
                    time.sleep(0.001)  # the request: lets the other takers in
                    queue.done()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    start = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(15)
    assert not any(w.is_alive() for w in workers)
    assert errors == []
    assert time.monotonic() - start < 5
    every = [job for jobs in taken for job in jobs]
    assert len(every) == count
    assert len({id(job) for job in every}) == count
    assert Counter(job.image.rel for job in every) == Counter(f"img-{i:04d}.jpg" for i in range(count))
    assert queue.finished
    assert sum(1 for jobs in taken if jobs) > 1  # the work really was shared
