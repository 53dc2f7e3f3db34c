"""Mix speech and noise at a given SNR and level, without clipping.

The SNR is the energy ratio of the speech *as it appears in the mixture* (reverberant when the
file is reverberated) to the added noise, the speech measured over the whole file or, when a
speech level is given, at that level (e.g. its active level). The same gain that sets the speech
level is applied to the clean target, and when the mixture or the target would exceed the peak
limit, both are scaled by the same factor, so the SNR and the clean/noisy relation are preserved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mixture:
    """A clean/noisy pair and the gains that made it.

    Attributes:
        clean: Clean target ``[L]``.
        noisy: Mixture ``[L]`` (speech in the mixture + noise).
        speech_gain_db: Gain applied to the speech and the target before peak limiting.
        noise_gain_db: Gain applied to the noise before peak limiting.
        peak_scale: Common factor (<= 1) applied afterwards to avoid clipping.
    """

    clean: np.ndarray
    noisy: np.ndarray
    speech_gain_db: float
    noise_gain_db: float
    peak_scale: float


def energy_db(signal: np.ndarray) -> float:
    """Mean power of ``signal [L]`` in dB (dBFS for full-scale 1.0 signals)."""
    return float(10 * np.log10(np.mean(np.square(signal, dtype=np.float64)) + 1e-20))


def snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    """Energy ratio of ``speech [L]`` to ``noise [L]`` in dB."""
    return energy_db(speech) - energy_db(noise)


def mix(speech: np.ndarray, target: np.ndarray, noise: np.ndarray, snr: float, level_db: float,
        peak_limit: float = 0.98, speech_level_db: float | None = None) -> Mixture:
    """Scale speech to ``level_db``, add noise at ``snr`` dB, and limit peaks.

    Args:
        speech: Speech as it enters the mixture ``[L]`` (dry or reverberant).
        target: The clean target ``[L]`` that goes with it (same scale as ``speech``).
        noise: Noise ``[L]`` (any level, not silent).
        snr: Desired speech-to-noise energy ratio, dB.
        level_db: Desired mean power of the speech in the mixture, dBFS.
        peak_limit: Largest absolute sample allowed in the clean and noisy outputs.
        speech_level_db: The level of ``speech`` that ``level_db`` and ``snr`` refer to (e.g. its active
            speech level, see :func:`crpse.corpus.conditions.active_level_db`); default: its mean power
            over the whole file.

    Returns:
        The pair and its gains.
    """
    if not (len(speech) == len(target) == len(noise)):
        raise ValueError(f"lengths differ: speech {len(speech)}, target {len(target)}, noise {len(noise)}")
    speech_gain_db = level_db - (energy_db(speech) if speech_level_db is None else speech_level_db)
    noise_power = energy_db(noise)
    if noise_power < -190:
        raise ValueError("the noise is silent; cannot mix at a finite SNR")
    noise_gain_db = level_db - snr - noise_power
    speech_part = speech * 10 ** (speech_gain_db / 20)
    clean = target * 10 ** (speech_gain_db / 20)
    noisy = speech_part + noise * 10 ** (noise_gain_db / 20)
    peak = max(float(np.max(np.abs(noisy))), float(np.max(np.abs(clean))))
    peak_scale = min(1.0, peak_limit / peak) if peak > 0 else 1.0
    return Mixture(clean * peak_scale, noisy * peak_scale, speech_gain_db, noise_gain_db, peak_scale)
