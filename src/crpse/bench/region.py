"""Compute a model's validated region from a ``crpse bench sweep`` table and write it into a checkpoint.

The region type and its membership rule live in :mod:`crpse.validated_region` (torch-free, next to the model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crpse.sampler_spec import UNIFORM
from crpse.validated_region import REGION_KEY, GridPoint, ValidatedRegion, read_region

__all__ = ["DEFAULT_TOLERANCE", "VALID_SPLIT", "GridPoint", "RegionComparison", "ValidatedRegion", "compare_regions",
           "compute_region", "read_region", "write_region"]

#: a setting within this much PESQ of the model's best on valid/ is validated (issue 18)
DEFAULT_TOLERANCE = 0.05
#: the only split a region (and a default setting) may be chosen on
VALID_SPLIT = "valid"


def compute_region(
    table: Sequence[Mapping[str, Any]], model: str, metric: str = "pesq", tolerance: float = DEFAULT_TOLERANCE,
    split: str = VALID_SPLIT,
) -> ValidatedRegion:
    """The validated region of ``model`` from benchmark table rows (:func:`crpse.bench.quality.summarize`).

    Raises:
        ValueError: ``split`` is not ``valid`` (defaults are never chosen on test data), or the table has no
            scored diffusion setting of ``model`` on it.
    """
    if split != VALID_SPLIT:
        raise ValueError(f"a validated region is chosen on {VALID_SPLIT}/ only, not on {split}/")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    rows = [r for r in table if r["split"] == split and r["model"] == model and r["t_start"] is not None
            and math.isfinite(float(r[f"{metric}_mean"]))]
    if not rows:
        raise ValueError(f"no scored sampler setting of {model!r} on {split}/ in this benchmark")
    best_score = max(float(r[f"{metric}_mean"]) for r in rows)
    points = []
    for r in rows:
        score = float(r[f"{metric}_mean"])
        points.append(GridPoint(str(r["sampler"]), int(r["steps"]), float(r["t_start"]), str(r["schedule"]), score,
                                inside=score >= best_score - tolerance))
    # ties: fewer network calls, then the earlier row
    best_row = max(rows, key=lambda r: (float(r[f"{metric}_mean"]), -int(r["nfe"])))
    best = next(p for p in points if (p.sampler, p.steps, p.t_start, p.schedule) == (
        str(best_row["sampler"]), int(best_row["steps"]), float(best_row["t_start"]), str(best_row["schedule"])))
    return ValidatedRegion(split, metric, float(tolerance), int(rows[0]["files"]), best, tuple(points))


def write_region(
    source: Any, destination: Any, region: ValidatedRegion, set_default: bool = True
) -> Any:
    """Copy a crpse checkpoint with ``region`` in its ``extra`` and (``set_default``) its best setting as the
    model's inference setting, i.e. what ``crpse enhance`` uses when no sampler option is given.

    Returns:
        The path written (atomically; ``destination`` may equal ``source``).

    Raises:
        crpse.checkpoint.CheckpointError: not a crpse checkpoint, or not a score model.
    """
    from crpse.checkpoint import CheckpointError, rewrite_checkpoint

    def store(data: dict[str, Any]) -> None:
        if data["config"].get("kind") != "score":
            raise CheckpointError(f"{source}: a predictive model has no sampler settings")
        data["extra"] = {**dict(data.get("extra") or {}), REGION_KEY: region.to_dict()}
        if set_default:
            inference = dict(data["config"].get("inference") or {})
            inference.update(sampler=region.best.sampler, steps=region.best.steps, t_start=region.best.t_start)
            if region.best.schedule != UNIFORM or "schedule" in inference:
                inference["schedule"] = region.best.schedule
            data["config"] = {**data["config"], "inference": inference}

    return rewrite_checkpoint(source, destination, store, "store a validated region")


@dataclass(frozen=True)
class RegionComparison:
    """A candidate model against a fixed one on the fixed model's validated region (issue 18's acceptance).

    Attributes:
        fixed, candidate: the two regions, computed on valid/ with the same tolerance.
        settings: the grid points inside the fixed model's region, as ``(sampler, steps, t_start, schedule)``.
        fixed_worst, candidate_worst: each model's lowest score over ``settings`` (``(score, setting)``).
        missing: settings of ``settings`` the candidate was not scored at.
    """

    fixed: ValidatedRegion
    candidate: ValidatedRegion
    settings: tuple[tuple[str, int, float, str], ...]
    fixed_worst: tuple[float, tuple[str, int, float, str]]
    candidate_worst: tuple[float, tuple[str, int, float, str]]
    missing: tuple[tuple[str, int, float, str], ...]

    @property
    def no_worse(self) -> bool:
        """The candidate's worst point over the fixed model's region is at least the fixed model's worst."""
        return not self.missing and self.candidate_worst[0] >= self.fixed_worst[0]

    @property
    def wider(self) -> bool:
        """The candidate's own validated region has more grid points than the fixed model's."""
        return len(self.candidate.inside) > len(self.fixed.inside)

    def describe(self) -> str:
        def name(setting: tuple[str, int, float, str]) -> str:
            sampler, steps, t_start, schedule = setting
            return f"{sampler} N={steps} t_start={t_start:g} ({schedule})"

        lines = [
            f"fixed model's validated region: {len(self.fixed.inside)} of {len(self.fixed.points)} grid points "
            f"(best {self.fixed.best.score:.3f}); candidate's: {len(self.candidate.inside)} of "
            f"{len(self.candidate.points)} (best {self.candidate.best.score:.3f}) -> "
            f"{'wider' if self.wider else 'not wider'}",
            f"worst {self.fixed.metric.upper()} over the fixed model's region: fixed {self.fixed_worst[0]:.3f} at "
            f"{name(self.fixed_worst[1])}, candidate {self.candidate_worst[0]:.3f} at {name(self.candidate_worst[1])}"
            f" -> {'no worse' if self.no_worse else 'worse'}",
        ]
        if self.missing:
            lines.append(f"the candidate was not scored at {len(self.missing)} of those settings: "
                         + ", ".join(name(s) for s in self.missing))
        return "\n".join(lines)


def compare_regions(table: Sequence[Mapping[str, Any]], fixed: str, candidate: str, metric: str = "pesq",
                    tolerance: float = DEFAULT_TOLERANCE) -> RegionComparison:
    """Score ``candidate`` on ``fixed``'s validated region (both from the valid/ rows of a sweep table).

    Raises:
        ValueError: a model has no scored diffusion setting on valid/.
    """
    regions = {m: compute_region(table, m, metric=metric, tolerance=tolerance) for m in (fixed, candidate)}

    def key(point: GridPoint) -> tuple[str, int, float, str]:
        return point.sampler, point.steps, round(point.t_start, 6), point.schedule

    settings = tuple(key(p) for p in regions[fixed].inside)
    fixed_scores = {key(p): p.score for p in regions[fixed].points}
    candidate_scores = {key(p): p.score for p in regions[candidate].points}
    scored = [s for s in settings if s in candidate_scores]
    missing = tuple(s for s in settings if s not in candidate_scores)
    fixed_worst = min((fixed_scores[s], s) for s in settings)
    candidate_worst = min(((candidate_scores[s], s) for s in scored), default=(math.nan, settings[0]))
    return RegionComparison(regions[fixed], regions[candidate], settings, fixed_worst, candidate_worst, missing)
