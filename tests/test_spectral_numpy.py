"""The numpy STFT of the torch-free inference path (crpse.spectral_numpy) against crpse.spectral's torch one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crpse import spectral_numpy
from crpse.spectral import SpecTransform


def _wave(batch: int, length: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((batch, length)) * 0.3).astype(np.float32)


@pytest.mark.parametrize(
    "transform",
    [SpecTransform(), SpecTransform(transform="log"), SpecTransform(transform="none", window="sqrthann"),
     SpecTransform.preset("48k")],
    ids=["16k", "log", "none-sqrthann", "48k"],
)
@pytest.mark.parametrize("length", [8064, 12345])
def test_spectrogram_matches_torch(transform: SpecTransform, length: int) -> None:
    wave = _wave(2, length)
    plain = transform.stft(torch.from_numpy(wave)).numpy()
    assert np.abs(spectral_numpy.stft(transform, wave) - plain).max() <= 1e-6 * np.abs(plain).max()
    expected = transform.to_spec(torch.from_numpy(wave)).numpy()
    spec = spectral_numpy.to_spec(transform, wave)
    assert spec.shape == expected.shape == (2, 1, transform.num_bins, transform.num_frames(length))
    assert spec.dtype == np.complex64
    # the exponent compression (|z|**0.5) magnifies torch's float32 rounding in near-empty bins a few times
    assert np.abs(spec - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize(
    "transform",
    [SpecTransform(), SpecTransform(transform="log"), SpecTransform.preset("48k")],
    ids=["16k", "log", "48k"],
)
def test_waveform_matches_torch(transform: SpecTransform) -> None:
    length = 12345
    spec = transform.to_spec(torch.from_numpy(_wave(3, length, seed=1)))
    spec = spec * (1 + 0.2 * torch.randn(spec.shape, generator=torch.Generator().manual_seed(2)))  # not a true STFT
    expected = transform.to_wave(spec, length).numpy()
    wave = spectral_numpy.to_wave(transform, spec.numpy(), length)
    assert wave.shape == expected.shape == (3, length) and wave.dtype == np.float32
    assert np.abs(wave - expected).max() <= 1e-6 * np.abs(expected).max()


def test_round_trip() -> None:
    transform = SpecTransform()
    wave = _wave(2, 16000, seed=3)
    back = spectral_numpy.to_wave(transform, spectral_numpy.to_spec(transform, wave), 16000)
    assert np.abs(back - wave).max() < 2e-6


@pytest.mark.parametrize("mode", ["zero", "reflect"])
def test_frame_padding_matches_torch(mode: str) -> None:
    spec = (torch.randn(2, 1, 8, 60, dtype=torch.complex64, generator=torch.Generator().manual_seed(4)))
    expected = SpecTransform.pad_frames(spec, 64, mode=mode).numpy()  # type: ignore[arg-type]
    assert np.array_equal(spectral_numpy.pad_frames(spec.numpy(), 64, mode), expected)  # type: ignore[arg-type]


def test_short_input_is_refused() -> None:
    with pytest.raises(ValueError, match="more than 255 samples"):
        spectral_numpy.stft(SpecTransform(), np.zeros((1, 200), np.float32))
