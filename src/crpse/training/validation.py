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
from typing import Any

import numpy as np
import torch

from crpse.data import Downmix, SpeechPair, read_audio
from crpse.sampler_spec import SamplerRequest
from crpse.sampling import resolve_sampler, sample
from crpse.score_model import Model

#: metric names, in the order of :func:`metric_sums`
METRICS = ("pesq", "estoi", "si_sdr")


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def enhance_waveform(
    model: Model,
    noisy: np.ndarray,
    choice: SamplerRequest = SamplerRequest(),
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
    x_hat, nfe = sample(model, y, resolve_sampler(model, choice), generator=generator)
    estimate = model.transform.to_wave(x_hat, length)[0] * scale
    return estimate.float().cpu().numpy(), nfe


def score_pair(
    model: Model,
    pair: SpeechPair,
    choice: SamplerRequest = SamplerRequest(),
    seed: int = 0,
    downmix: Downmix = "mean",
) -> dict[str, float]:
    """Enhance ``pair.noisy`` full-length and score it against ``pair.clean``.

    Args:
        model: the model to validate (e.g. the EMA copy), in eval mode.
        pair: the files; both are read at the model's rate.
        choice: the sampler asked for (unset fields: the model's own).
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
