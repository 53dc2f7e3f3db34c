"""The sampler-setting grid language: expansion, canonical labels, errors."""

from __future__ import annotations

import pytest

from crpse.bench.grid import SettingSpec, format_setting, parse_assignments, parse_setting, parse_settings, slug


def test_model_spec_is_the_checkpoints_own_setting() -> None:
    assert parse_setting("model") == [SettingSpec()]


def test_pc_spec_with_corrector() -> None:
    assert parse_setting("pc:30:c=1") == [SettingSpec("pc", 30, None, (("corrector_steps", 1),))]


def test_lists_and_ranges_expand_to_the_product() -> None:
    specs = parse_setting("reverse:1,2,5,10:t=0.5,max")
    assert len(specs) == 8
    assert specs[0] == SettingSpec("reverse", 1, 0.5)
    assert specs[1] == SettingSpec("reverse", 1, "max")
    assert [s.steps for s in specs[::2]] == [1, 2, 5, 10]


def test_float_range_with_step_is_exact() -> None:
    specs = parse_setting("reverse:1..5:t=0.1..0.9/0.1:schedule=uniform,power")
    assert len(specs) == 5 * 9 * 2
    times = sorted({s.t_start for s in specs})
    assert times == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert {s.option_dict["schedule"] for s in specs} == {"uniform", "power"}


def test_duplicates_are_kept_once() -> None:
    assert len(parse_settings(["reverse:1..3", "reverse:2..4"])) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("euler:3", "unknown sampler"),
        ("reverse:0", "steps must be >= 1"),
        ("reverse:1:x=3", "KEY=VALUE"),
        ("reverse:1:t=0.1..0.5", "needs a step"),
        ("reverse:3..1", "empty"),
        ("reverse:1:t=0.5:t=0.3", "given twice"),
        ("reverse:a", "cannot read"),
    ],
)
def test_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_setting(text)


def test_labels_are_canonical_and_round_trip() -> None:
    label = format_setting("pc", 30, 0.999, {"corrector_steps": 1, "snr": 0.5})
    assert label == "pc:30:t=0.999:c=1:snr=0.5"
    spec = parse_setting(label)[0]
    assert (spec.sampler, spec.steps, spec.t_start, spec.option_dict) == ("pc", 30, 0.999,
                                                                          {"corrector_steps": 1, "snr": 0.5})
    assert format_setting("reverse", 2, 0.5, {"schedule": "uniform"}) == "reverse:2:t=0.5"
    assert format_setting("reverse", 2, 0.5, {"schedule": "power"}) == "reverse:2:t=0.5:schedule=power"
    assert slug(label) == "pc_30_t0.999_c1_snr0.5"


def test_assignments() -> None:
    assert parse_assignments(["a=x.ckpt", "b=y.ckpt"], "--model") == [("a", "x.ckpt"), ("b", "y.ckpt")]
    with pytest.raises(ValueError, match="twice"):
        parse_assignments(["a=x", "a=y"], "--model")
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_assignments(["x.ckpt"], "--model")
