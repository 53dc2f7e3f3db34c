"""Synthetic room impulse responses (exponential decay) and the dry/early clean targets.

The RIR is built directly in numpy: a unit direct path at sample 0, 4-12 sparse early reflections
in the first 50 ms, and a Gaussian late tail that decays exponentially with the drawn RT60 (faster
above 2 kHz, as absorption grows with frequency). The tail is scaled to a drawn direct-to-reverberant
ratio (DRR). Because the direct path sits at sample 0, the clean target stays time-aligned with the
dry speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crpse.corpus.sources import SAMPLE_RATE

#: Early part (direct path + early reflections) kept in the ``"early"`` clean target, seconds.
EARLY_SECONDS = 0.05
#: Clean-target choices for reverberant files.
REVERB_TARGETS = ("early", "direct")


@dataclass(frozen=True)
class RoomResponse:
    """One synthetic room impulse response.

    Attributes:
        rir: Impulse response ``[K]`` at 16 kHz; ``rir[0] == 1`` is the direct path.
        rt60: Reverberation time of the tail below 2 kHz, seconds.
        drr_db: Direct-to-reverberant energy ratio, dB.
    """

    rir: np.ndarray
    rt60: float
    drr_db: float


def _split_bands(signal: np.ndarray, crossover: float) -> tuple[np.ndarray, np.ndarray]:
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(len(signal), 1.0 / SAMPLE_RATE)
    low = np.fft.irfft(spectrum * (freqs < crossover), n=len(signal))
    return low, signal - low


def exponential_rir(rng: np.random.Generator, rt60_range: tuple[float, float] = (0.2, 1.0),
                    drr_range: tuple[float, float] = (-3.0, 10.0)) -> RoomResponse:
    """Draw a room impulse response.

    Args:
        rng: Generator.
        rt60_range: Uniform range of the RT60 in seconds.
        drr_range: Uniform range of the direct-to-reverberant ratio in dB.

    Returns:
        The RIR and its parameters.
    """
    rt60 = float(rng.uniform(*rt60_range))
    drr_db = float(rng.uniform(*drr_range))
    length = int(min(1.2 * rt60, 1.2) * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    # Late tail: two bands with their own decay, onset after 2-5 ms.
    low, high = _split_bands(rng.standard_normal(length), 2000.0)
    high_rt60 = rt60 * float(rng.uniform(0.5, 0.85))
    tail = low * np.exp(-6.908 * t / rt60) + high * np.exp(-6.908 * t / high_rt60)
    onset = float(rng.uniform(0.002, 0.005))
    tail *= np.clip((t - onset) / 0.002, 0.0, 1.0)
    # Early reflections: sparse, random sign, 2-6 times the local RMS of the (unit-variance) tail.
    for _ in range(int(rng.integers(4, 13))):
        delay = int(rng.uniform(0.003, EARLY_SECONDS) * SAMPLE_RATE)
        envelope = np.exp(-6.908 * delay / SAMPLE_RATE / rt60)
        tail[delay] += float(rng.choice([-1.0, 1.0])) * float(rng.uniform(2.0, 6.0)) * envelope
    tail[0] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    rir = tail
    rir[0] = 1.0
    return RoomResponse(rir, rt60, drr_db)


def fft_convolve(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Full linear convolution of ``signal [L]`` and ``kernel [K]`` via the FFT; returns ``[L + K - 1]``."""
    n = len(signal) + len(kernel) - 1
    size = 1 << max(0, (n - 1).bit_length())
    return np.fft.irfft(np.fft.rfft(signal, size) * np.fft.rfft(kernel, size), size)[:n]


def reverberate(speech: np.ndarray, room: RoomResponse, target: str = "early") -> tuple[np.ndarray, np.ndarray]:
    """Convolve dry speech with a room and return the reverberant signal and the clean target.

    Args:
        speech: Dry speech ``[L]``.
        room: The room.
        target: ``"early"`` (direct path + first 50 ms of reflections) or ``"direct"`` (the dry speech).

    Returns:
        ``(reverberant [L], target [L])``; the reverberant tail after ``L`` is cut.
    """
    if target not in REVERB_TARGETS:
        raise ValueError(f"unknown reverb target {target!r}; choose from {', '.join(REVERB_TARGETS)}")
    n = len(speech)
    wet = fft_convolve(speech, room.rir)[:n]
    if target == "direct":
        return wet, np.array(speech, dtype=np.float64)
    early = room.rir[: int(EARLY_SECONDS * SAMPLE_RATE) + 1]
    return wet, fft_convolve(speech, early)[:n]
