"""Full-length enhancement of validation files and their metrics (no Lightning; used during and after training).

A file is enhanced the way inference does it (reference.md §1.3, §6.1): the noisy waveform is divided by its peak
over the whole file, transformed, its frames zero-padded to the network's multiple, sampled, transformed back to
the original length and multiplied by the peak again. PESQ (wide-band at 16 kHz), ESTOI and SI-SDR come from
:mod:`crpse.metrics`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crpse.data import Downmix, SpeechPair, read_audio
from crpse.sampling import SamplerChoice, resolve_sampler, sample
from crpse.score_model import Model, PredictiveModel

#: metric names, in the order of :func:`metric_sums`
METRICS = ("pesq", "estoi", "si_sdr")


@dataclass(frozen=True)
class ValidationSampler:
    """The sampler validation asks for; ``None`` fields take the model's own inference settings
    (:func:`crpse.sampling.resolve_sampler` fills them in).

    Attributes:
        sampler: ``reverse``, ``pc``, ``ode`` or ``None`` (the model's sampler).
        steps: number of steps N.
        t_start: start time (``None``: the model's, or the SDE's ``t_max`` for another sampler).
        corrector_steps, snr: predictor-corrector options (``pc`` only).
    """

    sampler: str | None = None
    steps: int | None = None
    t_start: float | None = None
    corrector_steps: int | None = None
    snr: float | None = None

    def __post_init__(self) -> None:
        if self.sampler not in (None, "reverse", "pc", "ode"):
            raise ValueError(f"sampler must be 'reverse', 'pc', 'ode' or None (the model's), got {self.sampler!r}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")

    def resolve(self, model: Model) -> SamplerChoice | None:
        """The complete setting this request gives on ``model`` (``None`` for a predictive model).

        Raises:
            ValueError: the request does not fit the model (e.g. a start time outside the SDE's range).
        """
        if isinstance(model, PredictiveModel):
            return None
        options: dict[str, Any] = {}
        if (self.sampler or model.inference.sampler) == "pc":
            options = {"corrector_steps": self.corrector_steps, "snr": self.snr}
        return resolve_sampler(model, self.sampler, self.steps, self.t_start, **options)

    def describe(self, model: Model) -> str:
        """E.g. ``reverse N=1 t_start=0.5 (1 calls)``: what will actually run on ``model``."""
        choice = self.resolve(model)
        if choice is None:
            return "predictive (1 call)"
        options = "".join(f" {k}={v}" for k, v in choice.options.items())
        return f"{choice.sampler} N={choice.steps} t_start={choice.t_start:g}{options} ({choice.network_calls} calls)"


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def enhance_waveform(
    model: Model,
    noisy: np.ndarray,
    choice: ValidationSampler = ValidationSampler(),
    generator: torch.Generator | None = None,
) -> tuple[np.ndarray, int]:
    """Enhance one mono waveform ``[L]`` (at the model's rate) in a single pass.

    Returns:
        ``(estimate [L] float32, network calls)``.
    """
    device = _device(model)
    length = noisy.shape[-1]
    peak = float(np.max(np.abs(noisy), initial=0.0))
    scale = peak if peak > 0 else 1.0
    wave = torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32) / scale).to(device)[None]
    y = model.transform.to_spec(wave)
    y = model.transform.pad_frames(y, model.frame_multiple, mode=model.config.pad_mode)
    resolved = choice.resolve(model)
    if resolved is None:
        x_hat, nfe = sample(model, y)
    else:
        x_hat, nfe = sample(model, y, resolved.sampler, resolved.steps, resolved.t_start, generator=generator,
                            **resolved.options)
    estimate = model.transform.to_wave(x_hat, length)[0] * scale
    return estimate.float().cpu().numpy(), nfe


def score_pair(
    model: Model,
    pair: SpeechPair,
    choice: ValidationSampler = ValidationSampler(),
    seed: int = 0,
    downmix: Downmix = "mean",
) -> dict[str, float]:
    """Enhance ``pair.noisy`` full-length and score it against ``pair.clean``.

    Args:
        model: the model to validate (e.g. the EMA copy), in eval mode.
        pair: the files; both are read at the model's rate.
        choice: sampler settings.
        seed: seed of the sampler noise (fixed, so validations are comparable over training).
        downmix: mono rule for multichannel files.

    Returns:
        ``{"pesq", "estoi", "si_sdr", "nfe", "seconds"}`` (NaN where a metric is undefined).
    """
    from crpse.metrics import estoi_score, pesq_score, si_sdr

    rate = model.sample_rate
    clean = read_audio(pair.clean, rate, downmix=downmix)
    noisy = read_audio(pair.noisy, rate, downmix=downmix)
    length = min(clean.shape[0], noisy.shape[0])
    clean, noisy = clean[:length], noisy[:length]
    device = _device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    start = time.perf_counter()
    estimate, nfe = enhance_waveform(model, noisy, choice, generator)
    seconds = time.perf_counter() - start
    return {
        "pesq": pesq_score(clean, estimate, rate),
        "estoi": estoi_score(clean, estimate, rate),
        "si_sdr": si_sdr(clean, estimate),
        "nfe": float(nfe),
        "seconds": seconds,
    }


def metric_sums(results: Sequence[dict[str, float]]) -> list[float]:
    """``[sum, count]`` of the finite values of each metric in :data:`METRICS` (flattened), for cross-rank sums."""
    sums: list[float] = []
    for name in METRICS:
        values = [r[name] for r in results if math.isfinite(r[name])]
        sums += [float(sum(values)), float(len(values))]
    return sums


def metric_means(sums: Sequence[float]) -> dict[str, float]:
    """Inverse of :func:`metric_sums` after summing over ranks: the mean of each metric (NaN without values)."""
    return {
        name: (sums[2 * i] / sums[2 * i + 1]) if sums[2 * i + 1] > 0 else math.nan for i, name in enumerate(METRICS)
    }
