"""Samplers: plain functions of (model, y, time grid, noise source), each returning ``(estimate, nfe)``.

All work on compressed complex spectrograms ``[B, 1, F, T]`` with ``T`` a multiple of ``model.frame_multiple``.
As in k-diffusion, a sampler receives everything it needs and resolves nothing itself: the time grid ``times``
(``[steps]``, from ``t_start`` down to the SDE's ``t_eps``; :func:`time_grid`) and a noise source (a callable that
returns the next standard complex normal tensor shaped like ``y``; :class:`NoiseSource`). Step ``i`` goes from
``times[i]`` to ``times[i + 1]`` and the last step from ``t_eps`` all the way to 0, returning the noiseless mean
(the reference's ``denoise=True``).

Which sampler runs, with how many steps and from when, is a :class:`crpse.sampler_spec.SamplerSpec`, resolved once
(:func:`resolve_sampler`) and run by :func:`sample` (which resolves it itself for one-off calls). The CRP loss
(:mod:`crpse.losses`) calls :func:`reverse_step`, the step these samplers take, so what is trained is exactly what
is sampled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from crpse._tensor import append_dims, batch_times, randn_like
from crpse.sampler_spec import HEUN, ODE, PC, REVERSE, UNIFORM, SamplerRequest, SamplerSpec, Schedule, resolve_for_model
from crpse.schedules import schedule_times
from crpse.score_model import Model, PredictiveModel, ScoreModel, is_score_model

Callback = Callable[[dict[str, Any]], None]
#: a noise source: each call returns the next noise tensor (standard complex normal, shaped like ``y``)
Noise = Callable[[], torch.Tensor]


def step_sizes(times: torch.Tensor) -> torch.Tensor:
    """Step sizes of a grid ``[steps]``: ``times[i] - times[i + 1]``, and ``times[-1]`` for the last step (to 0)."""
    return torch.cat([times[:-1] - times[1:], times[-1:]])


def time_grid(
    t_start: float, t_end: float, steps: int, like: torch.Tensor, schedule: Schedule = UNIFORM
) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampler grid from ``t_start`` down to ``t_end`` on a time schedule (:mod:`crpse.schedules`; ``uniform``:
    the reference's ``linspace``) and its step sizes (the last one is ``t_end``).

    Returns:
        ``(times [steps], step_sizes [steps])`` in ``like``'s real dtype and device.
    """
    dtype = like.real.dtype if like.is_complex() else like.dtype
    times = schedule_times(schedule, t_start, t_end, steps, dtype=dtype, device=like.device)
    return times, step_sizes(times)


class NoiseSource:
    """Yields noise tensors from an explicit list, or draws them from a generator (a :data:`Noise` callable)."""

    def __init__(self, like: torch.Tensor, needed: int, noise: Sequence[torch.Tensor] | None,
                 generator: torch.Generator | None) -> None:
        if noise is not None and len(noise) != needed:
            raise ValueError(f"this sampler draws {needed} noise tensors (prior first), got {len(noise)}")
        self._like, self._generator = like, generator
        self._given: Iterator[torch.Tensor] | None = iter(noise) if noise is not None else None

    def __call__(self) -> torch.Tensor:
        if self._given is None:
            return randn_like(self._like, self._generator)
        z = next(self._given)
        if z.shape != self._like.shape:
            raise ValueError(f"noise tensors must have shape {tuple(self._like.shape)}, got {tuple(z.shape)}")
        return z


def _require_score_model(model: Model, sampler: str) -> ScoreModel:
    if not is_score_model(model):
        raise ValueError(f"the {sampler} sampler needs a score model, got {type(model).__name__}")
    return model


