"""Validated regions: which settings are inside, the best one, and the valid-only rule."""

from __future__ import annotations

import pytest

from crpse.bench.region import ValidatedRegion, compute_region


def _row(steps: int, t: float, pesq: float, split: str = "valid", model: str = "crp") -> dict:
    return {"split": split, "model": model, "setting": f"reverse:{steps}:t={t}", "sampler": "reverse", "steps": steps,
            "t_start": t, "schedule": "uniform", "nfe": steps, "files": 50, "pesq_mean": pesq}


TABLE = [_row(1, 0.3, 2.00), _row(1, 0.5, 2.30), _row(1, 0.7, 2.27), _row(2, 0.3, 2.31), _row(2, 0.5, 2.20),
         _row(2, 0.7, 1.50), _row(1, 0.5, 9.0, split="test"), {**_row(1, 0.5, 1.0), "model": "other"}]


def test_region_is_within_tolerance_of_the_best_on_valid() -> None:
    region = compute_region(TABLE, "crp")
    assert (region.best.steps, region.best.t_start, region.best.score) == (2, 0.3, 2.31)
    inside = sorted((p.steps, p.t_start) for p in region.inside)
    assert inside == [(1, 0.5), (1, 0.7), (2, 0.3)]
    assert region.files == 50
    assert ValidatedRegion.from_dict(region.to_dict()) == region
    assert "reverse uniform N=1: t_start 0.5, 0.7" in region.describe()


def test_ties_prefer_fewer_network_calls() -> None:
    region = compute_region([_row(1, 0.5, 2.3), _row(3, 0.5, 2.3)], "crp")
    assert region.best.steps == 1


def test_contains_uses_the_nearest_grid_point() -> None:
    region = compute_region(TABLE, "crp")
    assert region.contains("reverse", 1, 0.5) and region.contains("reverse", 1, 0.58)
    assert region.contains("reverse", 1, 0.79)  # within half a spacing of 0.7
    assert not region.contains("reverse", 1, 0.85)  # beyond the scored range
    assert not region.contains("reverse", 1, 0.3)
    assert not region.contains("reverse", 3, 0.5)  # N never scored
    assert not region.contains("pc", 1, 0.5)
    assert region.contains("reverse", 1, 0.5, schedule="power")  # N = 1: the same grid for every schedule
    assert not region.contains("reverse", 3, 0.5, schedule="power")


def test_regions_are_chosen_on_valid_only() -> None:
    with pytest.raises(ValueError, match="valid/ only"):
        compute_region(TABLE, "crp", split="test")
    with pytest.raises(ValueError, match="no scored"):
        compute_region(TABLE, "missing")
