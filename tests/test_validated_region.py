"""The validated region's warning text and the setting an Enhancer resolves to."""

from __future__ import annotations

from crpse.enhancer import Enhancer
from crpse.nn.ncsnpp import named_config
from crpse.score_model import build_model
from crpse.validated_region import GridPoint, ValidatedRegion, region_warning, resolved_setting


def _region() -> ValidatedRegion:
    points = (GridPoint("reverse", 1, 0.3, "uniform", 2.0, True), GridPoint("reverse", 1, 0.5, "uniform", 1.5, False))
    return ValidatedRegion("valid", "pesq", 0.05, 10, points[0], points)


def test_warning_only_outside() -> None:
    region = _region()
    assert region_warning(region, "reverse", 1, 0.3, "uniform") is None
    text = region_warning(region, "reverse", 1, 0.5, "uniform")
    assert text is not None and "outside this model's validated region" in text
    assert "best is reverse N=1 t_start=0.3 (uniform)" in text


def test_resolved_setting_of_an_enhancer() -> None:
    config = named_config("tiny", nf=4, ch_mult=(1,) * 7, attn_resolutions=())
    enhancer = Enhancer(build_model(config, seed=0), steps=2, t_start=0.4, device="cpu")
    assert resolved_setting(enhancer) == ("reverse", 2, 0.4, "uniform")
    predictive = Enhancer(build_model(config, kind="predictive", seed=0), device="cpu")
    assert resolved_setting(predictive) is None
