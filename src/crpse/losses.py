"""Training objectives: stage 1 (DSM), stage 2 (CRP) and the predictive baseline.

All take clean and noisy compressed spectrograms ``x, y [B, 1, F, T]`` and return a scalar: the batch mean of
``1/2 * sum |error|**2`` over channel, frequency and time (the reference's ``mse`` / ``default`` losses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from crpse._tensor import append_dims, batch_times, randn_like
from crpse.sampler_spec import UNIFORM, Schedule, check_t_start
from crpse.sampling import NoiseSource, reverse_step, time_grid
from crpse.score_model import PredictiveModel, ScoreModel


def half_squared_error(error: torch.Tensor) -> torch.Tensor:
    """``mean_b 1/2 sum_{c,f,t} |error|**2`` for a complex or real ``[B, ...]`` tensor."""
    return 0.5 * error.abs().square().reshape(error.shape[0], -1).sum(dim=-1).mean()


def dsm_loss(
    model: ScoreModel,
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Denoising score matching (stage 1): ``1/2 |std(t) s(x_t, y, t) + z|**2`` with ``x_t = mean + std(t) z``.

    Args:
        model: the score model.
        x, y: complex ``[B, 1, F, T]`` clean and noisy spectrograms.
        t: ``[B]`` times; default ``U(t_eps, t_max)`` per example.
        noise: ``z``, complex like ``x``; default drawn from ``generator``.
    """
    sde = model.sde
    if t is None:
        u = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.real.dtype)
        t = u * (sde.t_max - sde.t_eps) + sde.t_eps
    z = randn_like(x, generator) if noise is None else noise
    std = append_dims(sde.std(t), x.dim())
    x_t = sde.mean(x, t, y) + std * z
    return half_squared_error(model(x_t, y, t) * std + z)


def crp_loss(
    model: ScoreModel,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    t_start: float,
    noise: Sequence[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    grad_step: Literal["last", "random"] | int = "last",
    schedule: Schedule = UNIFORM,
) -> torch.Tensor:
    """Correcting the reverse process (stage 2): run the ``steps``-step reverse sampler from ``t_start`` and regress
    the mean of one step onto the marginal mean at that step's end time (for the last step: the clean ``x``).

    Steps before the chosen one run without gradient; the chosen step's input is detached, so only its network
    call carries gradient (as in the reference). Steps after it are not run. Uses :func:`crpse.sampling.reverse_step`.

    Args:
        model: the score model (being fine-tuned).
        x, y: complex ``[B, 1, F, T]`` clean and noisy spectrograms.
        steps: number of reverse steps N.
        t_start: reverse starting point t_rsp.
        noise: ``[z_prior, z_1, ...]``: the prior draw and one draw per noisy step before the chosen one.
        generator: random generator (noise, and the step index for ``grad_step="random"``).
        grad_step: ``last`` (the paper), ``random`` (uniform over the N steps) or an explicit index.
        schedule: time schedule of the grid (as the sampler's, :func:`crpse.sampling.time_grid`).
    """
    if grad_step == "last":
        stop = steps - 1
    elif grad_step == "random":
        stop = int(torch.randint(steps, (1,), generator=generator, device=generator.device if generator else "cpu"))
    elif isinstance(grad_step, int) and 0 <= grad_step < steps:
        stop = grad_step
    else:
        raise ValueError(f"grad_step must be 'last', 'random' or an index in [0, {steps}), got {grad_step!r}")
    check_t_start(t_start, model.sde.t_eps, model.sde.t_max)
    times, sizes = time_grid(t_start, model.sde.t_eps, steps, y, schedule)
    draw = NoiseSource(y, 1 + stop, noise, generator)
    batch = y.shape[0]
    with torch.no_grad():
        x_t = model.sde.prior(y, batch_times(t_start, batch, y), noise=draw())
        for i in range(stop):
            x_t, _ = reverse_step(
                model, x_t, y, batch_times(times[i], batch, y), batch_times(sizes[i], batch, y), noise=draw()
            )
    t, dt = batch_times(times[stop], batch, y), batch_times(sizes[stop], batch, y)
    _, mean = reverse_step(model, x_t.detach(), y, t, dt)
    target = model.sde.mean(x, t - dt, y)
    return half_squared_error(mean - target)


def predictive_loss(model: PredictiveModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Predictive baseline: ``1/2 |model(y) - x|**2`` (same network, no diffusion)."""
    return half_squared_error(model(y) - x)
