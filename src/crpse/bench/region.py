"""Compute a model's validated region from a ``crpse bench sweep`` table and write it into a checkpoint.

The region type and its membership rule live in :mod:`crpse.validated_region` (torch-free, next to the model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from crpse.sampler_spec import UNIFORM
from crpse.validated_region import GridPoint, ValidatedRegion, read_region

__all__ = ["DEFAULT_TOLERANCE", "VALID_SPLIT", "GridPoint", "ValidatedRegion", "compute_region", "read_region",
           "write_region"]

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
