"""Statistics of per-file scores: mean ± std and a seeded paired bootstrap of a difference of means."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: resamples of the paired bootstrap
DEFAULT_ROUNDS = 2000
#: seed of the paired bootstrap (fixed: the same scores give the same interval)
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Difference:
    """Mean of ``a - b`` over the files both rows scored, with a percentile bootstrap confidence interval.

    Attributes:
        mean: mean paired difference.
        low, high: bounds of the ``level`` confidence interval.
        files: number of paired files (finite in both rows).
    """

    mean: float
    low: float
    high: float
    files: int

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.files > 0 and (self.low > 0 or self.high < 0)


def mean_std(values: np.ndarray) -> tuple[float, float, int]:
    """Mean and population std (``np.std``, ddof 0, as :func:`crpse.evaluation.summarize`) of the finite values.

    Returns:
        ``(mean, std, count)``; NaN mean and std when no value is finite.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return math.nan, math.nan, 0
    return float(finite.mean()), float(finite.std()), int(finite.size)


def paired_bootstrap(
    scores: Mapping[str, float],
    reference: Mapping[str, float],
    rounds: int = DEFAULT_ROUNDS,
    level: float = 0.95,
    seed: int = DEFAULT_SEED,
) -> Difference:
    """Confidence interval of ``mean(scores - reference)`` by resampling files with replacement.

    Files are paired by name; a file counts only when both values are finite. The resampling indices come from
    ``numpy.random.default_rng(seed)``, so the interval is reproducible.

    Args:
        scores: file name -> score of the row.
        reference: file name -> score of the reference row.
        rounds: bootstrap resamples.
        level: confidence level (0.95: the 2.5 % and 97.5 % percentiles).
        seed: seed of the resampling.

    Returns:
        The :class:`Difference` (NaN fields and ``files == 0`` when no file pairs up).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    names = sorted(
        name for name in scores if name in reference and math.isfinite(scores[name]) and math.isfinite(reference[name])
    )
    if not names:
        return Difference(math.nan, math.nan, math.nan, 0)
    diffs = np.array([scores[name] - reference[name] for name in names], dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, diffs.size, size=(rounds, diffs.size))
    means = diffs[picks].mean(axis=1)
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return Difference(float(diffs.mean()), float(low), float(high), int(diffs.size))
