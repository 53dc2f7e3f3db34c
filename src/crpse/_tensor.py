"""Small tensor helpers shared by the SDEs, samplers and losses."""

from __future__ import annotations

import torch


def append_dims(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """View ``t`` (``[B]`` or 0-d) with trailing singleton dims so that it broadcasts against an ``ndim`` tensor."""
    if t.dim() == 0:
        return t
    return t.reshape(t.shape[0], *([1] * (ndim - 1)))


def randn_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise shaped like ``x``; complex normal (variance 1/2 per part) for complex ``x``.

    Same distribution as ``torch.randn_like(x)``, but drawn from ``generator`` when one is given.
    """
    return torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)


def batch_times(t: torch.Tensor | float, batch: int, like: torch.Tensor) -> torch.Tensor:
    """A ``[batch]`` real tensor of diffusion times on ``like``'s device (``like`` may be complex)."""
    dtype = like.real.dtype if like.is_complex() else like.dtype
    t = torch.as_tensor(t, dtype=dtype, device=like.device)
    if t.dim() == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must be a scalar or have shape [{batch}], got {tuple(t.shape)}")
    return t
