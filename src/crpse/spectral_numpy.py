"""The compressed complex STFT of :class:`crpse.spectral.SpecTransform` in numpy, for the torch-free inference path.

The same transform as the torch methods of :class:`~crpse.spectral.SpecTransform` (``torch.stft`` with a periodic
window, ``center=True`` and reflect padding; ``torch.istft`` with window-envelope normalisation; the same amplitude
compression), computed in float64 and returned in single precision; ``tests/test_spectral_numpy.py`` holds them to
the torch results within about 1e-6 of the signal's scale. Used by the ONNX Runtime backend
(:mod:`crpse.backends.ort`), whose graphs take spectrograms: with it, enhancing needs neither torch nor its import
time.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from crpse.spectral import SpecTransform


def window(transform: SpecTransform) -> np.ndarray:
    """The analysis/synthesis window, float64 ``[n_fft]`` (periodic Hann, or its square root)."""
    n = transform.n_fft
    win = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    return np.sqrt(win) if transform.window == "sqrthann" else win


def stft(transform: SpecTransform, wave: np.ndarray) -> np.ndarray:
    """Uncompressed STFT: ``wave [B, L]`` -> complex128 ``[B, F, T]``, ``T = 1 + L // hop`` (like ``torch.stft``)."""
    n_fft, hop = transform.n_fft, transform.hop_length
    half = n_fft // 2
    if wave.shape[-1] <= half:
        raise ValueError(f"the centred STFT's reflect padding needs more than {half} samples, got {wave.shape[-1]}")
    padded = np.pad(np.asarray(wave, dtype=np.float64), ((0, 0), (half, half)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]  # [B, T, n_fft]
    return np.fft.rfft(frames * window(transform), axis=-1).transpose(0, 2, 1)


def istft(transform: SpecTransform, spec: np.ndarray, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (like ``torch.istft(..., center=True, length=length)``): complex ``[B, F, T]`` ->
    float64 ``[B, length]``."""
    n_fft, hop = transform.n_fft, transform.hop_length
    batch, _, frames = spec.shape
    win = window(transform)
    pieces = np.fft.irfft(spec, n=n_fft, axis=1) * win[None, :, None]  # [B, n_fft, T]
    # overlap-add in hop-sized blocks: piece j of a frame lands in output block (frame + j)
    parts = -(-n_fft // hop)
    pieces = np.pad(pieces, ((0, 0), (0, parts * hop - n_fft), (0, 0))).reshape(batch, parts, hop, frames)
    out = np.zeros((batch, frames + parts - 1, hop))
    envelope = np.zeros((frames + parts - 1, hop))
    square = np.pad(win**2, (0, parts * hop - n_fft)).reshape(parts, hop)
    for j in range(parts):
        out[:, j : j + frames] += pieces[:, j].transpose(0, 2, 1)
        envelope[j : j + frames] += square[j]
    half = n_fft // 2
    out = out.reshape(batch, -1)[:, half : half + length]
    envelope = envelope.reshape(-1)[half : half + length]
    if out.shape[1] < length:
        raise ValueError(f"{frames} frames cover fewer than {length} samples")
    if (envelope < 1e-11).any():
        raise ValueError("the window envelope vanishes: the frames do not overlap enough to be inverted")
    return out / envelope


def _polar(spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(|z|, z / |z|)`` of a complex array, the phase factor 0 where ``|z| = 0`` (as ``exp(i*angle(z))`` times a
    zero magnitude): the same values as ``exp(1j * angle(z))`` up to rounding, at a fraction of its cost."""
    magnitude = np.abs(spec)
    phase = np.zeros_like(spec)
    np.divide(spec, magnitude, out=phase, where=magnitude > 0)
    return magnitude, phase


def compress(transform: SpecTransform, spec: np.ndarray) -> np.ndarray:
    """Amplitude compression (:meth:`SpecTransform.compress`) of a complex array of any shape."""
    if transform.transform == "exponent":
        if transform.exponent != 1:
            magnitude, phase = _polar(spec)
            spec = magnitude**transform.exponent * phase
        return spec * transform.factor
    if transform.transform == "log":
        magnitude, phase = _polar(spec)
        return np.log1p(magnitude) * phase * transform.factor
    return spec


def decompress(transform: SpecTransform, spec: np.ndarray) -> np.ndarray:
    """Inverse of :func:`compress`."""
    if transform.transform == "exponent":
        spec = spec / transform.factor
        if transform.exponent != 1:
            magnitude, phase = _polar(spec)
            spec = magnitude ** (1 / transform.exponent) * phase
        return spec
    if transform.transform == "log":
        magnitude, phase = _polar(spec / transform.factor)
        return np.expm1(magnitude) * phase
    return spec


def to_spec(transform: SpecTransform, wave: np.ndarray) -> np.ndarray:
    """Waveform ``[B, L]`` -> compressed complex64 spectrogram ``[B, 1, F, T]`` (:meth:`SpecTransform.to_spec`)."""
    if wave.ndim != 2:
        raise ValueError(f"to_spec expects a waveform batch [B, L], got shape {wave.shape}")
    return compress(transform, stft(transform, wave)).astype(np.complex64)[:, None]


def to_wave(transform: SpecTransform, spec: np.ndarray, length: int) -> np.ndarray:
    """Compressed complex spectrogram ``[B, 1, F, T]`` -> float32 waveform ``[B, length]``."""
    if spec.ndim != 4 or spec.shape[1] != 1:
        raise ValueError(f"to_wave expects a spectrogram [B, 1, F, T], got shape {spec.shape}")
    return istft(transform, decompress(transform, spec[:, 0].astype(np.complex128)), length).astype(np.float32)


def pad_frames(spec: np.ndarray, multiple: int, mode: Literal["zero", "reflect"] = "zero") -> np.ndarray:
    """Pad the frame axis (last) at the end to a multiple of ``multiple`` (:meth:`SpecTransform.pad_frames`)."""
    frames = spec.shape[-1]
    pad = (-frames) % multiple
    if pad == 0:
        return spec
    widths = [(0, 0)] * (spec.ndim - 1) + [(0, pad)]
    if mode == "zero":
        return np.pad(spec, widths)
    if mode == "reflect":
        if pad >= frames:
            raise ValueError(f"reflect padding of {pad} frames needs more than {frames} frames")
        return np.pad(spec, widths, mode="reflect")
    raise ValueError(f"mode must be 'zero' or 'reflect', got {mode!r}")
