"""Weight-space blends: the arithmetic, what is refused, and what the written checkpoint holds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from crpse.bf16_record import BF16_COST_KEY, Bf16Cost, read_bf16_cost
from crpse.checkpoint import CheckpointError, export_model, load_model, read_checkpoint, save_model
from crpse.score_model import build_model
from crpse.validated_region import REGION_KEY, GridPoint, ValidatedRegion, read_region
from crpse.weight_blend import blend_checkpoints, blend_state_dicts
from tests.conftest import complex_randn


def test_blend_is_the_weighted_mean_of_each_tensor_and_keeps_dtypes() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "h": torch.tensor([1.0], dtype=torch.float16), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, -2.0]), "h": torch.tensor([3.0], dtype=torch.float16), "n": torch.tensor(3)}
    out = blend_state_dicts([a, b], [0.25, 0.75])
    torch.testing.assert_close(out["w"], torch.tensor([2.5, -1.0]), rtol=0, atol=0)
    assert out["h"].dtype == torch.float16 and out["h"].item() == 2.5
    assert out["n"].item() == 3 and out["n"].dtype == torch.int64
    torch.testing.assert_close(blend_state_dicts([a, b], [1.0, 0.0])["w"], a["w"], rtol=0, atol=0)


@pytest.mark.parametrize(
    "weights, message",
    [([0.5], "1 weights for 2"), ([0.7, 0.7], "sum to 1"), ([1.5, -0.5], ">= 0"), ([float("nan"), 1.0], "finite")],
)
def test_bad_weights_are_refused(weights: list[float], message: str) -> None:
    a = {"w": torch.zeros(2)}
    with pytest.raises(ValueError, match=message):
        blend_state_dicts([a, a], weights)


def test_tensors_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        blend_state_dicts([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}], [0.5, 0.5])
    with pytest.raises(ValueError, match="other weight names"):
        blend_state_dicts([{"w": torch.zeros(2)}, {"v": torch.zeros(2)}], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-float"):
        blend_state_dicts([{"n": torch.tensor(1)}, {"n": torch.tensor(2)}], [0.5, 0.5])
    with pytest.raises(ValueError, match="at least one"):
        blend_state_dicts([], [])


def test_blended_checkpoint_holds_the_mean_of_the_ema_weights(tmp_path: Path) -> None:
    start = build_model("tiny", seed=0)
    tuned_ema = build_model("tiny", seed=1).state_dict()
    # the fine-tuned run's raw weights are far off its EMA weights: only the EMA weights may enter the blend
    tuned_raw = build_model("tiny", seed=1)
    tuned_raw.load_state_dict({k: v + 1.0 if v.is_floating_point() else v for k, v in tuned_ema.items()})
    tuned_ckpt = save_model(tmp_path / "tuned.ckpt", tuned_raw, ema_state_dict=tuned_ema, extra={"global_step": 7})
    start_ckpt = export_model(save_model(tmp_path / "start_raw.ckpt", start), tmp_path / "start.ckpt")
    out = blend_checkpoints([start_ckpt, tuned_ckpt], [0.5, 0.5], tmp_path / "blend.ckpt")

    blended = load_model(out).state_dict()
    a, b = start.state_dict(), tuned_ema
    name = "dnn.all_modules.1.weight"
    torch.testing.assert_close(blended[name], (a[name].double() / 2 + b[name].double() / 2).float(), rtol=0, atol=0)
    data = read_checkpoint(out)
    assert data["ema_state_dict"] is None  # an export: EMA weights only
    assert [s["weight"] for s in data["extra"]["blend"]] == [0.5, 0.5]
    assert data["extra"]["blend"][1]["source_extra"]["global_step"] == 7
    # it runs
    x = complex_randn(1, 1, 256, 64, seed=2) * 0.3
    with torch.no_grad():
        assert torch.isfinite(load_model(out)(x, x, torch.tensor([0.3]))).all()


def test_a_validated_region_is_not_carried_into_the_blend(tmp_path: Path, tiny_ckpt: Path) -> None:
    data = read_checkpoint(tiny_ckpt)
    point = GridPoint(sampler="reverse", steps=1, t_start=0.3, schedule="uniform", score=2.0, inside=True)
    region = ValidatedRegion(split="valid", metric="pesq", tolerance=0.05, files=4, best=point, points=(point,))
    cost = Bf16Cost(pesq=0.01, worst_pesq=0.05, worst_file="a.wav", estoi=0.0, si_sdr=0.0, split="test", files=4)
    data["extra"] = {**(data.get("extra") or {}), REGION_KEY: region.to_dict(), BF16_COST_KEY: cost.to_dict()}
    source = tmp_path / "with_region.ckpt"
    torch.save(data, source)
    assert load_model(source).validated_region == region
    out = read_checkpoint(blend_checkpoints([source, tiny_ckpt], [0.5, 0.5], tmp_path / "b.ckpt"))
    assert read_region(out) is None and read_bf16_cost(out) is None
    for entry in out["extra"]["blend"]:
        assert REGION_KEY not in entry["source_extra"] and BF16_COST_KEY not in entry["source_extra"]


def test_checkpoints_of_different_models_are_refused(tmp_path: Path) -> None:
    a = save_model(tmp_path / "a.ckpt", build_model("tiny", seed=0))
    b = save_model(tmp_path / "b.ckpt", build_model("tiny", kind="predictive", seed=0))
    with pytest.raises((CheckpointError, ValueError)):
        blend_checkpoints([a, b], [0.5, 0.5], tmp_path / "x.ckpt")
