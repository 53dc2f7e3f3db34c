"""Intrusive metrics: SI-SDR family against closed-form values, PESQ/ESTOI against the packages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soxr
from pesq import pesq
from pystoi import stoi

from crpse.metrics import energy_ratios, estoi_score, pesq_score, si_sdr


def harmonic_tone(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like signal ``[L]``: 20 harmonics of a gliding 120-Hz f0 with 4-Hz syllables."""
    time = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(120.0 + 20.0 * np.sin(2 * np.pi * 0.5 * time + seed)) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 21))
    return 0.4 * voice * np.clip(np.sin(2 * np.pi * 4.0 * time), 0.0, None) ** 2


def noise_at_snr(clean: np.ndarray, snr_db: float, seed: int = 0, orthogonal: bool = False) -> np.ndarray:
    """White noise scaled to ``snr_db`` relative to ``clean``; optionally made orthogonal to it."""
    noise = np.random.default_rng(seed).standard_normal(clean.shape[0])
    if orthogonal:
        noise -= np.dot(noise, clean) / np.dot(clean, clean) * clean
    return noise * np.sqrt(np.dot(clean, clean) / np.dot(noise, noise) / 10 ** (snr_db / 10))


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return harmonic_tone(2.0, 16000)


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 7.5, 20.0])
def test_si_sdr_of_orthogonal_noise_is_the_snr(clean: np.ndarray, snr_db: float) -> None:
    noisy = clean + noise_at_snr(clean, snr_db, orthogonal=True)
    assert si_sdr(clean, noisy) == pytest.approx(snr_db, abs=1e-9)


def test_si_sdr_of_random_noise_is_close_to_the_snr(clean: np.ndarray) -> None:
    assert si_sdr(clean, clean + noise_at_snr(clean, 5.0, seed=1)) == pytest.approx(5.0, abs=0.2)


def test_si_sdr_is_scale_invariant(clean: np.ndarray) -> None:
    estimate = clean + noise_at_snr(clean, 3.0, seed=2)
    assert si_sdr(clean, 0.01 * estimate) == pytest.approx(si_sdr(clean, estimate), abs=1e-9)
    assert si_sdr(5.0 * clean, estimate) == pytest.approx(si_sdr(clean, estimate), abs=1e-9)


def test_si_sdr_has_no_mean_removal(clean: np.ndarray) -> None:
    # A DC offset counts as distortion: <x + c, x> = ||x||^2 + c sum(x), error energy known in closed form.
    offset = np.full_like(clean, 0.05)
    estimate = clean + offset
    scale = np.dot(estimate, clean) / np.dot(clean, clean)
    expected = 10 * np.log10(np.sum((scale * clean) ** 2) / np.sum((estimate - scale * clean) ** 2))
    assert si_sdr(clean, estimate) == pytest.approx(expected, abs=1e-9)


def test_energy_ratios_closed_form(clean: np.ndarray) -> None:
    # estimate = 0.8 x + 0.5 n + a with x, n, a mutually orthogonal: every term is known exactly.
    noise = noise_at_snr(clean, 0.0, seed=3, orthogonal=True)
    artifact = np.random.default_rng(4).standard_normal(clean.shape[0])
    for basis in (clean, noise):
        artifact -= np.dot(artifact, basis) / np.dot(basis, basis) * basis
    artifact *= np.sqrt(0.01 * np.dot(clean, clean) / np.dot(artifact, artifact))
    estimate = 0.8 * clean + 0.5 * noise + artifact
    target, interference, artifacts = (0.64, 0.25, 0.01)  # energies relative to ||x||^2
    sdr, sir, sar = energy_ratios(clean, estimate, noise)
    assert sdr == pytest.approx(10 * math.log10(target / (interference + artifacts)), abs=1e-9)
    assert sir == pytest.approx(10 * math.log10(target / interference), abs=1e-9)
    assert sar == pytest.approx(10 * math.log10(target / artifacts), abs=1e-9)
    assert sdr == pytest.approx(si_sdr(clean, estimate), abs=1e-9)


def test_energy_ratios_projections_are_separate(clean: np.ndarray) -> None:
    # With noise correlated to the clean signal, the reference's separate projections differ from a joint one.
    noise = 0.3 * clean + noise_at_snr(clean, 0.0, seed=5)
    estimate = clean + 0.5 * noise
    x, n, y = clean, noise, estimate
    s_target = np.dot(y, x) / np.dot(x, x) * x
    e_noise = np.dot(y, n) / np.dot(n, n) * n
    e_art = y - s_target - e_noise
    expected = (
        10 * np.log10(np.sum(s_target**2) / np.sum((e_noise + e_art) ** 2)),
        10 * np.log10(np.sum(s_target**2) / np.sum(e_noise**2)),
        10 * np.log10(np.sum(s_target**2) / np.sum(e_art**2)),
    )
    np.testing.assert_allclose(energy_ratios(clean, estimate, noise), expected, rtol=0, atol=1e-9)


def test_degenerate_inputs(clean: np.ndarray) -> None:
    silent = np.zeros_like(clean)
    assert math.isnan(si_sdr(silent, clean))
    assert si_sdr(clean, 2.0 * clean) == math.inf
    assert all(math.isnan(v) for v in energy_ratios(silent, clean, clean))
    sdr, sir, sar = energy_ratios(clean, clean + noise_at_snr(clean, 10.0), silent)
    assert math.isnan(sir) and sdr == pytest.approx(sar)
    assert math.isnan(pesq_score(silent, clean, 16000))
    assert math.isnan(pesq_score(silent, silent, 16000))
    assert math.isnan(estoi_score(silent, clean, 16000))
    with pytest.raises(ValueError, match="same length"):
        si_sdr(clean, clean[:-1])
    with pytest.raises(ValueError, match="1-D"):
        pesq_score(np.stack([clean, clean]), np.stack([clean, clean]), 16000)


def test_pesq_and_estoi_equal_the_packages(clean: np.ndarray) -> None:
    noisy = clean + noise_at_snr(clean, 5.0, seed=6)
    assert pesq_score(clean, noisy, 16000) == pytest.approx(pesq(16000, clean, noisy, "wb"), abs=1e-6)
    assert estoi_score(clean, noisy, 16000) == pytest.approx(stoi(clean, noisy, 16000, extended=True), abs=1e-6)
    assert pesq_score(clean, clean, 16000) > 4.5 > pesq_score(clean, noisy, 16000)


def test_pesq_rates() -> None:
    clean_8k = harmonic_tone(2.0, 8000, seed=1)
    noisy_8k = clean_8k + noise_at_snr(clean_8k, 10.0, seed=7)
    assert pesq_score(clean_8k, noisy_8k, 8000) == pytest.approx(pesq(8000, clean_8k, noisy_8k, "nb"), abs=1e-6)
    clean_48k = harmonic_tone(2.0, 48000, seed=2)
    noisy_48k = clean_48k + noise_at_snr(clean_48k, 10.0, seed=8)
    expected = pesq(16000, soxr.resample(clean_48k, 48000, 16000), soxr.resample(noisy_48k, 48000, 16000), "wb")
    assert pesq_score(clean_48k, noisy_48k, 48000) == pytest.approx(expected, abs=1e-6)
    assert estoi_score(clean_48k, noisy_48k, 48000) == pytest.approx(
        stoi(clean_48k, noisy_48k, 48000, extended=True), abs=1e-6
    )
