"""Repeated measurements: median, min and max, and ratios to a baseline."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured quantity over repeated runs."""

    name: str
    samples: list[float]
    unit: str = "s"

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def as_dict(self, baseline: Figure | None) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "min": min(self.samples),
            "max": max(self.samples),
            "runs": len(self.samples),
        }
        if baseline is not None:
            out["baseline"] = baseline.name
            out["ratio"] = self.median / baseline.median
        return out


def timed(name: str, action: Callable[[], object], repeat: int) -> Figure:
    """Wall time of ``action`` over ``repeat`` runs."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return Figure(name, samples)
