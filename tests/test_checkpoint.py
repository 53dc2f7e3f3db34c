"""Checkpoints: round trips, EMA selection, reference formats, and refusal of tampered or broken files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from crpse.checkpoint import (
    CheckpointError, UnsafeCheckpointError, load_model, read_checkpoint, reference_config, save_model,
)
from crpse.sampler_spec import SamplerSpec
from crpse.score_model import PredictiveModel, ScoreModel, build_model
from crpse.sde import BBED, OUVE
from tests.conftest import complex_randn


def _inputs():
    x_t = complex_randn(1, 1, 256, 64, seed=0) * 0.3
    y = complex_randn(1, 1, 256, 64, seed=1) * 0.3
    return x_t, y, torch.tensor([0.4])


def test_round_trip_reproduces_outputs_and_config(tmp_path: Path) -> None:
    model = build_model("tiny", sde=OUVE(), seed=0, inference=SamplerSpec(sampler="pc", steps=7)).eval()
    model = model.with_config(stage="dsm")
    path = save_model(tmp_path / "m.ckpt", model, extra={"global_step": 12})
    loaded = load_model(path)
    assert isinstance(loaded, ScoreModel) and not loaded.training
    assert loaded.config == model.config
    x_t, y, t = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x_t, y, t), model(x_t, y, t), rtol=0, atol=0)
    data = read_checkpoint(path)
    assert data["format"] == "crpse" and data["format_version"] == 1 and data["extra"]["global_step"] == 12
    assert torch.load(path, weights_only=True)["config"]["sde"]["name"] == "ouve"  # plain data only


def test_ema_weights_are_chosen_on_request(tmp_path: Path) -> None:
    model = build_model("tiny", seed=0)
    ema = {k: v + 0.01 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = save_model(tmp_path / "m.ckpt", model, ema_state_dict=ema)
    with_ema = load_model(path, ema=True).state_dict()
    raw = load_model(path, ema=False).state_dict()
    name = "dnn.output_layer.bias"
    torch.testing.assert_close(with_ema[name], ema[name])
    torch.testing.assert_close(raw[name], model.state_dict()[name])


def test_predictive_round_trip(tmp_path: Path) -> None:
    model = build_model("tiny", kind="predictive", seed=1)
    loaded = load_model(save_model(tmp_path / "p.ckpt", model))
    assert isinstance(loaded, PredictiveModel) and loaded.config.sde is None


def test_truncated_and_garbage_files_are_reported(tmp_path: Path) -> None:
    path = save_model(tmp_path / "m.ckpt", build_model("tiny", seed=0))
    data = path.read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(truncated)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=str(garbage.name)):
        load_model(garbage)
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_model(tmp_path / "empty.ckpt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.ckpt")


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_tampered_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model = build_model("tiny", seed=0)
    payload = {"state_dict": model.state_dict(), "hyper_parameters": {"sde": "bbed", "payload": _Exploit(marker)}}
    path = tmp_path / "evil.ckpt"
    torch.save(payload, path)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_model(path)
    assert not marker.exists()


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = save_model(tmp_path / "m.ckpt", build_model("tiny", seed=0))
    data = torch.load(path, weights_only=True)
    data["format_version"] = 99
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="newer"):
        load_model(path)


def test_reference_hparams_translation() -> None:
    bbve = reference_config({"sde": "bbve", "sigma_min": 1.0, "sigma_max": 2.6, "theta": 0.51, "T_sampling": 0.999})
    assert bbve.sde == BBED(k=2.6, c=0.51) and bbve.stage == "dsm" and bbve.inference.sampler == "pc"
    ouve = reference_config({"sde": "ouve", "theta": 1.5, "sigma_min": 0.05, "sigma_max": 0.5, "nf": 16})
    assert ouve.sde == OUVE() and ouve.backbone.nf == 16
    crp = reference_config({"sde": "bbed", "k": 2.6, "theta": 0.52, "inference_N": 3, "inference_start": 0.4})
    assert crp.stage == "crp" and crp.inference.steps == 3 and crp.inference.t_start == 0.4
    with pytest.raises(CheckpointError, match="backbone"):
        reference_config({"backbone": "dcunet"})


def test_reference_checkpoint_with_wrong_ema_length(tmp_path: Path, golden: dict) -> None:
    ckpt = dict(golden["checkpoint"])
    ckpt["ema"] = dict(ckpt["ema"], shadow_params=ckpt["ema"]["shadow_params"][:-1])
    torch.save(ckpt, tmp_path / "bad_ema.ckpt")
    with pytest.raises(CheckpointError, match="EMA holds 226"):
        load_model(tmp_path / "bad_ema.ckpt")


def test_export_keeps_only_the_ema_weights(tmp_path: Path) -> None:
    from crpse.checkpoint import export_model

    model = build_model("tiny", seed=0)
    ema = {k: v + 0.5 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    source = save_model(tmp_path / "train.ckpt", model, ema_state_dict=ema, extra={"global_step": 7})
    slim = export_model(source, tmp_path / "slim.ckpt", extra={"note": "bundled"})
    data = read_checkpoint(slim)
    assert data["ema_state_dict"] is None and data["extra"]["source_extra"]["global_step"] == 7
    assert data["extra"]["note"] == "bundled"
    torch.testing.assert_close(load_model(slim).state_dict()["dnn.output_layer.bias"], ema["dnn.output_layer.bias"])
    assert slim.stat().st_size < 0.6 * source.stat().st_size


def test_with_config_returns_a_configured_copy_and_leaves_the_model() -> None:
    model = build_model("tiny", sde=OUVE(), seed=0).eval()
    staged = model.with_config(stage="crp", inference=SamplerSpec(steps=2))
    assert staged is not model and (staged.config.stage, staged.config.inference.steps) == ("crp", 2)
    assert model.config.stage != "crp" and model.config.inference.steps != 2
    assert not staged.training
    for name, value in model.state_dict().items():
        assert torch.equal(staged.state_dict()[name], value), name
