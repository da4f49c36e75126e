"""Quantiles, mean, stdev and CV against hand-computed and standard-library answers."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.optimize.stats import EMPTY, quantile, summarize


def test_quantile_interpolates_between_closest_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert quantile(values, 0.5) == 2.5
    assert quantile(values, 0.0) == 1.0
    assert quantile(values, 1.0) == 4.0
    assert quantile(values, 0.95) == pytest.approx(3.85)
    assert quantile([7.0], 0.95) == 7.0
    assert quantile([], 0.5) == 0.0


def test_quantile_counts_zeros_it_is_told_about() -> None:
    # [0, 0, 0, 10, 20]: the median is a skipped run's 0.
    assert quantile([10.0, 20.0], 0.5, zeros=3) == 0.0
    assert quantile([10.0, 20.0], 0.75, zeros=3) == 10.0
    assert quantile([10.0, 20.0], 0.5, zeros=1) == 10.0
    assert quantile([], 0.5, zeros=2) == 0.0


def test_summary_of_a_known_sample() -> None:
    s = summarize([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert (s.count, s.mean, s.minimum, s.maximum, s.p50) == (8, 5.0, 2.0, 9.0, 4.5)
    assert s.stdev == pytest.approx(statistics.stdev([2, 4, 4, 4, 5, 5, 7, 9]))
    assert s.cv == pytest.approx(s.stdev / 5.0)
    assert summarize([]) == EMPTY
    assert summarize([3.0]).stdev == 0.0 and summarize([0.0, 0.0]).cv == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=50))
def test_mean_and_stdev_agree_with_the_statistics_module(values: list[float]) -> None:
    s = summarize(values)
    assert s.mean == pytest.approx(statistics.fmean(values), rel=1e-9, abs=1e-9)
    assert s.stdev == pytest.approx(statistics.stdev(values), rel=1e-6, abs=1e-6)
    assert s.minimum <= s.p50 <= s.p95 <= s.p99 <= s.maximum
