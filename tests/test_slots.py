"""detector/slots.py: images in the model at once, the bounded queue in front, and the wait estimate."""

from __future__ import annotations

import threading
import time

import pytest

from detector.slots import InferenceSlots, SlotsFullError


def hold(slots: InferenceSlots, seconds: float, started: threading.Event) -> threading.Thread:
    """A thread that reserves, takes a slot and keeps it for `seconds`."""

    def run() -> None:
        with slots.reserve() as reservation, reservation.slot():
            started.set()
            time.sleep(seconds)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_reservation_waits_for_a_free_slot():
    slots = InferenceSlots(concurrency=1)
    started = threading.Event()
    holder = hold(slots, 0.3, started)
    started.wait(5)
    with slots.reserve() as reservation:
        t0 = time.perf_counter()
        with reservation.slot():
            waited = time.perf_counter() - t0
    holder.join()
    assert waited == pytest.approx(0.3, abs=0.1)


def test_concurrency_slots_run_at_once():
    slots = InferenceSlots(concurrency=2)
    events = [threading.Event(), threading.Event()]
    holders = [hold(slots, 0.3, e) for e in events]
    assert all(e.wait(1.0) for e in events)  # both in the model together
    assert slots.snapshot().busy == 2
    for h in holders:
        h.join()
    assert slots.snapshot().busy == 0


def test_the_queue_bound_refuses_at_once_with_a_retry_after():
    slots = InferenceSlots(concurrency=1, max_queue=1)
    started = threading.Event()
    holder = hold(slots, 0.5, started)
    started.wait(5)
    with slots.reserve():  # the one allowed to wait
        assert slots.snapshot().saturated
        t0 = time.perf_counter()
        with pytest.raises(SlotsFullError) as refused:
            with slots.reserve():
                pass
        assert time.perf_counter() - t0 < 0.05
    holder.join()
    assert refused.value.retry_after >= 1
    assert "MAX_QUEUE=1" in str(refused.value)
    assert not slots.snapshot().saturated


def test_an_unbounded_queue_never_refuses():
    slots = InferenceSlots(concurrency=1, max_queue=-1)
    with slots.reserve(), slots.reserve(), slots.reserve():
        assert slots.snapshot().waiting == 3 and not slots.snapshot().saturated


def test_the_estimated_wait_refuses_what_would_wait_too_long():
    slots = InferenceSlots(concurrency=1, max_queue=-1, max_wait=1.5)
    with slots.reserve() as r, r.slot():
        time.sleep(0.5)  # the estimate learns: 0.5 s per image
    started = threading.Event()
    holder = hold(slots, 0.6, started)
    started.wait(5)
    with slots.reserve(), slots.reserve():  # 1 in the model, 2 waiting: the next would wait about 1.5 s
        with pytest.raises(SlotsFullError, match="MAX_QUEUE_WAIT"):
            with slots.reserve(), slots.reserve():
                pass
    holder.join()


def test_a_reservation_given_back_unused_frees_its_place():
    slots = InferenceSlots(concurrency=1, max_queue=0)
    with pytest.raises(ValueError), slots.reserve():
        raise ValueError("the image did not decode")
    assert slots.snapshot().waiting == 0
    with slots.reserve() as reservation, reservation.slot():
        assert slots.snapshot().busy == 1


def test_a_reservation_holds_one_slot_once():
    slots = InferenceSlots()
    with slots.reserve() as reservation:
        with reservation.slot():
            pass
        with pytest.raises(RuntimeError), reservation.slot():
            pass


def test_every_change_is_reported():
    seen: list[tuple[int, int]] = []
    slots = InferenceSlots(concurrency=1, on_change=lambda busy, waiting: seen.append((busy, waiting)))
    with slots.reserve() as reservation, reservation.slot():
        pass
    assert seen == [(0, 1), (1, 0), (0, 0)]


def test_many_threads_never_exceed_the_concurrency():
    slots = InferenceSlots(concurrency=2, max_queue=-1)
    most, lock = [0], threading.Lock()

    def run() -> None:
        with slots.reserve() as reservation, reservation.slot():
            with lock:
                most[0] = max(most[0], slots.snapshot().busy)
            time.sleep(0.01)

    threads = [threading.Thread(target=run) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most[0] == 2 and slots.snapshot().busy == 0 and slots.snapshot().waiting == 0
