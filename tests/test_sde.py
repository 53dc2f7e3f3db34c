"""SDE marginals against Monte-Carlo simulation of the forward SDE, ranges, batching, dtypes."""

from __future__ import annotations

import math

import pytest
import torch

from crpse.sde import BBED, OUVE, bbve_as_bbed, sde_from_dict


def simulate_forward(sde: BBED | OUVE, x0: complex, y: complex, t_end: float, paths: int, steps: int) -> torch.Tensor:
    """Euler-Maruyama simulation of dx = f dt + g dw (complex w, E|dw|^2 = dt) from x0 at t = 0."""
    gen = torch.Generator().manual_seed(0)
    x = torch.full((paths,), x0, dtype=torch.complex128)
    yv = torch.full((paths,), y, dtype=torch.complex128)
    dt = t_end / steps
    for i in range(steps):
        t = torch.full((paths,), i * dt, dtype=torch.float64)
        z = torch.randn(paths, dtype=torch.complex128, generator=gen)
        x = x + sde.drift(x, t, yv) * dt + sde.diffusion(t) * math.sqrt(dt) * z
    return x


@pytest.mark.parametrize(
    "sde,t_end",
    [(BBED(), 0.5), (BBED(), 0.9), (BBED(k=4.0, c=0.3), 0.25), (OUVE(), 0.5), (OUVE(), 1.0)],
)
def test_marginals_match_monte_carlo(sde: BBED | OUVE, t_end: float) -> None:
    x0, y = 0.3 - 0.2j, -0.5 + 0.4j
    samples = simulate_forward(sde, x0, y, t_end, paths=20000, steps=1000)
    t = torch.tensor([t_end], dtype=torch.float64)
    mean = sde.mean(torch.tensor([x0]), t, torch.tensor([y]))[0]
    std = float(sde.std(t)[0])
    assert abs(complex(samples.mean()) - complex(mean)) < 4 * std / math.sqrt(20000) + 2e-3
    empirical_std = float((samples - samples.mean()).abs().square().mean().sqrt())
    assert empirical_std == pytest.approx(std, rel=0.03)


def test_bbed_reference_values() -> None:
    # derived values of the BBED SDE with c = 0.52 (the reference's defaults)
    sde = BBED()
    t = torch.tensor([0.03, 0.1, 0.25, 0.4, 0.5, 0.7, 0.999, 1.0])
    expected = torch.tensor([0.1248, 0.2275, 0.3576, 0.4468, 0.4917, 0.5395, 0.0589, 0.0])
    torch.testing.assert_close(sde.std(t), expected, atol=1e-4, rtol=0)
    assert float(sde.diffusion(torch.tensor(0.5)) ** 2) == pytest.approx(0.52 * 2.6, rel=1e-6)


def test_bbed_std_matches_integral_form() -> None:
    # std(t)^2 = c (1 - t)^2 int_0^t k^(2s) / (1 - s)^2 ds
    sde = BBED()
    for t in (0.05, 0.3, 0.6, 0.95):
        s = torch.linspace(0, t, 200001, dtype=torch.float64)
        integral = torch.trapezoid(sde.k ** (2 * s) / (1 - s) ** 2, s)
        variance = sde.c * (1 - t) ** 2 * integral
        assert float(sde.std(torch.tensor([t], dtype=torch.float64))[0] ** 2) == pytest.approx(float(variance), rel=1e-6)


def test_ouve_reference_values() -> None:
    sde = OUVE()
    torch.testing.assert_close(
        sde.std(torch.tensor([0.03, 0.5, 1.0])), torch.tensor([0.0188, 0.1217, 0.3890]), atol=1e-4, rtol=0
    )


def test_drift_uses_per_example_times() -> None:
    sde = BBED()
    x = torch.randn(3, 1, 4, 5, dtype=torch.complex64)
    y = torch.randn(3, 1, 4, 5, dtype=torch.complex64)
    t = torch.tensor([0.1, 0.5, 0.9])
    drift = sde.drift(x, t, y)
    for b in range(3):
        torch.testing.assert_close(drift[b], (y[b] - x[b]) / (1 - t[b]))


def test_end_points_are_finite_and_out_of_range_raises() -> None:
    sde = BBED()
    assert torch.isfinite(sde.std(torch.tensor([0.0, 1.0]))).all()
    assert float(sde.std(torch.tensor([0.0]))) == 0.0
    y = torch.ones(1, 1, 2, 2, dtype=torch.complex64)
    torch.testing.assert_close(sde.prior(y, torch.tensor([1.0])), y)  # the bridge ends at y
    with pytest.raises(ValueError, match="must lie in"):
        sde.drift(y, torch.tensor([1.0]), y)
    with pytest.raises(ValueError, match="must lie in"):
        sde.std(torch.tensor([1.2]))
    with pytest.raises(ValueError, match="must lie in"):
        OUVE().mean(y, torch.tensor([-0.1]), y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes_follow_t(dtype: torch.dtype) -> None:
    for sde in (BBED(), OUVE()):
        t = torch.tensor([0.2, 0.6], dtype=dtype)
        assert sde.std(t).dtype == dtype
        assert sde.diffusion(t).dtype == dtype


def test_constructor_validation_and_roundtrip() -> None:
    with pytest.raises(ValueError):
        BBED(k=0.5)
    with pytest.raises(ValueError):
        OUVE(sigma_min=1.0, sigma_max=0.5)
    for sde in (BBED(k=3.0, c=0.4), OUVE(theta=2.0)):
        assert sde_from_dict(sde.to_dict()) == sde


def test_bbve_is_bbed_with_rescaled_constants() -> None:
    # g(t) = sqrt(theta) sigma_min (sigma_max / sigma_min)^t
    sde = bbve_as_bbed(sigma_min=0.5, sigma_max=1.3, theta=0.52)
    t = torch.tensor([0.0, 0.4, 0.9])
    torch.testing.assert_close(sde.diffusion(t), math.sqrt(0.52) * 0.5 * (1.3 / 0.5) ** t)
    assert bbve_as_bbed(1.0, 2.6, 0.52) == BBED(k=2.6, c=0.52)
