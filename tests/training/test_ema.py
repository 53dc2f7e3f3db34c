"""The EMA: torch-ema 0.3 arithmetic (warm-up, all parameters), continued counts, state round trip."""

from __future__ import annotations

import pytest
import torch

from crpse.score_model import build_model
from crpse.training.ema import ExponentialMovingAverage


def _micro_model(seed: int = 0):
    from crpse.nn.ncsnpp import named_config

    return build_model(named_config("tiny", nf=8, ch_mult=(1, 2), attn_resolutions=()), seed=seed)


def _perturb(model: torch.nn.Module, step: int) -> None:
    generator = torch.Generator().manual_seed(step)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=generator) * 0.1)


def test_warmup_decay_formula() -> None:
    ema = ExponentialMovingAverage(_micro_model(), decay=0.999)
    assert ema.current_decay() == pytest.approx(2 / 11)
    ema.num_updates = 100_000
    assert ema.current_decay() == pytest.approx(0.999)
    assert ExponentialMovingAverage(_micro_model(), 0.9, warmup=False).current_decay() == 0.9


def test_matches_torch_ema_including_a_continued_count() -> None:
    torch_ema = pytest.importorskip("torch_ema")
    model = _micro_model()
    ours = ExponentialMovingAverage(model, decay=0.99)
    theirs = torch_ema.ExponentialMovingAverage(model.parameters(), decay=0.99)
    for step in range(12):
        _perturb(model, step)
        ours.update(model)
        theirs.update(model.parameters())
    for mine, reference in zip(ours.averaged.parameters(), theirs.shadow_params, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-6)
    # a continued EMA (count 12) keeps following torch-ema without restarting its warm-up
    continued = ExponentialMovingAverage(model, decay=0.99)
    continued.load_weights(ours.averaged.state_dict(), num_updates=ours.num_updates)
    for step in range(12, 15):
        _perturb(model, step)
        continued.update(model)
        theirs.update(model.parameters())
    assert continued.num_updates == 15 == theirs.num_updates
    for mine, reference in zip(continued.averaged.parameters(), theirs.shadow_params, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-6)


def test_tracks_frozen_parameters_and_never_touches_the_model() -> None:
    model = _micro_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ema = ExponentialMovingAverage(model, decay=0.5, warmup=False)
    assert all(not p.requires_grad for p in ema.averaged.parameters())
    assert not ema.averaged.training
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)  # also the frozen Fourier features
    ema.update(model)
    for name, value in ema.averaged.state_dict().items():
        torch.testing.assert_close(value, 0.5 * before[name] + 0.5)
    assert all(torch.equal(v, torch.ones_like(v)) for v in model.state_dict().values())


def test_state_dict_round_trip() -> None:
    model = _micro_model()
    ema = ExponentialMovingAverage(model, decay=0.999)
    _perturb(model, 1)
    ema.update(model)
    ema.update(model)
    state = ema.state_dict()
    restored = ExponentialMovingAverage(_micro_model(seed=5), decay=0.5)
    restored.load_state_dict(state)
    assert restored.num_updates == 2 and restored.decay == 0.999
    for a, b in zip(restored.averaged.state_dict().values(), ema.averaged.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_without_warmup_the_start_weights_keep_their_share() -> None:
    """decay**n of the starting weights survive n updates (with the warm-up, almost nothing after a few hundred)."""
    model = _micro_model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    anchored = ExponentialMovingAverage(model, 0.999, warmup=False)
    warm = ExponentialMovingAverage(model, 0.999)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # the trained weights move by +1 and stay there
    for _ in range(300):
        anchored.update(model)
        warm.update(model)
    name = next(n for n, p in model.named_parameters() if p.requires_grad)
    moved = lambda ema: float((ema.averaged.state_dict()[name] - start[name]).mean())  # noqa: E731
    assert moved(anchored) == pytest.approx(1 - 0.999**300, rel=1e-4)  # 0.26: the start keeps 74 %
    assert moved(warm) > 0.99