def reverse_step(
    model: ScoreModel,
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    dt: torch.Tensor,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Euler-Maruyama step of the reverse SDE from ``t`` to ``t - dt`` (one network call).

    ``mean = x - (f(x, t, y) - g(t)**2 s(x, y, t)) dt``, ``x_next = mean + g(t) sqrt(dt) z``.

    Args:
        model: the score model.
        x, y: complex ``[B, 1, F, T]`` state and noisy spectrogram.
        t, dt: ``[B]`` current times and step sizes.
        noise: ``z`` for the stochastic part; ``None`` returns the mean as the next state too.

    Returns:
        ``(x_next, mean)``, both complex ``[B, 1, F, T]``.
    """
    sde = model.sde
    score = model(x, y, t)
    g = append_dims(sde.diffusion(t), x.dim())
    dt = append_dims(dt, x.dim())
    mean = x - (sde.drift(x, t, y) - g**2 * score) * dt
    if noise is None:
        return mean, mean
    return mean + noise * g * torch.sqrt(dt), mean


def reverse_sample(
    model: ScoreModel, y: torch.Tensor, times: torch.Tensor, noise: Noise, callback: Callback | None = None
) -> tuple[torch.Tensor, int]:
    """CRP inference: start at ``y + std(t_start) z`` and take one Euler-Maruyama step per grid time down to 0.

    Draws ``steps`` noise tensors: the prior's, then one per step except the last (which returns its mean).

    Args:
        model: a score model (CRP fine-tuned for this grid, or a DSM model).
        y: complex ``[B, 1, F, T]`` noisy spectrogram.
        times: ``[steps]`` grid from t_start down to t_eps (:func:`time_grid`); steps = network calls.
        noise: the noise source.
        callback: called after each step with ``{"i", "t", "x", "mean"}``.

    Returns:
        ``(x_hat [B, 1, F, T], nfe)`` with ``nfe == steps``.
    """
    model = _require_score_model(model, REVERSE)
    steps, sizes, batch = times.shape[0], step_sizes(times), y.shape[0]
    x = model.sde.prior(y, batch_times(times[0], batch, y), noise=noise())
    mean = x
    for i in range(steps):
        last = i == steps - 1
        x, mean = reverse_step(
            model, x, y, batch_times(times[i], batch, y), batch_times(sizes[i], batch, y),
            noise=None if last else noise(),
        )
        if callback is not None:
            callback({"i": i, "t": times[i], "x": x, "mean": mean})
    return mean, steps


def langevin_correct(
    model: ScoreModel, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor, snr: float, noise: torch.Tensor
) -> torch.Tensor:
    """Annealed Langevin dynamics corrector step (one network call): ``eps = 2 (snr std(t))**2``,
    ``x <- x + eps s(x, y, t) + sqrt(2 eps) z``."""
    step = append_dims(2 * (snr * model.sde.std(t)) ** 2, x.dim())
    return x + step * model(x, y, t) + noise * torch.sqrt(2 * step)


def pc_sample(
    model: ScoreModel,
    y: torch.Tensor,
    times: torch.Tensor,
    noise: Noise,
    *,
    corrector_steps: int,
    snr: float,
    callback: Callback | None = None,
) -> tuple[torch.Tensor, int]:
    """Predictor-corrector sampling (SGMSE+/BBED baseline): per step, ``corrector_steps`` Langevin corrections, then
    a reverse-diffusion (Euler-Maruyama) prediction. N = 30 with one corrector step is the usual 60-call setting.

    Noise order: prior, then per step its corrector draws followed by the predictor draw (none for the final
    predictor step, which returns its mean): ``1 + steps * corrector_steps + steps - 1`` tensors.

    Returns:
        ``(x_hat [B, 1, F, T], nfe)`` with ``nfe == steps * (corrector_steps + 1)``.
    """
    model = _require_score_model(model, PC)
    steps, sizes, batch = times.shape[0], step_sizes(times), y.shape[0]
    x = model.sde.prior(y, batch_times(times[0], batch, y), noise=noise())
    mean = x
    for i in range(steps):
        t = batch_times(times[i], batch, y)
        for _ in range(corrector_steps):
            x = langevin_correct(model, x, y, t, snr, noise())
        last = i == steps - 1
        x, mean = reverse_step(model, x, y, t, batch_times(sizes[i], batch, y), noise=None if last else noise())
        if callback is not None:
            callback({"i": i, "t": times[i], "x": x, "mean": mean})
    return mean, steps * (corrector_steps + 1)


def ode_sample(
    model: ScoreModel,
    y: torch.Tensor,
    times: torch.Tensor,
    noise: Noise,
    *,
    ode_method: str,
    callback: Callback | None = None,
) -> tuple[torch.Tensor, int]:
    """Probability-flow ODE ``dx/dt = f(x, t, y) - g(t)**2 s(x, y, t) / 2`` on the grid ``times``.

    Starts at ``y + std(t_start) z`` (one noise tensor) and integrates down to 0. ``heun`` adds a second
    evaluation at the end of each step except the last (t = 0 cannot be evaluated: the network is conditioned on
    log t), as in EDM.

    Returns:
        ``(x_hat [B, 1, F, T], nfe)``; ``nfe = steps`` (Euler) or ``2 * steps - 1`` (Heun).
    """
    model = _require_score_model(model, ODE)
    sde = model.sde
    steps, sizes, batch = times.shape[0], step_sizes(times), y.shape[0]

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        g2 = append_dims(sde.diffusion(t) ** 2, x.dim())
        return sde.drift(x, t, y) - 0.5 * g2 * model(x, y, t)

    x = sde.prior(y, batch_times(times[0], batch, y), noise=noise())
    nfe = 0
    for i in range(steps):
        t, dt = batch_times(times[i], batch, y), batch_times(sizes[i], batch, y)
        d = velocity(x, t)
        nfe += 1
        x_next = x - d * append_dims(dt, x.dim())
        if ode_method == HEUN and i < steps - 1:
            d_next = velocity(x_next, t - dt)
            nfe += 1
            x_next = x - 0.5 * (d + d_next) * append_dims(dt, x.dim())
        x = x_next
        if callback is not None:
            callback({"i": i, "t": times[i], "x": x, "mean": x})
    return x, nfe


def resolve_sampler(model: Model, request: SamplerRequest = SamplerRequest()) -> SamplerSpec | None:
    """The complete sampler setting ``request`` gives on ``model`` (``None`` for a predictive model).

    Unset fields come from the model's own setting (``model.inference``); see :meth:`SamplerRequest.resolve`.

    Raises:
        ValueError: the request does not fit the model (unknown option for the sampler, t_start outside the
            SDE's range, or any sampler setting for a predictive model).
    """
    if isinstance(model, PredictiveModel):
        return resolve_for_model(request, None, None, None)
    model = _require_score_model(model, request.sampler or model.inference.sampler)
    return resolve_for_model(request, model.inference, model.sde.t_eps, model.sde.t_max)


def sample(
    model: Model,
    y: torch.Tensor,
    spec: SamplerSpec | None = None,
    noise: Sequence[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    **request: Any,
) -> tuple[torch.Tensor, int]:
    """Enhance a spectrogram batch: run a resolved sampler setting, or resolve one first.

    ``spec`` is a setting resolved by :func:`resolve_sampler` (callers that sample repeatedly resolve once and
    pass it). Without it, the keywords ``sampler``, ``steps``, ``t_start``, ``corrector_steps``, ``snr``,
    ``ode_method`` (or ``method``) and ``schedule`` are resolved against ``model.inference`` here. A
    :class:`PredictiveModel` is one network call.

    Args:
        model: score or predictive model.
        y: complex ``[B, 1, F, T]`` noisy spectrogram, normalised and compressed like the training data.
        spec: resolved setting (``t_start`` set), or ``None``.
        noise: the ``spec.noise_draws`` noise tensors in sampling order, or ``None`` to draw from ``generator``.
        generator: random generator on ``y``'s device.
        callback: called after each step (see the samplers).

    Returns:
        ``(x_hat [B, 1, F, T], nfe)``.
    """
    if spec is None:
        spec = resolve_sampler(model, SamplerRequest.from_options(**request))
    elif request:
        raise ValueError(f"pass either a resolved spec or sampler options, not both (got {sorted(request)})")
    if spec is None:  # predictive model
        return model(y), 1  # type: ignore[call-arg]
    if spec.t_start is None:
        raise ValueError("the sampler setting is not resolved (t_start is None); use resolve_sampler(model, ...)")
    model = _require_score_model(model, spec.sampler)
    draw = NoiseSource(y, spec.noise_draws, noise, generator)
    times, _ = time_grid(spec.t_start, model.sde.t_eps, spec.steps, y, spec.schedule)
    if spec.sampler == REVERSE:
        return reverse_sample(model, y, times, draw, callback)
    if spec.sampler == PC:
        return pc_sample(model, y, times, draw, corrector_steps=spec.corrector_steps, snr=spec.snr, callback=callback)
    return ode_sample(model, y, times, draw, ode_method=spec.ode_method, callback=callback)
