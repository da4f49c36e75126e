"""Descriptive statistics over compact duration samples: quantiles, mean, stdev, CV."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

from msgspec import Struct


def quantile(sorted_values: Sequence[float], q: float, *, zeros: int = 0) -> float:
    """The q-quantile (0..1) by linear interpolation between closest ranks.

    This is the "type 7" estimator (numpy's default). `zeros` counts extra 0.0 samples that
    sort before `sorted_values` (non-negative by contract) without materialising them: the
    replay uses it for runs in which a step was skipped. An empty sample gives 0.0.
    """
    n = len(sorted_values) + zeros
    if n == 0:
        return 0.0
    h = (n - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)

    def at(i: int) -> float:
        return 0.0 if i < zeros else sorted_values[i - zeros]

    low = at(lo)
    return low + (h - lo) * (at(hi) - low)


class Summary(Struct, frozen=True):
    """Duration statistics of one sample, in seconds."""

    count: int
    mean: float
    stdev: float  # sample standard deviation (n - 1); 0 for fewer than two values
    minimum: float
    maximum: float
    p50: float
    p95: float
    p99: float

    @property
    def cv(self) -> float:
        """Coefficient of variation: stdev / mean (0 when the mean is 0)."""
        return self.stdev / self.mean if self.mean > 0 else 0.0

    def to_json(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "avg": _r(self.mean),
            "p50": _r(self.p50),
            "p95": _r(self.p95),
            "p99": _r(self.p99),
            "min": _r(self.minimum),
            "max": _r(self.maximum),
            "stdev": _r(self.stdev),
            "cv": _r(self.cv),
        }


EMPTY = Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def summarize(values: Sequence[float], *, is_sorted: bool = False) -> Summary:
    """Summary of a sample; sorts a copy unless told the values are sorted already."""
    n = len(values)
    if n == 0:
        return EMPTY
    ordered = values if is_sorted else sorted(values)
    mean, stdev = mean_and_stdev(ordered)
    return Summary(
        count=n,
        mean=mean,
        stdev=stdev,
        minimum=ordered[0],
        maximum=ordered[-1],
        p50=quantile(ordered, 0.50),
        p95=quantile(ordered, 0.95),
        p99=quantile(ordered, 0.99),
    )


def mean_and_stdev(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample stdev (0 for fewer than two values), by two exact-sum passes."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    mean = math.fsum(values) / n
    if n == 1:
        return mean, 0.0
    deviations = [v - mean for v in values]
    return mean, math.sqrt(math.fsum(map(operator.mul, deviations, deviations)) / (n - 1))


def _r(value: float) -> float:
    """Round for reports: microsecond resolution is more than any step timing carries."""
    return round(value, 6)
