"""DNSMOS: mel filterbank, P.808 features, and scores equal to speechmos's reference implementation."""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from crpse import dnsmos as dnsmos_module
from crpse.dnsmos import DNSMOS, dnsmos_unavailable_reason, log_mel_features, slaney_mel_filterbank

needs_dnsmos = pytest.mark.skipif(dnsmos_unavailable_reason() is not None, reason="needs crpse[eval]")


def speech_like(seconds: float = 3.0, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like test signal ``[L]``: harmonics of a gliding f0 with formant peaks and 3.5-Hz syllables."""
    time = np.arange(int(seconds * rate)) / rate
    f0 = 110.0 + 25.0 * np.sin(2 * np.pi * 0.6 * time + seed)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = np.zeros_like(time)
    for k in range(1, 60):
        frequency = k * f0
        formants = (
            1.0
            + 3.0 * np.exp(-(((frequency - 700.0) / 250.0) ** 2))
            + 1.5 * np.exp(-(((frequency - 1800.0) / 350.0) ** 2))
        )
        voice += np.where(frequency < 0.45 * rate, formants / k, 0.0) * np.sin(k * phase)
    syllables = np.clip(np.sin(2 * np.pi * 3.5 * time + 0.3 * seed), 0.0, None) ** 1.5
    speech = voice * syllables
    return 0.3 * speech / np.max(np.abs(speech))


def add_noise(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """``clean`` plus white Gaussian noise at ``snr_db``."""
    noise = np.random.default_rng(seed).standard_normal(clean.shape[0])
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return clean + noise


# Scores of speechmos 0.0.1.1 (speechmos.dnsmos.run(x.astype(np.float32), 16000) with librosa 0.11.0,
# onnxruntime 1.32.0, in a throwaway venv) for the signals below: (sig, bak, ovrl, p808).
SPEECHMOS_REFERENCE = {
    "clean": (1.4804568583406195, 3.2395816592219218, 1.4105580975509107, 2.680978536605835),
    "noisy_5db": (2.5424399655312846, 1.7230533878145693, 1.4430118069679618, 2.350882053375244),
    "long_11s": (1.4228299964176214, 3.315920553163042, 1.412882837887441, 2.851600170135498),
}


def reference_signals() -> dict[str, np.ndarray]:
    clean = speech_like(2.4, 16000, seed=0)  # repeated to 9.6 s: a single 9.01-s window
    return {
        "clean": clean,
        "noisy_5db": add_noise(clean, 5.0, seed=0),
        "long_11s": speech_like(11.0, 16000, seed=1),  # two 9.01-s windows, averaged
    }


@pytest.fixture(scope="module")
def model() -> DNSMOS:
    if dnsmos_unavailable_reason() is not None:
        pytest.skip("needs crpse[eval] (onnxruntime + speechmos)")
    return DNSMOS()


@pytest.fixture(scope="module")
def reference_scores(model: DNSMOS) -> dict[str, dict[str, float]]:
    """Our scores of :func:`reference_signals` (float32, 16 kHz)."""
    return {name: model(audio.astype(np.float32), 16000) for name, audio in reference_signals().items()}


def direct_slaney_filter(sample_rate: int, n_fft: int, n_mels: int, band: int, bin_index: int) -> float:
    """One filterbank weight straight from the Slaney formulas, scalar by scalar."""

    def hz_to_mel(hz: float) -> float:
        return hz * 3 / 200 if hz < 1000 else 15 + 27 * math.log(hz / 1000) / math.log(6.4)

    def mel_to_hz(mel: float) -> float:
        return mel * 200 / 3 if mel < 15 else 1000 * 6.4 ** ((mel - 15) / 27)

    top = hz_to_mel(sample_rate / 2)
    left, centre, right = (mel_to_hz(top * (band + i) / (n_mels + 1)) for i in range(3))
    frequency = bin_index * sample_rate / n_fft
    if frequency <= left or frequency >= right:
        return 0.0
    slope = (frequency - left) / (centre - left) if frequency <= centre else (right - frequency) / (right - centre)
    return slope * 2 / (right - left)


def test_slaney_filterbank_matches_direct_formula() -> None:
    weights = slaney_mel_filterbank(16000, 321, 120)
    assert weights.shape == (120, 161) and weights.dtype == np.float32
    expected = np.array([[direct_slaney_filter(16000, 321, 120, m, k) for k in range(161)] for m in range(120)])
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-9)
    other = slaney_mel_filterbank(22050, 2048, 128)
    assert other.shape == (128, 1025)
    assert other[40, 60] == pytest.approx(direct_slaney_filter(22050, 2048, 128, 40, 60), rel=1e-5, abs=1e-9)


def test_slaney_filterbank_matches_librosa_values() -> None:
    # Values of librosa.filters.mel(sr=16000, n_fft=321, n_mels=120) (librosa 0.11.0).
    weights = slaney_mel_filterbank(16000, 321, 120)
    assert weights.sum() == pytest.approx(2.3975034, rel=1e-6)
    assert weights.max() == pytest.approx(0.04009309, rel=1e-6)
    for band, peak_bin, peak in [
        (0, 1, 2.1270396e-05),
        (10, 6, 1.2762238e-04),
        (60, 34, 0.014328803),
        (119, 156, 0.004452568),
    ]:
        assert int(weights[band].argmax()) == peak_bin
        assert weights[band].max() == pytest.approx(peak, rel=1e-6)


def test_log_mel_features_shape_and_scale() -> None:
    segment = speech_like(9.01, 16000).astype(np.float32)[: 144160 - 160]
    features = log_mel_features(segment)
    assert features.shape == (900, 120) and features.dtype == np.float32
    assert features.max() == pytest.approx(1.0)  # the loudest bin is at 0 dB -> (0 + 40) / 40
    assert features.min() >= (-80.0 + 40.0) / 40.0 - 1e-6


@needs_dnsmos
@pytest.mark.parametrize("name", list(SPEECHMOS_REFERENCE))
def test_scores_equal_speechmos_reference(reference_scores: dict[str, dict[str, float]], name: str) -> None:
    scores = reference_scores[name]
    got = [scores[key] for key in ("sig", "bak", "ovrl", "p808")]
    np.testing.assert_allclose(got, SPEECHMOS_REFERENCE[name], rtol=0, atol=1e-4)


@needs_dnsmos
@pytest.mark.skipif(importlib.util.find_spec("librosa") is None, reason="speechmos itself needs librosa")
def test_scores_equal_speechmos_live(model: DNSMOS) -> None:
    from speechmos import dnsmos as speechmos_dnsmos

    audio = reference_signals()["noisy_5db"].astype(np.float32)
    expected = speechmos_dnsmos.run(audio, 16000)
    scores = model(audio, 16000)
    for key in ("sig", "bak", "ovrl", "p808"):
        assert scores[key] == pytest.approx(float(expected[f"{key}_mos"]), abs=1e-5)


@needs_dnsmos
def test_noise_lowers_background_and_p808_scores(reference_scores: dict[str, dict[str, float]]) -> None:
    # The synthetic voice is not speech enough for OVRL/SIG (see the espeak-ng test for those).
    clean_scores, noisy_scores = reference_scores["clean"], reference_scores["noisy_5db"]
    for key in ("sig", "bak", "ovrl", "p808"):
        assert 1.0 <= clean_scores[key] <= 5.0 and 1.0 <= noisy_scores[key] <= 5.0
    assert noisy_scores["bak"] < clean_scores["bak"] - 1.0
    assert noisy_scores["p808"] < clean_scores["p808"] - 0.2


@needs_dnsmos
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_real_speech_clean_scores_above_noisy(model: DNSMOS, tmp_path) -> None:
    import soundfile as sf

    wav = tmp_path / "speech.wav"
    text = "The quick brown fox jumps over the lazy dog, and then it runs away."
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    speech, rate = sf.read(wav, dtype="float64")
    speech = speech[: int(2.4 * rate)]  # repeated to 9.6 s inside DNSMOS: a single 9.01-s window
    speech = 0.5 * speech / np.max(np.abs(speech))
    clean_scores = model(speech, rate)
    noisy_scores = model(np.clip(add_noise(speech, 5.0, seed=4), -1, 1), rate)
    assert clean_scores["ovrl"] > noisy_scores["ovrl"] + 0.5
    assert clean_scores["bak"] > noisy_scores["bak"] + 1.0


@needs_dnsmos
def test_resampling_and_channel_handling(model: DNSMOS) -> None:
    import soxr

    audio_48k = speech_like(2.4, 48000, seed=5)
    expected = model(soxr.resample(audio_48k.astype(np.float32), 48000, 16000), 16000)
    assert model(audio_48k, 48000) == pytest.approx(expected, abs=1e-9)
    stereo = np.stack([audio_48k, audio_48k])
    np.testing.assert_array_equal(model._prepare(stereo, 48000), model._prepare(audio_48k, 48000))


@needs_dnsmos
def test_invalid_input_is_rejected(model: DNSMOS) -> None:
    with pytest.raises(ValueError, match="NaN"):
        model(np.full(16000, np.nan), 16000)
    with pytest.raises(ValueError, match="non-empty"):
        model(np.zeros(0), 16000)


def test_missing_models_give_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_models() -> None:
        raise ImportError("DNSMOS needs the ONNX models of the 'speechmos' package; install crpse[eval]")

    monkeypatch.setattr(dnsmos_module, "find_model_dir", no_models)
    reason = dnsmos_unavailable_reason()
    assert reason is not None and "crpse[eval]" in reason


def test_importing_does_not_load_speechmos_or_onnxruntime() -> None:
    code = (
        "import sys, crpse.dnsmos, crpse.metrics, crpse.evaluation, crpse.plots;"
        "bad = [m for m in ('speechmos', 'speechmos.dnsmos', 'onnxruntime', 'librosa', 'pesq', 'pystoi',"
        " 'matplotlib', 'torch') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
