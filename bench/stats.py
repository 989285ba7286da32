"""Repeat a measurement and summarize it the way BENCH.md asks (median, min, max, cores)."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    workload: str
    metric: str
    unit: str
    median: float
    minimum: float
    maximum: float
    runs: int
    note: str = ""

    def line(self) -> str:
        return (f"{self.workload:<14} {self.metric:<34} median {self.median:10.3f} {self.unit:<3}"
                f" min {self.minimum:10.3f}  max {self.maximum:10.3f}  (n={self.runs})"
                + (f"  {self.note}" if self.note else ""))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarize(workload: str, metric: str, unit: str, samples: list[float],
              note: str = "") -> Figure:
    return Figure(workload, metric, unit, statistics.median(samples), min(samples),
                  max(samples), len(samples), note)


def repeat(measure: Callable[[], float], runs: int) -> list[float]:
    return [measure() for _ in range(runs)]


def machine() -> dict[str, object]:
    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(terse=True)}
