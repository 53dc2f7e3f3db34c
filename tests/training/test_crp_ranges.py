"""CRP over ranges (issues 16, 18): how N is weighted, the time schedule in training, and what the checkpoint records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from crpse.checkpoint import load_model, read_checkpoint
from crpse.cli import main
from crpse.losses import crp_loss
from crpse.nn.ncsnpp import named_config
from crpse.schedules import schedule_times
from crpse.score_model import build_model
from crpse.training.module import EnhancementModule, crp_steps_weights
from crpse.training.settings import TrainSettings

MICRO = named_config("tiny", nf=4, ch_mult=(1, 1, 1), attn_resolutions=())


def test_step_weights() -> None:
    np.testing.assert_allclose(crp_steps_weights(1, 5, "uniform"), [0.2] * 5)
    cost = crp_steps_weights(1, 5, "cost")
    inverse = 1 / np.array([3.0, 4.0, 5.0, 6.0, 7.0])
    np.testing.assert_allclose(cost, inverse / inverse.sum())
    # equal compute per N: P(N) * (N + 2) is the same for every N
    np.testing.assert_allclose(cost * np.arange(3, 8), np.full(5, cost[0] * 3))


def test_cost_weighting_draws_short_runs_more_often() -> None:
    model = build_model(MICRO, seed=0)
    settings = TrainSettings(stage="crp", lr=1e-5, crp_steps=(1, 5), crp_steps_weighting="cost", seed=3)
    draws = [EnhancementModule(model, settings).crp_schedule(i)[0] for i in range(3000)]
    counts = np.bincount(draws, minlength=6)[1:] / len(draws)
    np.testing.assert_allclose(counts, crp_steps_weights(1, 5, "cost"), atol=0.03)
    with pytest.raises(ValueError, match="crp_steps_weighting"):
        TrainSettings(stage="crp", lr=1e-5, crp_steps_weighting="square")  # type: ignore[arg-type]


def test_uniform_weighting_keeps_the_reference_draws() -> None:
    model = build_model(MICRO, seed=0)
    settings = TrainSettings(stage="crp", lr=1e-5, crp_steps=(1, 5), seed=5)
    draws = [EnhancementModule(model, settings).crp_schedule(i)[0] for i in range(20)]
    expected = [int(np.random.default_rng([5, 2, i]).integers(1, 6)) for i in range(20)]
    assert draws == expected


def test_the_crp_loss_runs_the_schedules_grid() -> None:
    """The training grid follows the schedule: N = 4 differs between schedules, N = 2 cannot (t_start, t_eps)."""
    model = build_model(MICRO, seed=0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 256, 8, dtype=torch.complex64, generator=g)
    y = x + 0.3 * torch.randn(1, 1, 256, 8, dtype=torch.complex64, generator=g)
    noise = [torch.randn(1, 1, 256, 8, dtype=torch.complex64, generator=g) for _ in range(4)]
    with torch.no_grad():
        four = {s: float(crp_loss(model, x, y, 4, 0.5, noise=noise, schedule=s)) for s in ("uniform", "power")}
        two = {s: float(crp_loss(model, x, y, 2, 0.5, noise=noise[:2], schedule=s)) for s in ("uniform", "power")}
    assert four["uniform"] != four["power"]
    assert two["uniform"] == two["power"]
    grid = schedule_times("power", 0.5, model.sde.t_eps, 4)
    assert float(grid[1]) < 0.5 - (0.5 - model.sde.t_eps) / 3  # earlier than the uniform grid's second time


def test_schedule_and_weighting_are_recorded(corpus: Path, tmp_path: Path, fast_args) -> None:
    from crpse.checkpoint import save_model

    init = save_model(tmp_path / "init.ckpt", build_model(named_config("tiny", nf=8, ch_mult=(1, 2, 2),
                                                                        attn_resolutions=()), seed=0))
    argv = fast_args("crp", corpus, tmp_path / "run", "--init", str(init),
                     "--steps", "1..3", "--t-start", "0.3..0.7", "--steps-weighting", "cost", "--schedule", "power",
                     "--grad-step", "random", "--max-steps", "2", "--val-every", "0")
    assert main(argv) == 0
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    inference = load_model(checkpoint).config.inference
    assert (inference.sampler, inference.steps, inference.t_start, inference.schedule) == ("reverse", 3, 0.7, "power")
    settings = read_checkpoint(checkpoint)["extra"]["settings"]
    assert settings["crp_steps"] == [1, 3] and settings["crp_t_start"] == [0.3, 0.7]
    assert settings["crp_steps_weighting"] == "cost" and settings["grad_step"] == "random"
    assert settings["crp_inference"]["schedule"] == "power"
