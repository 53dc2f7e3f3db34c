"""Losses: DSM optimum, CRP trains exactly what the sampler does, gradient only through the chosen step."""

from __future__ import annotations

import pytest
import torch

from crpse.losses import crp_loss, dsm_loss, half_squared_error, predictive_loss
from crpse.score_model import build_model
from crpse.sde import BBED, OUVE
from tests.conftest import OracleScore, complex_randn, run_spec


@pytest.mark.parametrize("sde", [BBED(), OUVE()])
def test_dsm_loss_vanishes_for_the_exact_score(sde: BBED | OUVE) -> None:
    x = complex_randn(4, 1, 8, 8, seed=0, dtype=torch.complex128)
    y = x + complex_randn(4, 1, 8, 8, seed=1, dtype=torch.complex128)
    loss = dsm_loss(OracleScore(sde, x), x, y, generator=torch.Generator().manual_seed(0))
    assert float(loss) < 1e-20


def test_dsm_loss_of_a_zero_score_is_half_the_noise_energy() -> None:
    x = complex_randn(3, 1, 8, 8, seed=0)
    z = complex_randn(3, 1, 8, 8, seed=5)

    class Zero:
        sde = BBED()

        def __call__(self, x_t, y, t):
            return torch.zeros_like(x_t)

    loss = dsm_loss(Zero(), x, x, t=torch.full((3,), 0.5), noise=z)
    torch.testing.assert_close(loss, 0.5 * z.abs().square().sum() / 3)


def test_crp_loss_regresses_the_sampler_output() -> None:
    model = build_model("tiny", seed=0)
    x = complex_randn(2, 1, 256, 64, seed=0) * 0.3
    y = x + complex_randn(2, 1, 256, 64, seed=1) * 0.2
    noise = [complex_randn(2, 1, 256, 64, seed=10 + i) for i in range(3)]
    with torch.no_grad():
        estimate, _ = run_spec(model, y, steps=3, t_start=0.5, noise=noise)
        loss = crp_loss(model, x, y, steps=3, t_start=0.5, noise=noise)
    torch.testing.assert_close(loss, half_squared_error(estimate - x))


class GradRecorder(torch.nn.Module):
    """Wraps a score model and records, per call, whether autograd was recording."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.grad_flags = model, []

    @property
    def sde(self):
        return self.model.sde

    def forward(self, x_t, y, t):
        self.grad_flags.append(torch.is_grad_enabled() and x_t.requires_grad is False)
        return self.model(x_t, y, t)


@pytest.mark.parametrize("grad_step,calls", [("last", 4), (1, 2), (0, 1)])
def test_gradient_flows_only_through_the_chosen_step(grad_step: str | int, calls: int) -> None:
    recorder = GradRecorder(build_model("tiny", seed=0))
    x = complex_randn(1, 1, 256, 64, seed=0) * 0.3
    y = x + complex_randn(1, 1, 256, 64, seed=1) * 0.2
    loss = crp_loss(recorder, x, y, steps=4, t_start=0.5, generator=torch.Generator().manual_seed(0),
                    grad_step=grad_step)
    assert recorder.grad_flags == [False] * (calls - 1) + [True]
    loss.backward()
    assert all(p.grad is not None for p in recorder.model.parameters() if p.requires_grad)


def test_random_grad_step_is_seeded() -> None:
    model = build_model("tiny", seed=0)
    x = complex_randn(1, 1, 256, 64, seed=0) * 0.3
    losses = [
        float(crp_loss(model, x, x, steps=3, t_start=0.5, generator=torch.Generator().manual_seed(4), grad_step="random").detach())
        for _ in range(2)
    ]
    assert losses[0] == losses[1]
    with pytest.raises(ValueError, match="grad_step"):
        crp_loss(model, x, x, steps=3, t_start=0.5, grad_step=3)


def test_predictive_loss() -> None:
    model = build_model("tiny", kind="predictive", seed=0)
    x = complex_randn(2, 1, 256, 64, seed=0) * 0.3
    y = x + complex_randn(2, 1, 256, 64, seed=1) * 0.2
    torch.testing.assert_close(predictive_loss(model, x, y), half_squared_error(model(y) - x))
