"""The pace of one execution environment's model calls, and the deadline of an invocation, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from analyze_image.pacing import CALL_INTERVAL_SECONDS, CallPacer, Deadline

LATER = 1e9


def call_times(pacer: CallPacer, clock, calls: int, *, deadline: float = LATER) -> list[float]:
    """When each of `calls` admitted calls went, one after the other."""
    times = []
    for _ in range(calls):
        assert pacer.acquire(deadline)
        times.append(clock.now())
    return times


def test_calls_start_an_interval_apart(clock):
    # Given a pacer of 0.25 s, unused so far
    pacer = CallPacer(0.25, clock=clock.now, sleep=clock.sleep)

    # When five calls ask for a slot one after the other
    times = call_times(pacer, clock, 5)

    # Then the first goes at once and the others 0.25 s apart
    assert times == [100.0, 100.25, 100.5, 100.75, 101.0]
    assert clock.sleeps == [0.25, 0.25, 0.25, 0.25]


def test_a_pause_earns_no_burst(clock):
    # Given a pacer of 0.25 s that started three calls, then stayed unused for ten seconds
    pacer = CallPacer(0.25, clock=clock.now, sleep=clock.sleep)
    call_times(pacer, clock, 3)
    clock.advance(10.0)

    # When three more calls ask for a slot
    times = call_times(pacer, clock, 3)

    # Then only the first goes at once: two calls closer than the interval would break the bound the batch
    # run's sizing relies on (pacing.py)
    assert times == [110.5, 110.75, 111.0]
    assert clock.sleeps == [0.25, 0.25, 0.25, 0.25]


def test_the_default_interval_is_a_second_and_a_margin():
    assert CallPacer().interval == CALL_INTERVAL_SECONDS == 1.02


def test_a_call_whose_slot_comes_after_the_deadline_is_refused_without_waiting(clock):
    # Given a pacer of 0.25 s and a deadline 0.25 s away
    pacer = CallPacer(0.25, clock=clock.now, sleep=clock.sleep)
    deadline = 100.25

    # When calls ask for a slot until one is refused
    admitted = [pacer.acquire(deadline) for _ in range(3)]

    # Then a slot exactly at the deadline is still given, the next is refused at once, without a sleep
    assert admitted == [True, True, False]
    assert (clock.now(), clock.sleeps) == (100.25, [0.25])
    # ...and it reserved nothing: a caller with a later deadline gets the refused slot
    assert call_times(pacer, clock, 1, deadline=101.0) == [100.5]


def test_threads_sharing_a_pacer_each_get_a_slot_of_their_own(clock):
    # Given a pacer of 0.25 s on a clock that stands still, and eight threads
    pacer = CallPacer(0.25, clock=clock.now, sleep=clock.sleeps.append)
    start = threading.Barrier(8, timeout=10)

    def call() -> None:
        start.wait()
        assert pacer.acquire(LATER)

    threads = [threading.Thread(target=call) for _ in range(8)]

    # When they all ask for a slot at the same moment
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one goes at once and each other waits for a slot no other thread took
    assert sorted(clock.sleeps) == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


@pytest.mark.parametrize("interval", [0.0, -1.0])
def test_an_interval_that_is_not_positive_is_refused(interval):
    with pytest.raises(ValueError, match=f"^the interval must be positive, not {interval}$"):
        CallPacer(interval)


@pytest.mark.parametrize(
    ("remaining_ms", "at"),
    [(60_000, 145.0), (15_000, 100.0), (14_000, 99.0), (20_500, 105.5)],
)
def test_the_deadline_is_the_margin_before_the_timeout(remaining_ms, at):
    # Given an invocation with `remaining_ms` left at 100.0 s, and a 15 s margin
    deadline = Deadline.before_timeout(remaining_ms, margin_seconds=15, clock=lambda: 100.0)

    # Then the last call may start 15 s before the timeout, possibly before now
    assert deadline.at == at


def test_no_call_starts_once_the_deadline_has_passed(clock):
    # Given an invocation that had only 14 s left: its deadline passed a second ago
    deadline = Deadline.before_timeout(14_000, margin_seconds=15, clock=clock.now)
    pacer = CallPacer(0.25, clock=clock.now, sleep=clock.sleep)

    # When the first call asks for a slot / Then it is refused without waiting
    assert pacer.acquire(deadline.at) is False
    assert clock.sleeps == []
