"""Spectral transform: round trips, frame counts, padding, presets."""

from __future__ import annotations

import pytest
import torch

from crpse.spectral import SpecTransform


@pytest.mark.parametrize("transform", ["exponent", "log", "none"])
@pytest.mark.parametrize("length", [8064, 16000, 12345])
def test_round_trip(transform: str, length: int) -> None:
    tr = SpecTransform(transform=transform)
    wave = torch.randn(2, length, generator=torch.Generator().manual_seed(1)) * 0.3
    spec = tr.to_spec(wave)
    assert spec.shape == (2, 1, 256, tr.num_frames(length)) and spec.is_complex()
    torch.testing.assert_close(tr.to_wave(spec, length), wave, atol=2e-5, rtol=0)


def test_compression_values() -> None:
    tr = SpecTransform()
    z = torch.tensor([4.0 + 0j, -9j, 0j])
    torch.testing.assert_close(tr.compress(z), torch.tensor([0.3 + 0j, -0.45j, 0j]))
    torch.testing.assert_close(tr.decompress(tr.compress(z)), z)


def test_zero_padding_keeps_content() -> None:
    spec = torch.randn(1, 1, 256, 126, dtype=torch.complex64)
    padded = SpecTransform.pad_frames(spec, 64)
    assert padded.shape[-1] == 128
    torch.testing.assert_close(padded[..., :126], spec)
    assert padded[..., 126:].abs().max() == 0
    assert SpecTransform.pad_frames(padded, 64) is padded


def test_reflect_padding() -> None:
    spec = torch.randn(2, 1, 8, 60, dtype=torch.complex64)
    padded = SpecTransform.pad_frames(spec, 64, mode="reflect")
    assert padded.shape == (2, 1, 8, 64)
    torch.testing.assert_close(padded[..., 60], spec[..., 58])


def test_48k_preset_has_768_bins() -> None:
    tr = SpecTransform.preset("48k")
    assert tr.num_bins == 768 and tr.hop_length == 384
    wave = torch.randn(1, 48000)
    torch.testing.assert_close(tr.to_wave(tr.to_spec(wave), 48000), wave, atol=1e-4, rtol=0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        SpecTransform(transform="cube")
    with pytest.raises(ValueError):
        SpecTransform().to_spec(torch.zeros(16000))
    with pytest.raises(ValueError):
        SpecTransform().to_wave(torch.zeros(1, 256, 10, dtype=torch.complex64), 1000)
