"""A model's validated region: the sampler settings of a valid/ sweep that scored within a tolerance of its best
(plain data, torch-free; computed by :mod:`crpse.bench.region`, stored in the checkpoint).

Plain-data form::

    {"split": "valid", "metric": "pesq", "tolerance": 0.05, "files": 50,
     "best": {"sampler": "reverse", "steps": 2, "t_start": 0.4, "schedule": "uniform", "score": 2.41},
     "points": [{"sampler", "steps", "t_start", "schedule", "score", "inside"}, ...]}   # every grid point scored

A requested setting is *inside* when the nearest scored grid point with the same sampler, steps and schedule is
inside and no farther in t_start than half the grid spacing there; anything else (another sampler, N or schedule,
or a t_start off the scored range) is outside: nothing says how the model behaves there. For N = 1 and 2 every time
schedule gives the same grid (t_start, then t_eps), so the schedule is ignored there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from crpse.sampler_spec import UNIFORM

#: where a checkpoint stores its validated region (``extra[REGION_KEY]``)
REGION_KEY = "validated_region"


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
            schedule = UNIFORM
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


def read_region(checkpoint: Mapping[str, Any]) -> ValidatedRegion | None:
    """The region stored in a checkpoint dict (``extra["validated_region"]``), if any."""
    stored = (checkpoint.get("extra") or {}).get(REGION_KEY)
    return None if stored is None else ValidatedRegion.from_dict(stored)


def resolved_setting(enhancer: Any) -> tuple[str, int, float, str] | None:
    """``(sampler, steps, t_start, schedule)`` an :class:`~crpse.enhancer.Enhancer` runs (``None``: predictive)."""
    if enhancer.is_predictive:
        return None
    spec = enhancer.spec
    return spec.sampler, int(spec.steps), float(spec.t_start), spec.schedule


def region_warning(region: ValidatedRegion, sampler: str, steps: int, t_start: float, schedule: str) -> str | None:
    """The warning for a setting outside ``region`` (``None`` inside it)."""
    if region.contains(sampler, steps, t_start, schedule):
        return None
    best = region.best
    return (f"{sampler} N={steps} t_start={t_start:g} ({schedule} schedule) is outside this model's validated region "
            f"(settings within {region.tolerance:g} {region.metric.upper()} of its best on {region.split}/); its best "
            f"is {best.sampler} N={best.steps} t_start={best.t_start:g} ({best.schedule}); `crpse info` lists the "
            "region")
