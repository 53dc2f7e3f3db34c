"""The band above the model's Nyquist frequency (crpse.upper_band): kept by default, weighted by the model's gain
below it, or dropped; exact reconstruction when the model changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from crpse.cli import main
from crpse.enhancer import Enhancer
from crpse.upper_band import band_gain, validate_upper_band


def _band_energy(audio: np.ndarray, rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[-1], 1.0 / rate)
    return float(spectrum[..., (freqs >= low) & (freqs < high)].sum())


def _white(seconds: float, rate: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((channels, int(seconds * rate)))).astype(np.float32)


@pytest.fixture(scope="module")
def bundled() -> Enhancer:
    return Enhancer(window=1.0, overlap=0.25, batch_size=3)


def _with_model(enhancer: Enhancer, fake, upper_band: str) -> Enhancer:
    """``enhancer`` with its network replaced by ``fake(waves) -> waves`` (a model that changes nothing, halves...)."""
    other = Enhancer(enhancer.model, window=1.0, overlap=0.25, batch_size=3, upper_band=upper_band)
    other.enhance_windows = lambda waves, starts, channels: fake(waves)  # type: ignore[method-assign]
    return other


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_a_model_that_changes_nothing_returns_the_input_exactly(bundled: Enhancer, rate: int) -> None:
    audio = _white(2.3, rate)
    kept = _with_model(bundled, lambda w: w.copy(), "keep")(audio, rate)
    interior = slice(rate // 100, -rate // 100)  # the resamplers' edges: measured, differences within 5 ms of the ends
    assert np.abs(kept - audio)[:, interior].max() < 1e-6
    assert 10 * np.log10(np.mean((kept - audio) ** 2) / np.mean(audio**2)) < -55  # measured: -60.7 dB at 44.1 kHz
    dropped = _with_model(bundled, lambda w: w.copy(), "drop")(audio, rate)
    assert _band_energy(dropped, rate, 8200, rate / 2) < 1e-6 * _band_energy(audio, rate, 8200, rate / 2)


def test_the_upper_band_follows_the_models_gain(bundled: Enhancer) -> None:
    rate = 48000
    audio = _white(2.0, rate)
    halved = _with_model(bundled, lambda w: 0.5 * w, "keep")(audio, rate)
    ratio = _band_energy(halved, rate, 8500, 24000) / _band_energy(audio, rate, 8500, 24000)
    assert ratio == pytest.approx(0.25, rel=0.01)
    assert np.abs(halved - 0.5 * audio)[:, rate // 100 : -rate // 100].max() < 1e-6


def test_band_gain_measures_the_top_of_the_models_band() -> None:
    rng = np.random.default_rng(3)
    noisy = rng.standard_normal((2, 16000)).astype(np.float32)
    assert band_gain(noisy, 0.25 * noisy, 16000, 510, 128) == pytest.approx(0.25, abs=1e-5)
    assert band_gain(noisy, 3.0 * noisy, 16000, 510, 128).max() == 1.0  # never amplified
    # the model removed everything above 3 kHz: nothing of the upper band survives
    spectrum = np.fft.rfft(noisy, axis=-1)
    spectrum[:, np.fft.rfftfreq(16000, 1 / 16000) > 3000] = 0
    low_only = np.fft.irfft(spectrum, n=16000, axis=-1).astype(np.float32)
    gain = band_gain(noisy, low_only, 16000, 510, 128)
    assert gain.shape == noisy.shape and gain[:, 512:-512].max() < 0.01
    # the first half silenced by the model, the second kept: the gain follows in time
    switched = noisy.copy()
    switched[:, :8000] = 0
    gain = band_gain(noisy, switched, 16000, 510, 128)
    assert gain[:, :7500].max() < 0.01 and gain[:, 8500:].min() > 0.99


def test_the_bundled_model_keeps_an_attenuated_upper_band(bundled: Enhancer) -> None:
    rate = 48000
    audio = _white(2.0, rate, channels=1)
    keep = Enhancer(bundled.model, upper_band="keep")(audio, rate)
    drop = Enhancer(bundled.model, upper_band="drop")(audio, rate)
    upper_in = _band_energy(audio, rate, 8500, 24000)
    assert _band_energy(drop, rate, 8500, 24000) < 1e-6 * upper_in  # the behaviour of before: nothing up there
    kept = _band_energy(keep, rate, 8500, 24000) / upper_in
    below = _band_energy(keep, rate, 4000, 7600) / _band_energy(audio, rate, 4000, 7600)
    assert 0 < kept < 0.1 and kept == pytest.approx(below, rel=1.0)  # attenuated as the model attenuated 4-7.6 kHz
    # the band the model works on is the same either way
    low = slice(0, None)
    assert _band_energy(keep - drop, rate, 0, 7000) < 1e-4 * _band_energy(drop[low], rate, 0, 7000)


def test_at_the_models_rate_keep_and_drop_are_identical(bundled: Enhancer) -> None:
    audio = _white(1.0, 16000, channels=1)
    keep = Enhancer(bundled.model, upper_band="keep")(audio, 16000)
    np.testing.assert_array_equal(keep, Enhancer(bundled.model, upper_band="drop")(audio, 16000))


def test_invalid_choice() -> None:
    assert validate_upper_band("drop") == "drop"
    with pytest.raises(ValueError, match="upper_band must be one of keep, drop"):
        Enhancer(upper_band="half")


def test_cli_upper_band_keep_and_drop(tmp_path: Path) -> None:
    rate = 44100
    source = tmp_path / "in.flac"
    audio = _white(1.5, rate, channels=2)
    sf.write(source, audio.T, rate, subtype="PCM_24")
    assert main(["enhance", str(source), "-o", str(tmp_path / "keep"), "-q"]) == 0  # keep is the default
    assert main(["enhance", str(source), "-o", str(tmp_path / "drop"), "--upper-band", "drop", "-q"]) == 0
    keep, _ = sf.read(tmp_path / "keep" / "in.flac", always_2d=True)
    drop, _ = sf.read(tmp_path / "drop" / "in.flac", always_2d=True)
    assert keep.shape == drop.shape == audio.T.shape
    upper_in = _band_energy(audio, rate, 8500, 22050)
    assert _band_energy(keep.T, rate, 8500, 22050) > 1e3 * _band_energy(drop.T, rate, 8500, 22050)
    assert _band_energy(keep.T, rate, 8500, 22050) < upper_in
