"""The image queue and its consumer: uploads wait in SQS until the consumer takes them, first in first out.

While the consumer is on it begins images at the model's capacity C at most, one every 1 / C seconds (the
fluid equivalent of concurrent invocations keeping the model at capacity), and each image stays in flight
`in_flight` seconds from its receive to its result (the batch's analysis, the result write, the delete).
Readings are instantaneous, as SQS's are: an image counts as waiting from its message until its result is
written (visible + in flight).

Images move in lots (see arrivals.py). The consumer takes a lot once all of it has arrived and begins its
images as they come, no faster than C. A reading also counts the images of the next lot that have arrived by
then, image by image, as a reading of the real queue would.
"""

from __future__ import annotations

import bisect
import itertools
import math

from labelbatch.planning.arrivals import Arrivals

# A result written at the very instant of a reading counts as written: sums of service times drift by ulps.
_SLACK = 1e-6


class ImageQueue:
    def __init__(self, arrivals: Arrivals, in_flight: float = 0.0) -> None:
        """`in_flight`: seconds from an image's receive to its result (at least 1 / C whatever is given)."""
        self._arrivals = arrivals
        self._times = arrivals.times
        self._starts = arrivals.starts
        self.weight = arrivals.weight
        self._in_flight = in_flight
        self._next_begin = -math.inf
        """The earliest the consumer can begin its next image (capacity)."""
        self._finishes: list[float] = []
        """When the last result of each lot taken so far is written, in the order taken (never decreasing)."""
        self._latencies: list[float] = []
        self._lot_images: tuple[int, float, list[float], list[float]] = (-1, 0.0, [], [])
        """The last lot read image by image: (index, capacity, image times, prefix maxima; see below)."""

    @property
    def _taken(self) -> int:
        return len(self._finishes)

    @property
    def exhausted(self) -> bool:
        """Every lot of the month has been taken."""
        return self._taken >= len(self._times)

    @property
    def untaken_images(self) -> int:
        return (len(self._times) - self._taken) * self.weight

    @property
    def busy_until(self) -> float:
        """When the result of the last image taken is written."""
        return self._finishes[-1] if self._finishes else -math.inf

    def latencies(self) -> list[float]:
        """Mean upload-to-result seconds of the images of each lot taken."""
        return list(self._latencies)

    def untaken_by(self, t: float) -> int:
        """Images of whole lots uploaded by `t` the consumer has not taken: the backlog while it is off."""
        taken = self._taken
        return (bisect.bisect_right(self._times, t, lo=taken) - taken) * self.weight

    def oldest_untaken(self) -> float | None:
        return None if self.exhausted else self._first_image(self._taken)

    def serve(self, since: float, until: float, capacity: float) -> None:
        """The consumer is on over [since, until]: it takes every whole lot it can begin by `until`.

        A lot taken near `until` may finish after it; its results are written by that finish time.
        """
        times, finishes, latencies = self._times, self._finishes, self._latencies
        weight, unit = self.weight, 1.0 / capacity
        flight = self._in_flight if self._in_flight > unit else unit
        free = self._next_begin if self._next_begin > since else since
        first_taken = index = len(finishes)
        count = len(times)
        while index < count:
            last = times[index]
            first = self._first_image(index)
            begins = first if first > free else free
            if last > until or begins > until:
                break
            # Images begin 1 / C apart at most, and none before it arrives.
            last_begins = begins + (weight - 1) * unit
            if last_begins < last:
                last_begins = last
            finishes.append(last_begins + flight)
            # The first image's wait and the last one's bound the lot's; their mean stands for it.
            latencies.append((begins - first + last_begins - last) / 2 + flight)
            free = last_begins + unit
            index += 1
        if index > first_taken:
            self._next_begin = free

    def waiting(self, t: float, since: float, capacity: float) -> int:
        """A reading at `t` (after serve(since, t, ...)): images uploaded by `t` without a result at `t`."""
        in_flight = self._taken - bisect.bisect_right(self._finishes, t + _SLACK)
        arrived, finish = self._next_lot_so_far(t, since, capacity)
        return in_flight * self.weight + self.untaken_by(t) + (arrived if finish > t + _SLACK else 0)

    def nothing_waiting(self, t: float, since: float, capacity: float) -> bool:
        """A reading at `t` (after serve(since, t, ...)) finds no image uploaded by `t` without its result."""
        if self.busy_until > t + _SLACK or self.untaken_by(t) > 0:
            return False
        arrived, finish = self._next_lot_so_far(t, since, capacity)
        return arrived == 0 or finish <= t + _SLACK

    def visible(self, t: float) -> bool:
        """ApproximateNumberOfMessages > 0 at `t`: a whole lot uploaded by `t` is not being served."""
        return self.untaken_by(t) > 0

    def _first_image(self, index: int) -> float:
        start = self._starts[index]
        return start + (self._times[index] - start) / self.weight

    def _next_lot_so_far(self, t: float, since: float, capacity: float) -> tuple[int, float]:
        """(images of the next lot uploaded by `t`, when the consumer, on since `since`, would write their
        last result) for a partly arrived lot; (0, -inf) when it has not begun to arrive or arrived whole."""
        # The first lot not whole by `t` (the consumer may not have taken the whole ones before it yet).
        index = bisect.bisect_right(self._times, t, lo=self._taken)
        if index >= len(self._times) or self._starts[index] >= t:
            return 0, -math.inf
        unit = 1.0 / capacity
        flight = self._in_flight if self._in_flight > unit else unit
        # Whole lots still untaken (a backlog read before the consumer starts on it) come first.
        free = max(self._next_begin, since) + self.untaken_by(t) * unit
        if not self._arrivals.random_within:
            return self._evenly_spaced_so_far(index, t, free, unit, flight)
        cached_index, cached_capacity, images, prefix = self._lot_images
        if cached_index != index or cached_capacity != capacity:
            images = self._arrivals.lot_images(index)
            # Arrivals a_0..a_{m-1} begun no faster than C from `free` on: the last begins at
            # (m - 1) / C + max(free, max_j (a_j - j / C)). With the running maxima a reading is a bisection.
            prefix = list(itertools.accumulate((image - j * unit for j, image in enumerate(images)), max))
            self._lot_images = (index, capacity, images, prefix)
        arrived = bisect.bisect_right(images, t)
        if arrived == 0:
            return 0, -math.inf
        return arrived, (arrived - 1) * unit + max(free, prefix[arrived - 1]) + flight

    def _evenly_spaced_so_far(
        self, index: int, t: float, free: float, unit: float, flight: float
    ) -> tuple[int, float]:
        """_next_lot_so_far for images a_j = start + (j + 1) * spacing: max_j (a_j - j/C) in closed form."""
        start = self._starts[index]
        spacing = (self._times[index] - start) / self.weight
        arrived = math.floor((t - start) / spacing) if spacing > 0 else 0
        if arrived <= 0:
            return 0, -math.inf
        # a_j - j/C grows with j when images come slower than the consumer begins them, else falls.
        latest = start + spacing + ((arrived - 1) * (spacing - unit) if spacing > unit else 0.0)
        return arrived, (arrived - 1) * unit + max(free, latest) + flight
