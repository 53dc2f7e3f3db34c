"""Validation: enhance held-out files exactly as ``crpse enhance`` does and score them (no Lightning; used during
and after training).

:func:`enhance_like_the_product` runs the same :class:`crpse.enhancer.Enhancer` as the command line, with its
default windowing, so validation scores are scores of the product. PESQ (wide-band at 16 kHz), ESTOI and SI-SDR
are scored as ``crpse evaluate`` scores them (:func:`crpse.evaluation.score_signals`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from crpse.data import Downmix, SpeechPair, read_audio
from crpse.metrics import PAIR_METRICS
from crpse.sampler_spec import SamplerRequest
from crpse.score_model import Model


def enhance_like_the_product(
    model: Model, noisy: np.ndarray, choice: SamplerRequest = SamplerRequest(), seed: int = 0
) -> tuple[np.ndarray, int]:
    """Enhance one mono waveform ``[L]`` at the model's rate through :class:`crpse.enhancer.Enhancer` (what
    ``crpse enhance --seed SEED`` runs, with its default windows and batch size).

    Returns:
        ``(estimate [L] float32, network calls per window)``.
    """
    from crpse.enhancer import Enhancer

    options = {name: value for name, value in asdict(choice).items() if value is not None}
    # validation scores whatever the model returns, however loud (an early model is noise): no output guard; fp32,
    # so that the checkpoint chosen does not depend on whether the machine has native bf16
    enhancer = Enhancer(model, seed=seed, output_limits=None, precision="fp32", **options)
    calls = 1 if enhancer.spec is None else enhancer.spec.network_calls
    return enhancer(np.asarray(noisy, dtype=np.float32), model.sample_rate), calls


def score_pair(
    model: Model,
    pair: SpeechPair,
    choice: SamplerRequest = SamplerRequest(),
    seed: int = 0,
    downmix: Downmix = "mean",
) -> dict[str, float]:
    """Enhance ``pair.noisy`` as the product does (:func:`enhance_like_the_product`) and score it against
    ``pair.clean``.

    Args:
        model: the model to validate (e.g. the EMA copy), in eval mode.
        pair: the files; both are read at the model's rate.
        choice: the sampler asked for (unset fields: the model's own).
        seed: seed of the sampler noise (fixed, so validations are comparable over training).
        downmix: mono rule for multichannel files.

    Returns:
        ``{"pesq", "estoi", "si_sdr", "nfe", "seconds"}`` (NaN where a metric is undefined).
    """
    from crpse.evaluation import score_signals

    rate = model.sample_rate
    clean = read_audio(pair.clean, rate, downmix=downmix)
    noisy = read_audio(pair.noisy, rate, downmix=downmix)
    length = min(clean.shape[0], noisy.shape[0])
    clean, noisy = clean[:length], noisy[:length]
    start = time.perf_counter()
    estimate, nfe = enhance_like_the_product(model, noisy, choice, seed)
    seconds = time.perf_counter() - start
    return {**score_signals(clean, estimate, rate), "nfe": float(nfe), "seconds": seconds}


def metric_sums(results: Sequence[dict[str, float]]) -> list[float]:
    """``[sum, count]`` of the finite values of each metric in :data:`~crpse.metrics.PAIR_METRICS` (flattened), for
    cross-rank sums."""
    sums: list[float] = []
    for name in PAIR_METRICS:
        values = [r[name] for r in results if math.isfinite(r[name])]
        sums += [float(sum(values)), float(len(values))]
    return sums


def metric_means(sums: Sequence[float]) -> dict[str, float]:
    """Inverse of :func:`metric_sums` after summing over ranks: the mean of each metric (NaN without values)."""
    return {
        name: (sums[2 * i] / sums[2 * i + 1]) if sums[2 * i + 1] > 0 else math.nan
        for i, name in enumerate(PAIR_METRICS)
    }
