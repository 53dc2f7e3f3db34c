"""Samplers: plain functions of (model, y, steps, noise or generator), each returning ``(estimate, nfe)``.

All work on compressed complex spectrograms ``[B, 1, F, T]`` with ``T`` a multiple of ``model.frame_multiple``.
The time grid is ``linspace(t_start, t_eps, steps)``; step ``i`` goes from ``t_i`` to ``t_{i+1}`` and the last
step from ``t_eps`` all the way to 0, returning the noiseless mean (the reference's ``denoise=True``).

Noise can be given explicitly (``noise=[z_prior, z_1, z_2, ...]``, one complex tensor shaped like ``y`` per noisy
draw, in the reference's order) or drawn from ``generator``. The CRP loss (:mod:`crpse.losses`) calls
:func:`reverse_step`, the step these samplers take, so what is trained is exactly what is sampled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from crpse._tensor import append_dims, batch_times, randn_like
from crpse.score_model import Model, PredictiveModel, ScoreModel

Callback = Callable[[dict[str, Any]], None]

#: steps used when a sampler other than the model's own is asked for without a step count
_DEFAULT_STEPS = {"reverse": 1, "pc": 30, "ode": 30}


def time_grid(t_start: float, t_end: float, steps: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference grid: ``linspace(t_start, t_end, steps)`` and step sizes (the last one is ``t_end``).

    Returns:
        ``(times [steps], step_sizes [steps])`` in ``like``'s real dtype and device.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not t_end < t_start or t_end <= 0:
        raise ValueError(f"need 0 < t_end < t_start, got t_start={t_start}, t_end={t_end}")
    dtype = like.real.dtype if like.is_complex() else like.dtype
    times = torch.linspace(t_start, t_end, steps, dtype=dtype, device=like.device)
    sizes = torch.cat([times[:-1] - times[1:], times[-1:]])
    return times, sizes


class NoiseSource:
    """Yields noise tensors from an explicit list, or draws them from a generator."""

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
    # duck-typed: anything with an SDE and the model(x_t, y, t) call works (e.g. analytic scores in tests)
    if isinstance(model, PredictiveModel) or not hasattr(model, "sde"):
        raise ValueError(f"the {sampler} sampler needs a score model, got {type(model).__name__}")
    return model


def resolve_t_start(model: ScoreModel, t_start: float | None) -> float:
    sde = model.sde
    t_start = sde.t_max if t_start is None else float(t_start)
    if not sde.t_eps < t_start <= sde.t_max:
        raise ValueError(f"t_start must lie in ({sde.t_eps}, {sde.t_max}] for {type(sde).__name__}, got {t_start}")
    return t_start


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
    model: ScoreModel,
    y: torch.Tensor,
    steps: int = 1,
    t_start: float | None = 0.5,
    noise: Sequence[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> tuple[torch.Tensor, int]:
    """CRP inference: start at ``y + std(t_start) z`` and take ``steps`` Euler-Maruyama steps down to 0.

    Args:
        model: a score model (CRP fine-tuned for this steps/t_start, or a DSM model).
        y: complex ``[B, 1, F, T]`` noisy spectrogram.
        steps: number of steps = network calls (the paper's headline: 1).
        t_start: reverse starting point (paper: 0.5; ``None``: the SDE's ``t_max``).
        noise: ``[z_prior, z_1, ..., z_{steps-1}]`` (``steps`` tensors), or ``None`` to draw from ``generator``.
        generator: random generator on ``y``'s device.
        callback: called after each step with ``{"i", "t", "x", "mean"}``.

    Returns:
        ``(x_hat [B, 1, F, T], nfe)`` with ``nfe == steps``.
    """
    model = _require_score_model(model, "reverse")
    t_start = resolve_t_start(model, t_start)
    draw = NoiseSource(y, steps, noise, generator)
    times, sizes = time_grid(t_start, model.sde.t_eps, steps, y)
    batch = y.shape[0]
    x = model.sde.prior(y, batch_times(t_start, batch, y), noise=draw())
    mean = x
    for i in range(steps):
        last = i == steps - 1
        x, mean = reverse_step(
            model, x, y, batch_times(times[i], batch, y), batch_times(sizes[i], batch, y),
            noise=None if last else draw(),
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
    steps: int = 30,
    corrector_steps: int = 1,
    snr: float = 0.5,
    t_start: float | None = None,
    noise: Sequence[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> tuple[torch.Tensor, int]:
    """Predictor-corrector sampling (SGMSE+/BBED baseline): per step, ``corrector_steps`` Langevin corrections, then
    a reverse-diffusion (Euler-Maruyama) prediction. N = 30 with one corrector step is the usual 60-call setting.

    Noise order: prior, then per step its corrector draws followed by the predictor draw (none for the final
    predictor step, which returns its mean): ``1 + steps * corrector_steps + steps - 1`` tensors.

    Returns:
        ``(x_hat [B, 1, F, T], nfe)`` with ``nfe == steps * (corrector_steps + 1)``.
    """
    model = _require_score_model(model, "pc")
    if corrector_steps < 0:
        raise ValueError(f"corrector_steps must be >= 0, got {corrector_steps}")
    t_start = resolve_t_start(model, t_start)
    draw = NoiseSource(y, 1 + steps * corrector_steps + steps - 1, noise, generator)
    times, sizes = time_grid(t_start, model.sde.t_eps, steps, y)
    batch = y.shape[0]
    x = model.sde.prior(y, batch_times(t_start, batch, y), noise=draw())
    mean = x
    for i in range(steps):
        t = batch_times(times[i], batch, y)
        for _ in range(corrector_steps):
            x = langevin_correct(model, x, y, t, snr, draw())
        last = i == steps - 1
        x, mean = reverse_step(model, x, y, t, batch_times(sizes[i], batch, y), noise=None if last else draw())
        if callback is not None:
            callback({"i": i, "t": times[i], "x": x, "mean": mean})
    return mean, steps * (corrector_steps + 1)


def ode_sample(
    model: ScoreModel,
    y: torch.Tensor,
    steps: int = 30,
    t_start: float | None = None,
    method: str = "euler",
    noise: Sequence[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> tuple[torch.Tensor, int]:
    """Probability-flow ODE ``dx/dt = f(x, t, y) - g(t)**2 s(x, y, t) / 2`` with fixed steps.

    Starts at ``y + std(t_start) z`` (one noise tensor) and integrates on the sampler grid down to 0. ``heun``
    adds a second evaluation at the end of each step except the last (t = 0 cannot be evaluated: the network is
    conditioned on log t), as in EDM.

    Returns:
        ``(x_hat [B, 1, F, T], nfe)``; ``nfe = steps`` (Euler) or ``2 * steps - 1`` (Heun).
    """
    model = _require_score_model(model, "ode")
    if method not in ("euler", "heun"):
        raise ValueError(f"method must be 'euler' or 'heun', got {method!r}")
    t_start = resolve_t_start(model, t_start)
    sde = model.sde
    draw = NoiseSource(y, 1, noise, generator)
    times, sizes = time_grid(t_start, sde.t_eps, steps, y)
    batch = y.shape[0]

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        g2 = append_dims(sde.diffusion(t) ** 2, x.dim())
        return sde.drift(x, t, y) - 0.5 * g2 * model(x, y, t)

    x = sde.prior(y, batch_times(t_start, batch, y), noise=draw())
    nfe = 0
    for i in range(steps):
        t, dt = batch_times(times[i], batch, y), batch_times(sizes[i], batch, y)
        d = velocity(x, t)
        nfe += 1
        x_next = x - d * append_dims(dt, x.dim())
        if method == "heun" and i < steps - 1:
            d_next = velocity(x_next, t - dt)
            nfe += 1
            x_next = x - 0.5 * (d + d_next) * append_dims(dt, x.dim())
        x = x_next
        if callback is not None:
            callback({"i": i, "t": times[i], "x": x, "mean": x})
    return x, nfe


#: options each sampler accepts besides steps and t_start
SAMPLER_OPTIONS: dict[str, tuple[str, ...]] = {
    "reverse": (),
    "pc": ("corrector_steps", "snr"),
    "ode": ("method",),  # ``ode_method`` is accepted as an alias
}


@dataclass(frozen=True)
class SamplerChoice:
    """A fully resolved sampler setting: which sampler, how many steps, from when, with which options."""

    sampler: str
    steps: int
    t_start: float
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def noise_draws(self) -> int:
        """Number of noise tensors the sampler draws (the length of its ``noise=`` list)."""
        if self.sampler == "reverse":
            return self.steps
        if self.sampler == "pc":
            return 1 + self.steps * int(self.options["corrector_steps"]) + self.steps - 1
        return 1

    @property
    def network_calls(self) -> int:
        if self.sampler == "pc":
            return self.steps * (int(self.options["corrector_steps"]) + 1)
        if self.sampler == "ode" and self.options["method"] == "heun":
            return 2 * self.steps - 1
        return self.steps


def resolve_sampler(
    model: ScoreModel, sampler: str | None = None, steps: int | None = None, t_start: float | None = None,
    **options: Any,
) -> SamplerChoice:
    """Fill unset sampler settings from ``model.inference`` and validate them.

    The model's own steps and t_start apply when its own sampler is used; another sampler named without a step
    count gets its usual default (``pc``/``ode``: 30). ``t_start=None`` then means the SDE's ``t_max``.
    """
    settings = model.inference
    sampler = sampler or settings.sampler
    if sampler not in SAMPLER_OPTIONS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {sorted(SAMPLER_OPTIONS)}")
    if "ode_method" in options:
        options["method"] = options.pop("ode_method")
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(SAMPLER_OPTIONS[sampler]))
    if unknown:
        allowed = ", ".join(SAMPLER_OPTIONS[sampler]) or "none"
        raise ValueError(f"options {unknown} do not apply to the {sampler} sampler (it takes: {allowed})")
    if sampler == settings.sampler:
        steps = steps or settings.steps
        t_start = settings.t_start if t_start is None else t_start
    else:
        steps = steps or _DEFAULT_STEPS[sampler]
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    defaults = {"corrector_steps": settings.corrector_steps, "snr": settings.snr, "method": settings.ode_method}
    full = {name: options.get(name, defaults[name]) for name in SAMPLER_OPTIONS[sampler]}
    if sampler == "pc" and int(full["corrector_steps"]) < 0:
        raise ValueError(f"corrector_steps must be >= 0, got {full['corrector_steps']}")
    if sampler == "ode" and full["method"] not in ("euler", "heun"):
        raise ValueError(f"the ode method must be 'euler' or 'heun', got {full['method']!r}")
    return SamplerChoice(sampler, int(steps), resolve_t_start(model, t_start), full)


def sample(
    model: Model,
    y: torch.Tensor,
    sampler: str | None = None,
    steps: int | None = None,
    t_start: float | None = None,
    noise: Sequence[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> tuple[torch.Tensor, int]:
    """Enhance a spectrogram batch with the model's intended sampler, or the one named.

    Unset ``sampler``, ``steps``, ``t_start`` and sampler options (``corrector_steps``, ``snr``, ``method``) come
    from ``model.inference`` (:func:`resolve_sampler`). A :class:`PredictiveModel` is one network call whatever
    the settings.

    Args:
        model: score or predictive model.
        y: complex ``[B, 1, F, T]`` noisy spectrogram, normalised and compressed like the training data.

    Returns:
        ``(x_hat [B, 1, F, T], nfe)``.
    """
    if isinstance(model, PredictiveModel):
        if sampler not in (None, "predictive", "reverse"):
            raise ValueError(f"a predictive model has no {sampler!r} sampler: it maps y to x in one call")
        return model(y), 1
    choice = resolve_sampler(model, sampler, steps, t_start, **options)
    if choice.sampler == "reverse":
        return reverse_sample(model, y, choice.steps, choice.t_start, noise=noise, generator=generator)
    if choice.sampler == "pc":
        return pc_sample(model, y, choice.steps, t_start=choice.t_start, noise=noise, generator=generator,
                         **choice.options)
    return ode_sample(model, y, choice.steps, t_start=choice.t_start, noise=noise, generator=generator,
                      **choice.options)
