"""Validated regions: which settings are inside, the best one, and the valid-only rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from crpse.bench.region import ValidatedRegion, compare_regions, compute_region


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


def _range_rows(scores: dict[tuple[int, float], float]) -> list[dict]:
    return [_row(steps, t, pesq, model="range") for (steps, t), pesq in scores.items()]


def test_candidate_on_the_fixed_models_region() -> None:
    """crp's region: (1, 0.5) 2.30, (1, 0.7) 2.27, (2, 0.3) 2.31; its worst there is 2.27 at (1, 0.7)."""
    flat = {(1, 0.3): 2.20, (1, 0.5): 2.24, (1, 0.7): 2.28, (2, 0.3): 2.26, (2, 0.5): 2.25, (2, 0.7): 2.22}
    comparison = compare_regions(TABLE + _range_rows(flat), fixed="crp", candidate="range")
    assert comparison.fixed_worst == (2.27, ("reverse", 1, 0.7, "uniform"))
    assert comparison.candidate_worst == (2.24, ("reverse", 1, 0.5, "uniform"))
    assert not comparison.no_worse  # 2.24 < 2.27
    assert len(comparison.candidate.inside) == 4 and comparison.wider  # 4 within 0.05 of its best 2.28, against 3
    assert "candidate 2.240 at reverse N=1 t_start=0.5 (uniform) -> worse" in comparison.describe()

    better = {**flat, (1, 0.5): 2.29, (2, 0.3): 2.27}  # a tie with crp's worst counts as no worse
    comparison = compare_regions(TABLE + _range_rows(better), fixed="crp", candidate="range")
    assert comparison.no_worse and comparison.candidate_worst == (2.27, ("reverse", 2, 0.3, "uniform"))

    partial = {k: v for k, v in better.items() if k != (2, 0.3)}  # not scored where crp is validated
    comparison = compare_regions(TABLE + _range_rows(partial), fixed="crp", candidate="range")
    assert comparison.missing == (("reverse", 2, 0.3, "uniform"),) and not comparison.no_worse


def test_regions_command(tmp_path: Path) -> None:
    from crpse.bench.quality import write_rows
    from crpse.cli import main

    flat = {(1, 0.3): 2.25, (1, 0.5): 2.29, (1, 0.7): 2.28, (2, 0.3): 2.27, (2, 0.5): 2.25, (2, 0.7): 2.26}
    write_rows(TABLE + _range_rows(flat), tmp_path / "sweep.csv")
    assert main(["bench", "regions", str(tmp_path), "--fixed", "crp", "--candidate", "range"]) == 0
    text = (tmp_path / "regions_range_vs_crp.md").read_text()
    assert "candidate's: 6 of 6" in text and "-> wider" in text and "-> no worse" in text
    assert main(["bench", "regions", str(tmp_path / "none"), "--fixed", "crp", "--candidate", "range"]) == 1
