"""TrainConfig: one typed, frozen configuration per launch, built from the command line or a config file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from crpse.cli import build_parser
from crpse.commands.train import train_config
from crpse.sampler_spec import DSM_VALIDATION, SamplerRequest
from crpse.training.config import TrainConfig, option_default


def _config(*argv: str) -> TrainConfig:
    args = ["train", *argv]
    return train_config(build_parser(args).parse_args(args))


def test_the_command_line_gives_typed_values() -> None:
    config = _config("crp", "--data-dir", "d", "--run-dir", "r", "--init", "x.ckpt", "--steps", "1..3",
                     "--t-start", "0.4..0.6", "--devices", "0,1", "--val-steps", "2")
    assert (config.steps, config.t_start, config.devices) == ((1, 3), (0.4, 0.6), (0, 1))
    assert config.data_dir == Path("d") and config.init == Path("x.ckpt")
    assert config.lr == 1e-5 and config.val_sampler == SamplerRequest(steps=2)
    assert config.record()["devices"] == "0,1" and config.record()["steps"] == "1..3"  # as given, for args.json
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batch_size = 3  # type: ignore[misc]


def test_config_file_values_are_converted_once(tmp_path: Path) -> None:
    file = tmp_path / "run.yaml"
    file.write_text("steps: [1, 2]\nt-start: 0.5\ndevices: 2\nresume: false\nlr: 3.0e-5\n")
    config = _config("crp", "--config", str(file), "--data-dir", "d", "--run-dir", "r", "--init", "x.ckpt")
    assert (config.steps, config.t_start, config.devices, config.lr) == ((1, 2), (0.5, 0.5), 2, 3e-5)
    dsm = tmp_path / "dsm.yaml"
    dsm.write_text("ch-mult: [1, 2]\nattn-resolutions: none\nnum-frames: 64\n")
    config = _config("dsm", "--config", str(dsm), "--data-dir", "d", "--run-dir", "r")
    assert (config.ch_mult, config.attn_resolutions, config.num_frames) == ((1, 2), (), 64)
    assert config.val_sampler == DSM_VALIDATION and config.lr == 1e-4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "--batch-size must be at least 1"),
        ({"max_steps": 0}, "--max-steps must be positive or -1"),
        ({"num_workers": -1}, "--num-workers must be >= 0"),
        ({"steps": "3..1"}, "is empty"),
        ({"batch_size": "many"}, "cannot read 'many' as int"),
        ({"batch_size": 2.5}, "cannot read 2.5 as int"),
        ({"normalize": "peak"}, "--normalize must be one of noisy, clean, none"),
        ({"val_steps": 0}, "steps must be a whole number >= 1"),
        ({"progress_bar": "maybe"}, "cannot read 'maybe' as bool"),
    ],
)
def test_bad_values_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_options({"stage": "dsm", "data_dir": "d", "run_dir": "r", **options})


def test_a_crp_run_needs_an_initial_checkpoint() -> None:
    with pytest.raises(ValueError, match="needs --init"):
        TrainConfig(stage="crp", data_dir=Path("d"), run_dir=Path("r"))


def test_the_command_line_defaults_are_the_configs() -> None:
    for stage in ("dsm", "crp", "predictive"):
        argv = ["train", stage, "--data-dir", "d", "--run-dir", "r", "--init", "x.ckpt", "--no-progress-bar"]
        config = train_config(build_parser(argv).parse_args(argv))
        plain = TrainConfig(stage=stage, data_dir=Path("d"), run_dir=Path("r"), init=Path("x.ckpt"))
        assert config == plain, stage  # every field but the record of the options as given
        for field in dataclasses.fields(TrainConfig)[:-1]:
            assert getattr(config, field.name) == getattr(plain, field.name), (stage, field.name)
    assert option_default("lr", "crp") == 1e-5 and option_default("val_sampler", "dsm") == "pc"


def test_sde_options_left_out_keep_the_sdes_own_defaults() -> None:
    """The SDE's parameters have one home (crpse.sde): the command line only passes on what it is given."""
    from crpse.sde import BBED, OUVE
    from crpse.training.runner import _new_model

    base = ("dsm", "--data-dir", "d", "--run-dir", "r", "--backbone", "tiny")
    assert _new_model(_config(*base), "dsm").sde == BBED()
    assert _new_model(_config(*base, "--bbed-k", "3.0", "--t-max", "0.9"), "dsm").sde == BBED(k=3.0, t_max=0.9)
    assert _new_model(_config(*base, "--sde", "ouve", "--t-eps", "0.01"), "dsm").sde == OUVE(t_eps=0.01)
    assert _config(*base).bbed_k is None  # recorded as "not given", not as a copy of the default
    with pytest.raises(ValueError, match="BBED needs 1 < k"):
        TrainConfig(stage="dsm", data_dir=Path("d"), run_dir=Path("r"), bbed_k=0.5)  # refused before torch loads


def test_ema_warmup_is_on_unless_turned_off_and_reaches_the_module() -> None:
    from crpse.score_model import build_model
    from crpse.training.module import EnhancementModule
    from crpse.training.runner import _settings

    base = ("crp", "--data-dir", "d", "--run-dir", "r", "--init", "x.ckpt")
    assert _config(*base).ema_warmup is True  # the reference's torch-ema warm-up
    config = _config(*base, "--no-ema-warmup", "--ema-decay", "0.99")
    assert config.ema_warmup is False
    model = build_model("tiny", seed=0)
    settings = _settings(config, "crp", model)
    assert settings.ema_warmup is False and settings.to_dict()["ema_warmup"] is False
    module = EnhancementModule(model, settings)
    assert module.ema.warmup is False and module.ema.current_decay() == 0.99  # from the first update
