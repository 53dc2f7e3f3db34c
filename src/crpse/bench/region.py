"""A model's validated region: the sampler settings of a valid/ sweep that score within a tolerance of its best.

The region is plain data (stored in a checkpoint's ``extra["validated_region"]``)::

    {"split": "valid", "metric": "pesq", "tolerance": 0.05, "files": 50,
     "best": {"sampler": "reverse", "steps": 2, "t_start": 0.4, "schedule": "uniform", "score": 2.41},
     "points": [{"sampler", "steps", "t_start", "schedule", "score", "inside"}, ...]}   # every grid point scored

A requested setting is *inside* when the nearest scored grid point with the same sampler, steps and schedule is
inside and no farther in t_start than half the grid spacing there; anything else (another sampler, N or schedule,
or a t_start off the scored range) is outside: nothing says how the model behaves there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from crpse.sampler_spec import UNIFORM

#: a setting within this much PESQ of the model's best on valid/ is validated (issue 18)
DEFAULT_TOLERANCE = 0.05
#: the only split a region (and a default setting) may be chosen on
VALID_SPLIT = "valid"


@dataclass(frozen=True)
class GridPoint:
    """One scored setting of the sweep."""

    sampler: str
    steps: int
    t_start: float
    schedule: str
    score: float
    inside: bool = False


@dataclass(frozen=True)
class ValidatedRegion:
    """Settings within ``tolerance`` of the best ``metric`` on ``split``.

    Attributes:
        split, metric, tolerance: how the region was chosen.
        files: files the scores are means over.
        best: the best grid point (the model's default setting).
        points: every scored grid point, ``inside`` marking the region.
    """

    split: str
    metric: str
    tolerance: float
    files: int
    best: GridPoint
    points: tuple[GridPoint, ...]

    @property
    def inside(self) -> tuple[GridPoint, ...]:
        return tuple(p for p in self.points if p.inside)

    def contains(self, sampler: str, steps: int, t_start: float, schedule: str = UNIFORM) -> bool:
        """Whether a setting lies in the region (see the module docstring)."""
        if steps < 3:  # one or two steps: every schedule gives the same grid (t_start, then t_eps)
            schedule = "uniform"
        same = sorted((p for p in self.points if (p.sampler, p.steps, p.schedule) == (sampler, steps, schedule)),
                      key=lambda p: p.t_start)
        if not same:
            return False
        times = [p.t_start for p in same]
        nearest = min(same, key=lambda p: abs(p.t_start - t_start))
        spacing = min((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
        reach = max(spacing / 2, 1e-6)
        return nearest.inside and abs(nearest.t_start - t_start) <= reach + 1e-9

    def describe(self) -> str:
        """One line per (sampler, schedule, N): the t_start values inside, e.g. ``reverse N=2: t 0.3-0.6``."""
        lines = [f"within {self.tolerance:g} {self.metric.upper()} of the best ({self.best.score:.3f} at "
                 f"{self.best.sampler} N={self.best.steps} t_start={self.best.t_start:g}, {self.best.schedule}) on "
                 f"{self.split}/ ({self.files} files):"]
        keys = sorted({(p.sampler, p.schedule, p.steps) for p in self.points})
        for sampler, schedule, steps in keys:
            times = [p.t_start for p in self.points
                     if (p.sampler, p.schedule, p.steps) == (sampler, schedule, steps) and p.inside]
            shown = ", ".join(f"{t:g}" for t in sorted(times)) if times else "none"
            lines.append(f"  {sampler} {schedule} N={steps}: t_start {shown}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "metric": self.metric, "tolerance": self.tolerance, "files": self.files,
                "best": asdict(self.best), "points": [asdict(p) for p in self.points]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidatedRegion:
        return cls(
            split=str(data["split"]), metric=str(data["metric"]), tolerance=float(data["tolerance"]),
            files=int(data.get("files", 0)), best=GridPoint(**data["best"]),
            points=tuple(GridPoint(**p) for p in data["points"]),
        )


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
    from pathlib import Path

    from crpse.checkpoint import FORMAT, CheckpointError, atomic_torch_save, load_model, read_checkpoint

    data = read_checkpoint(source)
    if data.get("format") != FORMAT:
        raise CheckpointError(f"{source}: only crpse checkpoints can store a validated region (export it first)")
    if data["config"].get("kind") != "score":
        raise CheckpointError(f"{source}: a predictive model has no sampler settings")
    data["extra"] = {**dict(data.get("extra") or {}), "validated_region": region.to_dict()}
    if set_default:
        inference = dict(data["config"].get("inference") or {})
        inference.update(sampler=region.best.sampler, steps=region.best.steps, t_start=region.best.t_start)
        if region.best.schedule != UNIFORM or "schedule" in inference:
            inference["schedule"] = region.best.schedule
        data["config"] = {**data["config"], "inference": inference}
    atomic_torch_save(data, destination)
    load_model(destination)  # the result must load
    return Path(destination)


def read_region(data: Mapping[str, Any]) -> ValidatedRegion | None:
    """The region stored in a checkpoint dict (:func:`crpse.checkpoint.read_checkpoint`), if any."""
    stored = (data.get("extra") or {}).get("validated_region")
    return None if stored is None else ValidatedRegion.from_dict(stored)
