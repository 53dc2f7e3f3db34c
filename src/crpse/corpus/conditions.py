"""Realistic recording conditions: active-speech level, level steps, quiet/loud inputs, channels.

Used for the splits listed in :data:`REALISTIC_SPLITS` (``test`` and ``test_mismatched`` keep the
original conditions so that their numbers stay comparable with earlier results):

* **Active speech level.** Levels and SNRs refer to the speech's *active* level: the mean power of
  its 20 ms frames that lie within 30 dB of the loudest frame (pauses do not dilute it), close to
  ITU-T P.56 in spirit.
* **Level.** Normally drawn from the configured range; a fraction of files is very quiet
  (-55..-40 dBFS) and a fraction is loud enough to be peak-limited to 0.98 (near full scale).
* **Level steps.** A fraction of utterances changes level by 3-12 dB once or twice (a talker who
  turns away or leans in), with 50 ms ramps; the clean target carries the same steps.
* **Channels.** A fraction of mixtures passes a narrower or coded channel: a low-pass at 3.5-7 kHz
  (target band-limited the same way), a telephone channel (300-3400 Hz, G.711 mu-law whose
  quantisation noise is kept below 4 kHz; the target gets the band limit but not the quantisation
  noise) or G.722 at 48 kbit/s (target unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crpse.corpus.quality import frame_powers_db
from crpse.corpus.sources import SAMPLE_RATE

#: Splits rendered with these conditions.
REALISTIC_SPLITS = ("train", "valid", "test_real")
#: Channel kinds of :func:`apply_channel`.
CHANNELS = ("lowpass", "telephone", "g722-48k")


@dataclass(frozen=True)
class ConditionSettings:
    """How often each condition occurs (one home: held by :class:`crpse.corpus.synth.CorpusConfig`).

    Attributes:
        quiet_prob: Share of very quiet files.
        quiet_range: Their active speech level, dBFS.
        loud_prob: Share of files driven into the 0.98 peak limit.
        loud_range: Their active speech level before limiting, dBFS.
        step_prob: Share of utterances with level steps.
        step_range: Size of a step, dB (either sign).
        channel_prob: Share of band-limited or coded mixtures.
    """

    quiet_prob: float = 0.1
    quiet_range: tuple[float, float] = (-55.0, -40.0)
    loud_prob: float = 0.1
    loud_range: tuple[float, float] = (-14.0, -6.0)
    step_prob: float = 0.15
    step_range: tuple[float, float] = (3.0, 12.0)
    channel_prob: float = 0.15


def active_level_db(speech: np.ndarray, window_db: float = 30.0) -> float:
    """Active level of ``speech [L]``: mean power of the frames within ``window_db`` of the loudest, dBFS."""
    powers = frame_powers_db(speech)
    if powers.size == 0:
        return -200.0
    active = powers[powers > powers.max() - window_db]
    return float(10 * np.log10(np.mean(10 ** (active / 10))))


def draw_level(rng: np.random.Generator, settings: ConditionSettings,
               normal_range: tuple[float, float]) -> tuple[float, str]:
    """Draw an active speech level and its kind (``"normal"``, ``"quiet"`` or ``"loud"``)."""
    u = rng.random()
    if u < settings.quiet_prob:
        return round(float(rng.uniform(*settings.quiet_range)), 2), "quiet"
    if u < settings.quiet_prob + settings.loud_prob:
        return round(float(rng.uniform(*settings.loud_range)), 2), "loud"
    return round(float(rng.uniform(*normal_range)), 2), "normal"


def level_steps(speech: np.ndarray, rng: np.random.Generator,
                step_range: tuple[float, float]) -> tuple[np.ndarray, str]:
    """Apply one or two level steps to ``speech [L]``.

    Returns:
        ``(gain [L], description)``: multiply the speech (and target) by ``gain``.
    """
    n = len(speech)
    gain_db = np.zeros(n)
    ramp = int(0.05 * SAMPLE_RATE)
    steps = []
    for _ in range(int(rng.integers(1, 3))):
        at = int(rng.uniform(0.25, 0.75) * n)
        size = float(rng.uniform(*step_range)) * float(rng.choice([-1.0, 1.0]))
        shape = np.clip((np.arange(n) - at) / ramp, 0.0, 1.0)
        gain_db += size * shape
        steps.append(f"{at / SAMPLE_RATE:.2f}s{size:+.1f}dB")
    return 10 ** (gain_db / 20), "steps=" + ",".join(steps)


def _lowpass(signal: np.ndarray, cutoff: float, low: float = 0.0) -> np.ndarray:
    """Zero-phase FFT band-pass ``[low, cutoff]`` Hz with 200 Hz raised-cosine edges; ``[L]``."""
    size = 1 << max(0, (len(signal) - 1).bit_length())
    freqs = np.fft.rfftfreq(size, 1.0 / SAMPLE_RATE)
    fall = np.clip((cutoff + 100.0 - freqs) / 200.0, 0.0, 1.0)
    rise = np.clip((freqs - (low - 100.0)) / 200.0, 0.0, 1.0) if low > 0 else 1.0
    gain = (0.5 - 0.5 * np.cos(np.pi * fall)) * (0.5 - 0.5 * np.cos(np.pi * rise))
    return np.fft.irfft(np.fft.rfft(signal, size) * gain, size)[: len(signal)]


def _mu_law(signal: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """8-bit mu-law quantisation (G.711) of ``signal [L]`` in [-1, 1]."""
    compressed = np.sign(signal) * np.log1p(mu * np.minimum(np.abs(signal), 1.0)) / np.log1p(mu)
    quantised = np.round(compressed * 127.0) / 127.0
    return np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu


def _g722(signal: np.ndarray, bitrate: int = 48000) -> np.ndarray:
    from G722 import G722  # PyPI package "g722"

    pcm = np.clip(np.round(signal * 32768.0), -32768, 32767).astype(np.int16)
    decoded = np.asarray(G722(SAMPLE_RATE, bitrate).decode(G722(SAMPLE_RATE, bitrate).encode(pcm)), dtype=np.float64)
    return decoded[: len(signal)] / 32768.0


def apply_channel(noisy: np.ndarray, clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """Pass a mixture through a drawn channel and adapt its target (see the module docstring).

    Args:
        noisy: Mixture ``[L]`` (after peak limiting, so within [-1, 1]).
        clean: Its clean target ``[L]``.
        rng: Generator.

    Returns:
        ``(noisy [L], clean [L], description)``.
    """
    kind = CHANNELS[int(rng.integers(len(CHANNELS)))]
    if kind == "lowpass":
        cutoff = float(rng.uniform(3500.0, 7000.0))
        return _lowpass(noisy, cutoff), _lowpass(clean, cutoff), f"lowpass={cutoff:.0f}Hz"
    if kind == "telephone":
        band_noisy, band_clean = _lowpass(noisy, 3400.0, 300.0), _lowpass(clean, 3400.0, 300.0)
        return _lowpass(_mu_law(band_noisy), 3900.0), band_clean, "telephone=mu-law"
    return _g722(noisy), np.array(clean, dtype=np.float64), "g722=48k"
