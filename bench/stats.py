"""Repeated measurements: median, min, max and tail percentiles, ratios to a baseline, and the
target of issue 7 each figure is held against."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """``stat`` of a figure (median, p95, p99, ratio) must stay below (or reach) ``limit``."""

    stat: str
    limit: float
    below: bool = True

    def met(self, figure: dict[str, Any]) -> bool:
        value = float(figure[self.stat])
        return value < self.limit if self.below else value >= self.limit

    def __str__(self) -> str:
        return f"{self.stat} {'<' if self.below else '>='} {self.limit:g}"


@dataclass(frozen=True)
class Figure:
    """One measured quantity over repeated runs."""

    name: str
    samples: list[float]
    unit: str = "s"
    target: Target | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (nearest rank), e.g. 95 or 99."""
        ordered = sorted(self.samples)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    def as_dict(self, baseline: Figure | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "min": min(self.samples),
            "max": max(self.samples),
            "p95": self.percentile(95),
            "p99": self.percentile(99),
            "runs": len(self.samples),
        }
        if baseline is not None:
            out["baseline"] = baseline.name
            out["ratio"] = self.median / baseline.median
        if self.target is not None:
            out["target"] = str(self.target)
            out["met"] = self.target.met(out)
        return out


def timed(name: str, action: Callable[[], object], repeat: int, unit: str = "s") -> Figure:
    """Wall time of ``action`` over ``repeat`` runs, in seconds or milliseconds."""
    scale = 1000.0 if unit == "ms" else 1.0
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * scale)
    return Figure(name, samples, unit)
