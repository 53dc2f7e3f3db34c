"""A few optimiser steps of each stage lower that stage's loss on a fixed batch (through EnhancementModule)."""

from __future__ import annotations

import warnings

import pytest
import torch

from crpse.nn.ncsnpp import named_config
from crpse.sampler_spec import SamplerSpec
from crpse.score_model import build_model
from crpse.training.module import EnhancementModule, derived_seed
from crpse.training.settings import TrainSettings

MICRO = named_config("tiny", nf=8, ch_mult=(1, 2, 2), attn_resolutions=())


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(1920) / 16000
    clean = torch.stack([0.3 * torch.sin(2 * torch.pi * f * t) for f in (180.0, 240.0)])
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=generator)
    scale = noisy.abs().amax(dim=1, keepdim=True)
    return clean / scale, noisy / scale  # 16 frames each


def _module(stage: str, lr: float) -> EnhancementModule:
    kind = "predictive" if stage == "predictive" else "score"
    model = build_model(MICRO, kind=kind, seed=0)
    if stage == "crp":
        model = model.with_config(inference=SamplerSpec(sampler="reverse", steps=2, t_start=0.5))
    settings = TrainSettings(stage=stage, lr=lr, crp_steps=(2, 2), crp_t_start=(0.5, 0.5),
                             crp_inference=SamplerSpec(steps=2))
    return EnhancementModule(model, settings)


def _fixed_batch_loss(module: EnhancementModule, batch) -> torch.Tensor:
    module.batches_seen = 0  # same t, noise (and CRP N, t_start) at every call: a fixed objective
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a Trainer
        return module.training_step(batch, 0)


@pytest.mark.parametrize(("stage", "lr"), [("dsm", 3e-3), ("crp", 3e-3), ("predictive", 3e-3)])
def test_a_few_steps_lower_the_loss(stage: str, lr: float) -> None:
    torch.manual_seed(0)
    module = _module(stage, lr)
    optimizer = module.configure_optimizers()
    batch = _batch()
    losses = []
    for _ in range(8):
        loss = _fixed_batch_loss(module, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        module.ema.update(module.model)
        losses.append(loss.item())
    final = _fixed_batch_loss(module, batch).item()
    assert all(torch.isfinite(torch.tensor(losses)))
    assert final < 0.8 * losses[0], f"{stage}: loss {losses[0]:.1f} -> {final:.1f} ({losses})"
    assert module.ema.num_updates == 8


def test_crp_schedule_is_seeded_per_batch_and_covers_the_range() -> None:
    model = build_model(MICRO, seed=0)
    settings = TrainSettings(stage="crp", lr=1e-5, crp_steps=(1, 3), crp_t_start=(0.4, 0.6), seed=11)
    module = EnhancementModule(model, settings)
    draws = [module.crp_schedule(i) for i in range(60)]
    assert draws == [EnhancementModule(build_model(MICRO, seed=1), settings).crp_schedule(i) for i in range(60)]
    assert {n for n, _ in draws} == {1, 2, 3}
    assert all(0.4 <= t <= 0.6 for _, t in draws) and len({t for _, t in draws}) == 60
    other = EnhancementModule(model, TrainSettings(stage="crp", lr=1e-5, crp_steps=(1, 3), crp_t_start=(0.4, 0.6)))
    assert [other.crp_schedule(i) for i in range(60)] != draws
    assert derived_seed(1, 2, 3) == derived_seed(1, 2, 3) != derived_seed(1, 2, 4)


def test_stage_and_model_kind_must_agree() -> None:
    with pytest.raises(ValueError, match="score model"):
        EnhancementModule(build_model(MICRO, kind="predictive"), TrainSettings(stage="crp", lr=1e-5))
    with pytest.raises(ValueError, match="predictive model"):
        EnhancementModule(build_model(MICRO), TrainSettings(stage="predictive", lr=1e-4))
