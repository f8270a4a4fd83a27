"""What every simulated policy offers the tables: a name, a one-line summary and a month's outcome."""

from __future__ import annotations

from typing import Protocol

from labelbatch.planning.arrivals import Arrivals
from labelbatch.planning.meter import Outcome
from labelbatch.planning.model import ModelSpec


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def summary(self) -> str: ...

    def simulate(self, arrivals: Arrivals, model: ModelSpec, seed: int = 1) -> Outcome: ...
