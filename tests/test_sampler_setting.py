"""A model's own sampler setting (crpse.sampler_setting): description, and the warning for any other setting."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from crpse.assets import default_model_path
from crpse.checkpoint import load_model, reference_config
from crpse.enhancer import Enhancer
from crpse.sampler_setting import SamplerSettingWarning, describe, intended_choice, is_intended, warn_if_not_intended
from crpse.sampler_spec import SamplerRequest
from crpse.sampling import resolve_sampler
from crpse.score_model import model_from_config


@pytest.fixture(scope="module")
def bundled() -> torch.nn.Module:
    return load_model(default_model_path())


def test_every_kind_of_checkpoint_states_its_setting(bundled: torch.nn.Module) -> None:
    assert describe(intended_choice(bundled)) == "reverse sampler, 1 step from t=0.3"
    crp = model_from_config(reference_config({"sde": "bbed", "inference_N": 2, "inference_start": 0.5}))
    assert describe(intended_choice(crp)) == "reverse sampler, 2 steps from t=0.5"
    dsm = model_from_config(reference_config({"sde": "bbed"}))
    assert describe(intended_choice(dsm)) == "pc sampler, 30 steps from t=0.999, corrector_steps=1, snr=0.5"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({}, True),
        ({"sampler": "reverse", "steps": 1, "t_start": 0.3}, True),
        ({"steps": 2}, False),
        ({"t_start": 0.5}, False),
        ({"sampler": "pc"}, False),
        ({"sampler": "ode", "steps": 1, "t_start": 0.3}, False),
    ],
)
def test_only_the_models_own_setting_counts_as_intended(
    bundled: torch.nn.Module, request_: dict, expected: bool
) -> None:
    assert is_intended(bundled, resolve_sampler(bundled, SamplerRequest.from_options(**request_))) is expected


def test_another_setting_warns_naming_the_models_own(bundled: torch.nn.Module) -> None:
    with pytest.warns(SamplerSettingWarning) as record:
        assert warn_if_not_intended(bundled, resolve_sampler(bundled, SamplerRequest(sampler="pc", steps=30)))
    message = str(record[0].message)
    assert "trained and validated for the reverse sampler, 1 step from t=0.3" in message
    assert "you asked for the pc sampler, 30 steps from t=0.999, corrector_steps=1, snr=0.5" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_not_intended(bundled, resolve_sampler(bundled))


def test_the_enhancer_warns_once_per_setting(bundled: torch.nn.Module) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's own filter: a given warning is shown once
        for _ in range(3):
            Enhancer(bundled, steps=2)
        Enhancer(bundled)
    relevant = [w for w in caught if issubclass(w.category, SamplerSettingWarning)]
    assert len(relevant) == 1
    assert "you asked for the reverse sampler, 2 steps from t=0.3" in str(relevant[0].message)


def test_a_predictive_model_never_warns() -> None:
    from crpse.nn.ncsnpp import named_config
    from crpse.score_model import build_model

    model = build_model(named_config("tiny", nf=4, ch_mult=(1,) * 7, attn_resolutions=()), kind="predictive")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enhancer = Enhancer(model)
    assert enhancer.intended_setting == "predictive model's single network call"


def test_cli_warns_once_for_many_files(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import soundfile as sf

    from crpse.cli import main

    for name in ("a.wav", "b.wav", "c.wav"):
        sf.write(tmp_path / name, np.zeros(4000, np.float32), 16000)  # silent: no network call needed
    assert main(["enhance", *(str(tmp_path / n) for n in ("a.wav", "b.wav", "c.wav")), "-o", str(tmp_path / "o"),
                 "--t-start", "0.5", "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("crpse: warning:") == 1
    assert "trained and validated for the reverse sampler, 1 step from t=0.3; you asked for the reverse sampler, " \
        "1 step from t=0.5" in err


@pytest.fixture
def region_checkpoint(tmp_path) -> Path:
    """A tiny model meant for reverse N=1 from t=0.3 whose checkpoint stores a validated region: N=1 and N=2 at
    t_start 0.3 inside, N=2 at 0.5 outside."""
    from crpse.checkpoint import save_model
    from crpse.nn.ncsnpp import named_config
    from crpse.sampler_spec import SamplerSpec
    from crpse.score_model import build_model
    from crpse.validated_region import GridPoint, ValidatedRegion

    model = build_model(named_config("tiny", nf=4, ch_mult=(1,) * 7, attn_resolutions=()), seed=0,
                        inference=SamplerSpec(steps=1, t_start=0.3))
    points = (GridPoint("reverse", 1, 0.3, "uniform", 2.0, True), GridPoint("reverse", 2, 0.3, "uniform", 1.99, True),
              GridPoint("reverse", 2, 0.5, "uniform", 1.5, False))
    region = ValidatedRegion("valid", "pesq", 0.05, 10, points[0], points)
    return save_model(tmp_path / "region.ckpt", model, extra={"validated_region": region.to_dict()})


def test_settings_inside_the_validated_region_count_as_intended(region_checkpoint: Path) -> None:
    model = load_model(region_checkpoint)
    assert model.validated_region is not None and len(model.validated_region.points) == 3
    assert is_intended(model, resolve_sampler(model, SamplerRequest(steps=2)))  # inside the region
    assert not is_intended(model, resolve_sampler(model, SamplerRequest(steps=2, t_start=0.5)))
    assert not is_intended(model, resolve_sampler(model, SamplerRequest(steps=3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Enhancer(model, steps=2)
        Enhancer(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Enhancer(model, steps=2, t_start=0.5)
    assert len(caught) == 1 and issubclass(caught[0].category, SamplerSettingWarning)
    message = str(caught[0].message)
    assert "trained and validated for the reverse sampler, 1 step from t=0.3" in message
    assert "reverse N=2 t_start=0.5 (uniform schedule) is outside this model's validated region" in message


def test_cli_warns_once_outside_the_validated_region_and_not_inside(
    region_checkpoint: Path, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    import soundfile as sf

    from crpse.cli import main

    sf.write(tmp_path / "a.wav", np.zeros(4000, np.float32), 16000)  # silent: no network call needed
    base = ["enhance", str(tmp_path / "a.wav"), "--model", str(region_checkpoint), "-q"]
    assert main([*base, "-o", str(tmp_path / "inside"), "--steps", "2"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "outside"), "--steps", "2", "--t-start", "0.5"]) == 0
    err = capsys.readouterr().err
    assert err.count("crpse: warning:") == 1
    assert "trained and validated for the reverse sampler, 1 step from t=0.3" in err
    assert "outside this model's validated region" in err
