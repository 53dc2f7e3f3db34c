"""Task-adapted SDEs that drift from clean speech x0 towards the noisy mixture y.

Both SDEs have a Gaussian marginal ``p_t(x_t | x0, y) = N(mean(x0, t, y), std(t)**2 I)`` with a scalar ``std``
shared by the real and imaginary parts (complex noise with ``E|z|**2 = 1``).

* :class:`BBED` (Lay et al., Interspeech 2023; used by CRP): Brownian bridge with exponential diffusion,
  ``dx = (y - x) / (1 - t) dt + sqrt(c) k**t dw``.
* :class:`OUVE` (SGMSE+, Richter et al. 2023): Ornstein-Uhlenbeck with variance exploding diffusion,
  ``dx = theta (y - x) dt + sigma_min (sigma_max/sigma_min)**t sqrt(2 log(sigma_max/sigma_min)) dw``.

All methods take ``t`` as a ``[B]`` tensor (one time per batch element) or a 0-d tensor, and broadcast it against
``[B, ...]`` states. Unlike the reference, the BBED drift is correct for batches with different times.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from crpse._tensor import append_dims, randn_like
from crpse.sde_parameters import BBEDParameters, OUVEParameters

_EULER_GAMMA = 0.5772156649015329


def _exp1(z: torch.Tensor) -> torch.Tensor:
    """Exponential integral ``E1(z)`` for ``0 < z <= 8`` (power series in float64; ``E1(0) = inf``).

    ``E1(z) = -gamma - log z - sum_{n>=1} (-z)**n / (n * n!)``; with 80 terms the truncation error is far below
    float64 resolution on this range. ``Ei(-z) = -E1(z)``.
    """
    z = z.to(torch.float64)
    term = torch.ones_like(z)
    total = torch.zeros_like(z)
    for n in range(1, 81):
        term = term * (-z) / n
        total = total + term / n
    with torch.no_grad():
        safe = torch.where(z > 0, z, torch.ones_like(z))
    value = -_EULER_GAMMA - torch.log(safe) - total
    return torch.where(z > 0, value, torch.full_like(z, math.inf))


def _check_range(t: torch.Tensor, low: float, high: float, what: str, include_high: bool = True) -> None:
    if t.numel() == 0:
        return
    bad_high = (t > high) if include_high else (t >= high)
    if bool(((t < low) | bad_high).any()):
        bracket = "]" if include_high else ")"
        raise ValueError(
            f"{what}: diffusion time t must lie in [{low}, {high}{bracket}, got values in "
            f"[{float(t.min()):.6g}, {float(t.max()):.6g}]"
        )


class _ReversePrior:
    """The reference's start of the reverse process, shared by both SDEs."""

    def prior(
        self, y: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Start of the reverse process at time ``t``: ``y + std(t) z`` (mean y, not the marginal mean at t: the
        prior mismatch that CRP learns to correct). ``z`` is ``noise`` or drawn from ``generator``."""
        z = randn_like(y, generator) if noise is None else noise
        return y + z * append_dims(self.std(t), y.dim())  # type: ignore[attr-defined]


@dataclass(frozen=True)
class BBED(BBEDParameters, _ReversePrior):
    """Brownian bridge with exponential diffusion coefficient (BBED); parameters and defaults:
    :class:`~crpse.sde_parameters.BBEDParameters`."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}

    def drift(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``f(x, t, y) = (y - x) / (1 - t)``; ``x, y [B, ...]``, ``t [B]`` in ``[0, 1)``."""
        _check_range(t, 0.0, self.T_c, "BBED.drift", include_high=False)
        return (y - x) / append_dims(self.T_c - t, x.dim())

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """``g(t) = sqrt(c) * k**t``, shaped like ``t``."""
        _check_range(t, 0.0, self.T_c, "BBED.diffusion")
        return self.k**t * math.sqrt(self.c)

    def mean(self, x0: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Marginal mean ``(1 - t) x0 + t y``; ``x0, y [B, ...]``, ``t [B]``."""
        _check_range(t, 0.0, self.T_c, "BBED.mean")
        t = append_dims(t, x0.dim())
        return x0 * (1 - t) + y * t

    def std(self, t: torch.Tensor) -> torch.Tensor:
        """Marginal standard deviation, shaped and typed like ``t`` (computed in float64; ``std(1) = 0``).

        ``std(t)**2 = c (1-t) [(k**(2t) - 1 + t) + 2 k**2 log(k) (1-t) (Ei(2(t-1) log k) - Ei(-2 log k))]``
        ``= c (1-t)**2 int_0^t k**(2s) / (1-s)**2 ds``.
        """
        _check_range(t, 0.0, self.T_c, "BBED.std")
        t64 = t.to(torch.float64)
        log_k = math.log(self.k)
        one_minus_t = 1.0 - t64
        ei_difference = _exp1(torch.full_like(t64, 2 * log_k)) - _exp1(2 * one_minus_t * log_k)
        inner = (self.k ** (2 * t64) - 1 + t64) + 2 * self.k**2 * log_k * torch.where(
            one_minus_t > 0, one_minus_t * ei_difference, torch.zeros_like(t64)
        )
        variance = self.c * one_minus_t * inner
        return variance.clamp_min(0).sqrt().to(t.dtype)


@dataclass(frozen=True)
class OUVE(OUVEParameters, _ReversePrior):
    """Ornstein-Uhlenbeck SDE with variance exploding diffusion (SGMSE+); parameters and defaults:
    :class:`~crpse.sde_parameters.OUVEParameters`."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def drift(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``f(x, t, y) = theta (y - x)``."""
        _check_range(t, 0.0, 1.0, "OUVE.drift")
        return self.theta * (y - x)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """``g(t) = sigma_min (sigma_max/sigma_min)**t sqrt(2 log(sigma_max/sigma_min))``."""
        _check_range(t, 0.0, 1.0, "OUVE.diffusion")
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t * math.sqrt(2 * self._log_ratio)

    def mean(self, x0: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Marginal mean ``exp(-theta t) x0 + (1 - exp(-theta t)) y``."""
        _check_range(t, 0.0, 1.0, "OUVE.mean")
        decay = append_dims(torch.exp(-self.theta * t), x0.dim())
        return decay * x0 + (1 - decay) * y

    def std(self, t: torch.Tensor) -> torch.Tensor:
        """Marginal standard deviation, shaped like ``t``."""
        _check_range(t, 0.0, 1.0, "OUVE.std")
        log_ratio, theta = self._log_ratio, self.theta
        return torch.sqrt(
            (self.sigma_min**2 * torch.exp(-2 * theta * t) * (torch.exp(2 * (theta + log_ratio) * t) - 1) * log_ratio)
            / (theta + log_ratio)
        )


SDE = BBED | OUVE

_SDES: dict[str, type[BBED] | type[OUVE]] = {"bbed": BBED, "ouve": OUVE}


def sde_from_dict(config: dict[str, Any]) -> SDE:
    """Rebuild an SDE from :meth:`to_dict` output (``{"name": "bbed", "k": ..., ...}``)."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in _SDES:
        raise ValueError(f"unknown SDE {name!r}; choose one of {sorted(_SDES)}")
    return _SDES[name](**config)


def bbve_as_bbed(sigma_min: float, sigma_max: float, theta: float, t_max: float = 0.999, t_eps: float = 0.03) -> BBED:
    """The reference's older ``bbve`` parameterisation, ``g(t) = sqrt(theta) sigma_min (sigma_max/sigma_min)**t``.

    It is exactly BBED with ``k = sigma_max / sigma_min`` and ``c = theta * sigma_min**2`` (for ``sigma_min = 1``
    this is sgmse-bbed's mapping ``k = sigma_max``).
    """
    return BBED(k=sigma_max / sigma_min, c=theta * sigma_min**2, t_max=t_max, t_eps=t_eps)
