"""Sampler specification: defaults, ranges, errors, resolution against a model's own setting (no torch needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crpse.sampler_spec import (
    CRP_SPEC,
    DEFAULT_STEPS,
    DSM_SPEC,
    SAMPLERS,
    SCHEDULES,
    SamplerRequest,
    SamplerSpec,
)

BBED_RANGE = (0.03, 0.999)  # t_eps, t_max


def test_defaults_are_the_papers_crp_setting() -> None:
    spec = SamplerSpec()
    assert (spec.sampler, spec.steps, spec.t_start, spec.schedule) == ("reverse", 1, 0.5, "uniform")
    assert (spec.corrector_steps, spec.snr, spec.ode_method) == (1, 0.5, "euler")
    assert CRP_SPEC == spec
    assert (DSM_SPEC.sampler, DSM_SPEC.steps, DSM_SPEC.t_start, DSM_SPEC.network_calls) == ("pc", 30, None, 60)
    assert SAMPLERS == ("reverse", "pc", "ode") and SCHEDULES[0] == "uniform"
    assert DEFAULT_STEPS == {"reverse": 1, "pc": 30, "ode": 30}


@pytest.mark.parametrize(("fields", "calls", "draws"), [
    ({"steps": 3}, 3, 3),
    ({"sampler": "pc", "steps": 30, "corrector_steps": 1}, 60, 60),
    ({"sampler": "pc", "steps": 2, "corrector_steps": 2}, 6, 6),
    ({"sampler": "ode", "steps": 10}, 10, 1),
    ({"sampler": "ode", "steps": 10, "ode_method": "heun"}, 19, 1),
])
def test_network_calls_and_noise_draws(fields: dict, calls: int, draws: int) -> None:
    spec = SamplerSpec(**fields)
    assert (spec.network_calls, spec.noise_draws) == (calls, draws)


@pytest.mark.parametrize(("fields", "message"), [
    ({"sampler": "ddim"}, "unknown sampler 'ddim'; choose one of reverse, pc, ode"),
    ({"steps": 0}, "steps must be a whole number >= 1, got 0"),
    ({"steps": 1.5}, "steps must be a whole number >= 1"),
    ({"t_start": 0.0}, "t_start must be positive"),
    ({"corrector_steps": -1}, "corrector_steps must be a whole number >= 0"),
    ({"snr": 0.0}, "snr must be positive"),
    ({"ode_method": "rk4"}, "the ode method must be one of euler, heun"),
    ({"schedule": "cosine"}, "unknown time schedule 'cosine'"),
])
def test_invalid_values_are_errors_that_name_the_choices(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        SamplerSpec(**fields)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        SamplerRequest(**fields)


def test_time_range_fills_and_checks_t_start() -> None:
    assert SamplerSpec(t_start=None).with_time_range(*BBED_RANGE).t_start == 0.999
    assert SamplerSpec(t_start=0.3).with_time_range(*BBED_RANGE).t_start == 0.3
    for bad in (0.03, 0.01, 1.2):
        with pytest.raises(ValueError, match=r"t_start must lie in \(0.03, 0.999\]"):
            SamplerSpec(t_start=bad).with_time_range(*BBED_RANGE)


def test_empty_request_is_the_models_own_setting() -> None:
    own = SamplerSpec(steps=2, t_start=0.4)
    assert SamplerRequest().is_empty()
    assert SamplerRequest().resolve(own, *BBED_RANGE) == own


def test_request_for_the_models_own_sampler_keeps_its_other_settings() -> None:
    own = SamplerSpec(steps=2, t_start=0.4)
    assert SamplerRequest(steps=5).resolve(own, *BBED_RANGE) == SamplerSpec(steps=5, t_start=0.4)
    assert SamplerRequest(t_start=0.6).resolve(own, *BBED_RANGE) == SamplerSpec(steps=2, t_start=0.6)


def test_request_for_another_sampler_gets_its_usual_steps_from_t_max() -> None:
    own = SamplerSpec(steps=2, t_start=0.4, snr=0.3)
    pc = SamplerRequest(sampler="pc").resolve(own, *BBED_RANGE)
    assert (pc.sampler, pc.steps, pc.t_start, pc.corrector_steps, pc.snr) == ("pc", 30, 0.999, 1, 0.3)
    ode = SamplerRequest(sampler="ode", steps=4, ode_method="heun").resolve(own, *BBED_RANGE)
    assert (ode.steps, ode.t_start, ode.ode_method, ode.network_calls) == (4, 0.999, "heun", 7)
    # the DSM setting resolved on its own: PC 30 steps from t_max
    assert SamplerRequest().resolve(DSM_SPEC, *BBED_RANGE).t_start == 0.999


def test_request_errors() -> None:
    with pytest.raises(ValueError, match=r"options \['snr'\] do not apply to the reverse sampler \(it takes: none\)"):
        SamplerRequest(snr=0.5).resolve(CRP_SPEC, *BBED_RANGE)
    with pytest.raises(ValueError, match="do not apply to the pc sampler"):
        SamplerRequest(sampler="pc", ode_method="heun").resolve(CRP_SPEC, *BBED_RANGE)
    with pytest.raises(ValueError, match="t_start must lie in"):
        SamplerRequest(t_start=1.5).resolve(CRP_SPEC, *BBED_RANGE)
    with pytest.raises(ValueError, match="unknown sampler options"):
        SamplerRequest.from_options(steps=2, nosie=1)


def test_from_options_accepts_method_and_ignores_unset() -> None:
    request = SamplerRequest.from_options("ode", None, None, method="heun", snr=None)
    assert request == SamplerRequest(sampler="ode", ode_method="heun")


def test_dict_round_trip_and_old_checkpoints_without_schedule() -> None:
    spec = SamplerSpec(sampler="pc", steps=7, t_start=None, snr=0.3)
    assert SamplerSpec.from_dict(spec.to_dict()) == spec
    old = {"sampler": "reverse", "steps": 1, "t_start": 0.5, "corrector_steps": 1, "snr": 0.5, "ode_method": "euler"}
    assert SamplerSpec.from_dict(old) == CRP_SPEC
    with pytest.raises(ValueError, match="unknown sampler settings"):
        SamplerSpec.from_dict({**old, "temperature": 1.0})


def test_describe() -> None:
    assert SamplerSpec().describe() == "reverse, 1 step(s) from t=0.5"
    assert DSM_SPEC.describe() == "pc, 30 step(s) from t=t_max, corrector_steps=1, snr=0.5"
    assert SamplerSpec(steps=3, schedule="power").describe() == "reverse, 3 step(s) from t=0.5, power schedule"


def test_the_module_does_not_import_torch() -> None:
    code = "import sys, crpse.sampler_spec\nassert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
