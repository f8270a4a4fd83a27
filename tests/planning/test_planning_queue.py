"""The queue's readings inside a lot: images that have arrived count, as they would in the real queue."""

from __future__ import annotations

import pytest

from labelbatch.planning.arrivals import Arrivals, Pattern
from labelbatch.planning.queue import ImageQueue


def five_images_from_2_to_10_seconds() -> ImageQueue:
    # One lot of five images uploaded at 2, 4, 6, 8 and 10 s.
    lot = Arrivals(pattern=Pattern.BUSINESS_HOURS, times=[10.0], starts=[0.0], weight=5, horizon=100.0)
    assert lot.lot_images(0) == [2.0, 4.0, 6.0, 8.0, 10.0]
    return ImageQueue(lot)


def test_a_reading_sees_the_images_of_a_lot_uploaded_so_far() -> None:
    queue = five_images_from_2_to_10_seconds()
    queue.serve(0.0, 4.5, capacity=1.0)
    # The image uploaded at 4 s is analyzed from 4 to 5 s.
    assert not queue.nothing_waiting(4.5, since=0.0, capacity=1.0)
    assert queue.waiting(4.5, since=0.0, capacity=1.0) == 2
    queue.serve(0.0, 5.5, capacity=1.0)
    assert queue.nothing_waiting(5.5, since=0.0, capacity=1.0)


def test_the_whole_lot_is_taken_once_its_last_image_arrives() -> None:
    queue = five_images_from_2_to_10_seconds()
    queue.serve(0.0, 9.0, capacity=1.0)
    assert queue.untaken_images == 5
    queue.serve(0.0, 10.0, capacity=1.0)
    assert queue.exhausted
    # Served as they come, the last result is written 1 s after the last upload; each image waited 1 s.
    assert queue.busy_until == pytest.approx(11.0)
    assert queue.latencies() == pytest.approx([1.0])


def test_a_backlog_is_served_back_to_back_from_when_the_consumer_starts() -> None:
    queue = five_images_from_2_to_10_seconds()
    assert queue.untaken_by(20.0) == 5
    queue.serve(20.0, 20.0, capacity=1.0)
    assert queue.busy_until == pytest.approx(25.0)
    # The first image waited 18 s for the consumer plus 1 s, the last 15 s: 17 s on average.
    assert queue.latencies() == pytest.approx([17.0])
    assert not queue.nothing_waiting(24.0, since=20.0, capacity=1.0)
    assert queue.nothing_waiting(25.0, since=20.0, capacity=1.0)
