"""Samplers: exact call counts, noise handling, determinism, convergence with an analytic score."""

from __future__ import annotations

import pytest
import torch

from crpse.sampling import sample, time_grid
from crpse.score_model import build_model
from crpse.sde import BBED, OUVE
from tests.conftest import OracleScore, complex_randn, run_spec


def _problem(seed: int = 0, shape: tuple[int, ...] = (2, 1, 8, 16), dtype: torch.dtype = torch.complex128):
    x0 = complex_randn(*shape, seed=seed, dtype=dtype) * 0.3
    y = x0 + complex_randn(*shape, seed=seed + 1, dtype=dtype) * 0.2
    return x0, y


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_reverse_sample_makes_steps_calls(steps: int) -> None:
    x0, y = _problem()
    oracle = OracleScore(BBED(), x0)
    _, nfe = run_spec(oracle, y, steps=steps, t_start=0.5, generator=torch.Generator().manual_seed(0))
    assert nfe == oracle.calls == steps


def test_pc_sample_baseline_is_60_calls() -> None:
    x0, y = _problem()
    oracle = OracleScore(BBED(), x0)
    _, nfe = run_spec(
        oracle, y, sampler="pc", steps=30, t_start=None, corrector_steps=1, snr=0.5,
        generator=torch.Generator().manual_seed(0),
    )
    assert nfe == oracle.calls == 60


@pytest.mark.parametrize("method,calls", [("euler", 10), ("heun", 19)])
def test_ode_sample_calls(method: str, calls: int) -> None:
    x0, y = _problem()
    oracle = OracleScore(BBED(), x0)
    _, nfe = run_spec(
        oracle, y, sampler="ode", steps=10, t_start=None, ode_method=method, generator=torch.Generator().manual_seed(0)
    )
    assert nfe == oracle.calls == calls


# A point-mass data distribution makes the exact score stiff near t = 0, so the grid must end close to 0 for a
# 200-step run to land on x0 (with t_eps = 0.03 the marginal still has std 0.125 there).
@pytest.mark.parametrize("sde", [BBED(t_eps=1e-3), OUVE(t_eps=1e-3)])
def test_samplers_recover_x0_with_exact_score(sde: BBED | OUVE) -> None:
    x0, y = _problem()
    gen = torch.Generator().manual_seed(3)
    for run in (
        lambda m: run_spec(m, y, sampler="ode", steps=200, t_start=None, ode_method="heun", generator=gen)[0],
        lambda m: run_spec(m, y, sampler="pc", steps=200, t_start=None, corrector_steps=1, generator=gen)[0],
        lambda m: run_spec(m, y, steps=200, t_start=None, generator=gen)[0],
    ):
        estimate = run(OracleScore(sde, x0))
        relative_error = float((estimate - x0).abs().norm() / x0.abs().norm())
        assert relative_error < 0.02


def test_explicit_noise_equals_generator_draws() -> None:
    x0, y = _problem(dtype=torch.complex64)
    oracle = OracleScore(BBED(), x0)
    gen = torch.Generator().manual_seed(7)
    from_generator, _ = run_spec(oracle, y, steps=3, t_start=0.5, generator=gen)
    gen = torch.Generator().manual_seed(7)
    noise = [torch.randn(y.shape, dtype=y.dtype, generator=gen) for _ in range(3)]
    explicit, _ = run_spec(oracle, y, steps=3, t_start=0.5, noise=noise)
    torch.testing.assert_close(explicit, from_generator, rtol=0, atol=0)
    with pytest.raises(ValueError, match="draws 3 noise tensors"):
        run_spec(oracle, y, steps=3, t_start=0.5, noise=noise[:2])


def test_single_step_closed_form() -> None:
    # N = 1 from t = 0.5 (BBED): x_hat = y + 2 std z + g^2 / 2 * s(y + std z, y, 0.5)   (the reference's one-step CRP)
    x0, y = _problem()
    oracle = OracleScore(BBED(), x0)
    z = complex_randn(*y.shape, seed=9, dtype=y.dtype)
    estimate, _ = run_spec(oracle, y, steps=1, t_start=0.5, noise=[z])
    sde, t = BBED(), torch.full((2,), 0.5, dtype=torch.float64)
    std, g2 = sde.std(t)[0], sde.diffusion(t)[0] ** 2
    expected = y + 2 * std * z + 0.5 * g2 * oracle(y + std * z, y, t)
    torch.testing.assert_close(estimate, expected)


def test_time_grid_matches_reference() -> None:
    times, sizes = time_grid(0.5, 0.03, 3, torch.zeros(1))
    torch.testing.assert_close(times, torch.tensor([0.5, 0.265, 0.03]))
    torch.testing.assert_close(sizes, torch.tensor([0.235, 0.235, 0.03]))
    times, sizes = time_grid(0.5, 0.03, 1, torch.zeros(1))
    assert times.tolist() == [0.5] and sizes.tolist() == [0.5]


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_real_network_sampling_is_deterministic(dtype: torch.dtype) -> None:
    model = build_model("tiny", seed=0).eval()
    if dtype == torch.complex128:
        model = model.double()
    y = complex_randn(1, 1, 256, 64, seed=2, dtype=dtype) * 0.2
    with torch.no_grad():
        a, nfe = sample(model, y, generator=torch.Generator().manual_seed(5))
        b, _ = sample(model, y, generator=torch.Generator().manual_seed(5))
    assert nfe == 1 and a.dtype == dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_sample_dispatch() -> None:
    model = build_model("tiny", seed=0).eval()
    y = complex_randn(1, 1, 256, 64, seed=2) * 0.2
    with torch.no_grad():
        _, nfe = sample(model, y, sampler="pc", steps=2, corrector_steps=1)
        assert nfe == 4
        _, nfe = sample(model, y, sampler="ode", steps=3, method="heun")
        assert nfe == 5
        predictive = build_model("tiny", kind="predictive", seed=0).eval()
        estimate, nfe = sample(predictive, y)
        assert nfe == 1 and estimate.shape == y.shape
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(model, y, sampler="ddim")
    with pytest.raises(ValueError, match="t_start"):
        sample(model, y, t_start=1.5)


def test_the_spec_schedule_reaches_the_grid() -> None:
    x0, y = _problem()
    oracle = OracleScore(BBED(), x0)
    seen: list[float] = []
    run_spec(oracle, y, steps=4, t_start=0.5, schedule="power", generator=torch.Generator().manual_seed(0),
             callback=lambda info: seen.append(float(info["t"])))
    expected, _ = time_grid(0.5, BBED().t_eps, 4, y, "power")
    assert seen == expected.tolist() and seen != time_grid(0.5, BBED().t_eps, 4, y)[0].tolist()
