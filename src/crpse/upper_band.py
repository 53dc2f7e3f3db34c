"""Keeping the band above the model's Nyquist frequency for input recorded at a higher rate (44.1/48 kHz...).

The model runs at its own rate (16 kHz for the bundled one), so the enhanced signal, resampled back to the input's
rate, has nothing above the model's Nyquist frequency (8 kHz). With ``upper_band="keep"`` (the default) the input's
own upper band is added back, attenuated where the model attenuated the band just below it:

* **the upper band** is what resampling to the model's rate removes: ``u = x - up(down(x))``, the input minus its
  round trip through the model's rate with the same soxr resamplers the enhancement path uses. Below the
  resamplers' transition band ``u`` is zero; inside it the two parts cross-fade, so ``enhanced + u`` equals the
  input exactly when the model changes nothing and the gain is one.
* **the gain** ``g(t)`` is, per STFT frame of the model (``n_fft``/hop of its transform), the amplitude ratio of
  enhanced to noisy signal in the top half of the model's band (4-7.6 kHz for a 16 kHz model:
  ``sqrt(E_enhanced / E_noisy)`` over :data:`REFERENCE_BAND` of the Nyquist frequency), limited to [0, 1] and
  interpolated to every sample. Where the model removed noise above 4 kHz the upper band is removed as much;
  where it kept speech (sibilants, fricatives) the upper band passes. It is the same for every frequency above the
  cut-off: a time-varying gain, carried over from the band below.

Output = ``up(enhanced) + g * u`` at the input's rate. ``upper_band="drop"`` returns ``up(enhanced)`` alone (the
behaviour before this option existed). Measured in BENCHMARKS.md section 11.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from crpse.audio import StreamResampler

UpperBand = Literal["keep", "drop"]
#: the choices and the default (``crpse enhance --upper-band``, ``Enhancer(upper_band=...)``)
UPPER_BAND_CHOICES: tuple[str, ...] = ("keep", "drop")
DEFAULT_UPPER_BAND: UpperBand = "keep"
#: the band, as fractions of the model's Nyquist frequency, whose enhanced-to-noisy ratio becomes the gain
REFERENCE_BAND = (0.5, 0.95)


def validate_upper_band(mode: str) -> UpperBand:
    """``mode`` if it is ``keep`` or ``drop``; otherwise a ValueError naming the choices."""
    if mode not in UPPER_BAND_CHOICES:
        raise ValueError(f"upper_band must be one of {', '.join(UPPER_BAND_CHOICES)}, got {mode!r}")
    return mode  # type: ignore[return-value]


def band_gain(noisy: np.ndarray, enhanced: np.ndarray, sample_rate: int, n_fft: int, hop: int) -> np.ndarray:
    """The per-sample gain ``g`` of the module docstring for windows at the model's rate.

    Args:
        noisy: ``[B, n]`` model-rate input windows.
        enhanced: ``[B, n]`` the enhanced windows.
        sample_rate: the model's rate.
        n_fft, hop: STFT size and hop (the model's transform).

    Returns:
        ``float32 [B, n]`` gains in [0, 1].
    """
    batch, length = noisy.shape
    nyquist = sample_rate / 2
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    band = (freqs >= REFERENCE_BAND[0] * nyquist) & (freqs <= REFERENCE_BAND[1] * nyquist)
    noisy_energy = _band_energy(noisy, n_fft, hop, band)
    enhanced_energy = _band_energy(enhanced, n_fft, hop, band)
    floor = 1e-12 * max(float(noisy_energy.max(initial=0.0)), 1e-30)
    frame_gain = np.sqrt(enhanced_energy / (noisy_energy + floor)).clip(0.0, 1.0)  # [B, frames]
    centres = np.arange(frame_gain.shape[1]) * hop
    samples = np.arange(length)
    return np.stack([np.interp(samples, centres, row) for row in frame_gain]).astype(np.float32)


def _band_energy(waves: np.ndarray, n_fft: int, hop: int, band: np.ndarray) -> np.ndarray:
    """``[B, frames]`` energy in ``band`` of a centred, zero-padded Hann STFT (frame ``j`` centred at ``j * hop``)."""
    half = n_fft // 2
    padded = np.pad(waves.astype(np.float64), ((0, 0), (half, half)))
    frames = 1 + (padded.shape[1] - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spectra = np.fft.rfft(padded[:, index] * np.hanning(n_fft + 1)[:-1], axis=-1)  # [B, frames, bins]
    return (np.abs(spectra[..., band]) ** 2).sum(axis=-1)


class UpperBandMixer:
    """Streams ``up(enhanced) + g * u`` (module docstring) at the input's rate.

    Feed the input as it is read (:meth:`push_input`, with its resampled model-rate version) and the enhanced
    signal with its gain as they come back (:meth:`push_output`); :meth:`pop` returns the samples for which both
    are known, :meth:`finish` the rest.

    Args:
        file_rate: the input's rate.
        model_rate: the model's rate (lower).
        channels: channel count.
        peak: the factor between the normalised model-rate input and the input (the normalisation peak).
    """

    def __init__(self, file_rate: int, model_rate: int, channels: int, peak: float) -> None:
        self.round_trip = StreamResampler(model_rate, file_rate, channels)
        self.peak = np.float32(peak)
        self.channels = channels
        empty = np.zeros((channels, 0), np.float32)
        self._input, self._back, self._residual = empty, empty, empty
        self._enhanced, self._gain = empty, empty

    def push_input(self, block: np.ndarray, model_rate_block: np.ndarray, last: bool = False) -> None:
        """``block [C, n]`` of the input and the (normalised) model-rate samples its resampling produced."""
        back = self.round_trip(model_rate_block, last=last) * self.peak
        self._input = np.concatenate([self._input, block], axis=1)
        self._back = np.concatenate([self._back, back], axis=1)
        if last and self._back.shape[1] < self._input.shape[1]:  # resampling rounding at the very end
            missing = self._input.shape[1] - self._back.shape[1]
            self._back = np.concatenate([self._back, np.zeros((self.channels, missing), np.float32)], axis=1)
        matched = min(self._input.shape[1], self._back.shape[1])
        residual = self._input[:, :matched] - self._back[:, :matched]
        self._residual = np.concatenate([self._residual, residual], axis=1)
        self._input, self._back = self._input[:, matched:], self._back[:, matched:]

    def push_output(self, enhanced: np.ndarray, gain: np.ndarray) -> None:
        """The next enhanced samples ``[C, m]`` at the input's rate and their gains ``[C, m]``."""
        self._enhanced = np.concatenate([self._enhanced, enhanced], axis=1)
        self._gain = np.concatenate([self._gain, np.clip(gain, 0.0, 1.0)], axis=1)

    def pop(self) -> np.ndarray:
        """Mixed samples ``[C, k]`` for which both the input and the enhanced signal are known."""
        ready = min(self._residual.shape[1], self._enhanced.shape[1])
        out = self._enhanced[:, :ready] + self._gain[:, :ready] * self._residual[:, :ready]
        self._enhanced, self._gain = self._enhanced[:, ready:], self._gain[:, ready:]
        self._residual = self._residual[:, ready:]
        return out

    def finish(self) -> np.ndarray:
        """Everything left (call after the last :meth:`push_input` with ``last=True`` and the last output)."""
        out = self.pop()
        if self._enhanced.shape[1]:  # output longer than the input by resampling rounding: no upper band there
            out = np.concatenate([out, self._enhanced], axis=1)
            self._enhanced = self._gain = np.zeros((self.channels, 0), np.float32)
        return out
