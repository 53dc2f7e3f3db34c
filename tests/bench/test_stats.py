"""Mean ± std and the paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crpse.bench.stats import mean_std, paired_bootstrap


def test_mean_std_drops_non_finite() -> None:
    assert mean_std(np.array([1.0, 3.0, math.nan, math.inf])) == (2.0, 1.0, 2)
    mean, std, count = mean_std(np.array([math.nan]))
    assert math.isnan(mean) and math.isnan(std) and count == 0


def test_constant_difference_has_a_zero_width_interval() -> None:
    a = {f"f{i}": float(i) for i in range(20)}
    b = {name: value - 0.25 for name, value in a.items()}
    diff = paired_bootstrap(a, b)
    assert diff.mean == pytest.approx(0.25)
    assert (diff.low, diff.high) == (pytest.approx(0.25), pytest.approx(0.25))
    assert diff.files == 20 and diff.significant


def test_interval_is_seeded_paired_and_covers_the_mean() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(2.5, 0.5, 100)
    shift = rng.normal(0.1, 0.2, 100)
    a = {f"f{i}": float(base[i] + shift[i]) for i in range(100)}
    b = {f"f{i}": float(base[i]) for i in range(100)}
    first, second = paired_bootstrap(a, b, seed=3), paired_bootstrap(a, b, seed=3)
    assert first == second
    assert first.mean == pytest.approx(float(shift.mean()))
    assert first.low < first.mean < first.high
    # paired: the width follows the spread of the differences (0.2 / sqrt(100) * 2 * 1.96 ~ 0.08), not of the scores
    assert 0.05 < first.high - first.low < 0.11


def test_only_files_finite_in_both_rows_count() -> None:
    diff = paired_bootstrap({"a": 1.0, "b": math.nan, "c": 3.0}, {"a": 0.0, "b": 0.0, "d": 1.0})
    assert diff.files == 1 and diff.mean == 1.0
    empty = paired_bootstrap({"a": 1.0}, {"b": 1.0})
    assert empty.files == 0 and math.isnan(empty.mean) and not empty.significant
