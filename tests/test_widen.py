"""Function-preserving widening: the wider network computes the same outputs, and its new channels can learn."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from crpse.checkpoint import load_model, read_checkpoint, save_model
from crpse.score_model import Model, build_model
from crpse.validated_region import REGION_KEY, GridPoint, ValidatedRegion
from crpse.widen import widen_checkpoint, widen_model
from tests.conftest import complex_randn

WIDE = (1, 2, 2, 4, 4, 4, 4)


def trained_like(kind: str = "score", seed: int = 0) -> Model:
    """``tiny`` with every weight perturbed: a fresh network's near-zero output convolutions would hide mistakes."""
    model = build_model("tiny", kind=kind, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if "all_modules.0." not in name:  # the fixed Fourier features stay
                tensor.add_(torch.randn(tensor.shape, generator=generator) * 0.1)
    return model.eval()


def outputs(model: Model) -> torch.Tensor:
    x = complex_randn(2, 2, 256, 64, seed=3)
    with torch.no_grad():
        return model.dnn(x, torch.tensor([0.3, 0.8]))


def test_the_wider_network_computes_the_same_outputs() -> None:
    model = trained_like()
    wide = widen_model(model, WIDE, seed=5)
    assert wide.config.backbone.ch_mult == WIDE
    assert wide.config.backbone.nf == model.config.backbone.nf
    assert wide.num_parameters() == 2_358_566 and model.num_parameters() == 840_646
    before, after = outputs(model), outputs(wide)
    assert before.abs().max() > 1.0  # the perturbed network's output is far from 0
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5 * before.abs().max().item())
    # a score model's score (x_t, y, t), not only the bare network
    x, y = complex_randn(1, 1, 256, 64, seed=4), complex_randn(1, 1, 256, 64, seed=5)
    with torch.no_grad():
        torch.testing.assert_close(wide(x, y, torch.tensor([0.4])), model(x, y, torch.tensor([0.4])), rtol=1e-5,
                                   atol=1e-4)


def test_new_channels_start_silent_but_learn() -> None:
    model = trained_like()
    wide = widen_model(model, WIDE, seed=5)
    # level 3's first block (32 -> 64 channels) and the down-sampling block after it: the old 32 channels read none
    # of the 32 new ones, which have freshly initialised inputs of their own
    block, following = wide.dnn.all_modules[13], wide.dnn.all_modules[14]
    assert tuple(block.Conv_0.weight.shape) == (64, 32, 3, 3)
    assert block.Conv_0.weight[32:].abs().mean() > 0.01
    assert tuple(following.Conv_0.weight.shape) == (64, 64, 3, 3)
    assert torch.count_nonzero(following.Conv_0.weight[:32, 32:]) == 0
    # a gradient reaches the zero weights from new to old channels
    wide.train()
    x = complex_randn(1, 2, 256, 64, seed=6)
    wide.dnn(x, torch.tensor([0.5])).abs().square().mean().backward()
    assert following.Conv_0.weight.grad[:32, 32:].abs().sum() > 0


def test_a_predictive_model_widens_too() -> None:
    model = trained_like("predictive", seed=2)
    wide = widen_model(model, (1, 2, 2, 2, 4, 4, 4))
    assert wide.config.kind == "predictive"
    before = outputs(model)
    torch.testing.assert_close(outputs(wide), before, rtol=1e-5, atol=1e-5 * before.abs().max().item())


def test_unsupported_widenings_are_refused() -> None:
    model = trained_like()
    with pytest.raises(ValueError, match="group norms' statistics"):
        widen_model(model, (1, 2, 2, 4, 4, 8, 8))  # decoder inputs of 256 channels: groups of 8, not 4
    with pytest.raises(ValueError, match="7 levels"):
        widen_model(model, (1, 2, 2))
    with pytest.raises(ValueError, match="narrow"):
        widen_model(model, (1, 1, 2, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="shortcut"):
        widen_model(model, (2, 2, 2, 2, 2, 2, 2))  # level 1's 16 -> 32 shortcut would become 32 -> 32
    wide = widen_model(model, (1, 2, 2, 4, 4, 8, 8), allow_inexact=True)
    before, after = outputs(model), outputs(wide)
    assert not torch.allclose(after, before, rtol=1e-5, atol=1e-5 * before.abs().max().item())
    assert torch.isfinite(after).all()


def test_widened_checkpoint_loads_and_says_where_it_came_from(tmp_path: Path) -> None:
    model = trained_like()
    point = GridPoint(sampler="reverse", steps=1, t_start=0.3, schedule="uniform", score=2.0, inside=True)
    region = ValidatedRegion(split="valid", metric="pesq", tolerance=0.05, files=4, best=point, points=(point,))
    source = save_model(tmp_path / "src.ckpt", build_model("tiny", seed=9), ema_state_dict=model.state_dict(),
                        extra={"global_step": 11, REGION_KEY: region.to_dict()})
    assert load_model(source).validated_region == region
    out = widen_checkpoint(source, tmp_path / "wide.ckpt", WIDE, seed=3)
    data = read_checkpoint(out)
    origin = data["extra"]["widened_from"]
    assert origin["ch_mult"] == [1, 2, 2, 2, 2, 2, 2] and origin["exact"] and origin["seed"] == 3
    assert origin["source_extra"] == {"global_step": 11}  # the validated region belonged to the old weights
    assert data["ema_state_dict"] is None and tuple(data["config"]["backbone"]["ch_mult"]) == WIDE
    wide = load_model(out)
    assert wide.validated_region is None
    before = outputs(model)  # the source's EMA weights, not its raw ones
    torch.testing.assert_close(outputs(wide), before, rtol=1e-5, atol=1e-5 * before.abs().max().item())
