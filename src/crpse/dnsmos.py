"""DNSMOS (P.835 SIG/BAK/OVRL and P.808 MOS) offline, with onnxruntime and numpy only.

The ONNX models are the ones shipped inside the PyPI ``speechmos`` wheel (``crpse[eval]`` extra). The
package is only *located* (``importlib.util.find_spec``), never imported: ``speechmos.dnsmos`` would
pull in librosa. The pre-processing reproduces speechmos / Microsoft's ``dnsmos_local.py`` step by step,
so the scores equal ``speechmos.dnsmos.run(path, 16000)`` up to float32 rounding:

* audio is mixed to mono, resampled to 16 kHz with soxr (as ``librosa.load(sr=16000)`` does) and kept
  as float32 (full scale = 1);
* a clip shorter than 9.01 s is repeated (doubled) until it is long enough; longer clips are scored on
  9.01-s windows with a 1-s hop and the scores averaged (windows that come out one sample short because
  of the reference's float rounding are skipped, like the reference does);
* SIG/BAK/OVRL come from ``sig_bak_ovr.onnx`` on the raw window, mapped through the DNSMOS polynomial
  fits; P.808 comes from ``model_v8.onnx`` on a 120-band Slaney mel power spectrogram (n_fft 321,
  hop 160, centred, zero padding, periodic Hann) of the window minus its last 160 samples, in dB
  relative to its maximum (80 dB floor), scaled as ``(dB + 40) / 40``.
"""

from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DNSMOS",
    "DNSMOS_SAMPLE_RATE",
    "dnsmos_unavailable_reason",
    "find_model_dir",
    "log_mel_features",
    "slaney_mel_filterbank",
]

#: The rate the DNSMOS networks were trained at; other rates are resampled to it.
DNSMOS_SAMPLE_RATE = 16000
#: Window length of the networks in seconds (144160 samples at 16 kHz).
INPUT_SECONDS = 9.01
#: Mel spectrogram of the P.808 model: n_fft = frame 320 + 1, hop 160, 120 bands.
MEL_N_FFT = 321
MEL_HOP = 160
MEL_BANDS = 120

# Third-order (personalised) and second-order polynomial maps from raw network outputs to MOS.
_POLY_STANDARD = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}
_POLY_PERSONALIZED = {
    "sig": (-0.01019296, 0.02751166, 1.19576786, -0.24348726),
    "bak": (-0.04976499, 0.44276479, -0.1644611, 0.96883132),
    "ovrl": (-0.00533021, 0.005101, 1.18058466, -0.11236046),
}

_INSTALL_HINT = "install the evaluation extra: pip install 'crpse[eval]' (onnxruntime + speechmos)"


def find_model_dir() -> Path:
    """Locate the ``speechmos`` package directory that holds ``dnsmos_models/`` without importing it.

    Raises:
        ImportError: if ``speechmos`` is not installed or lacks the ONNX files.
    """
    spec = importlib.util.find_spec("speechmos")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        if (Path(location) / "dnsmos_models" / "sig_bak_ovr.onnx").is_file():
            return Path(location)
    raise ImportError(f"DNSMOS needs the ONNX models of the 'speechmos' package; {_INSTALL_HINT}")


def dnsmos_unavailable_reason() -> str | None:
    """Return why DNSMOS cannot run here (a sentence with the fix), or None if it can."""
    if importlib.util.find_spec("onnxruntime") is None:
        return f"DNSMOS needs onnxruntime, which is not installed; {_INSTALL_HINT}"
    try:
        find_model_dir()
    except ImportError as error:
        return str(error)
    return None


def _hz_to_mel(frequency: np.ndarray) -> np.ndarray:
    """Slaney's auditory-toolbox mel scale: linear below 1 kHz (3 mel / 200 Hz), logarithmic above."""
    frequency = np.asarray(frequency, dtype=np.float64)
    linear_step = 200.0 / 3.0
    break_mel = 1000.0 / linear_step
    log_step = math.log(6.4) / 27.0
    mel = frequency / linear_step
    above = frequency >= 1000.0
    return np.where(above, break_mel + np.log(np.maximum(frequency, 1e-300) / 1000.0) / log_step, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    linear_step = 200.0 / 3.0
    break_mel = 1000.0 / linear_step
    log_step = math.log(6.4) / 27.0
    return np.where(mel >= break_mel, 1000.0 * np.exp(log_step * (mel - break_mel)), linear_step * mel)


def slaney_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular mel filters on the Slaney scale with Slaney (constant-area) normalisation.

    Band ``m`` rises linearly from mel point ``m`` to ``m + 1`` and falls to ``m + 2`` (``n_mels + 2``
    points equally spaced in mel between ``fmin`` and ``fmax``), and is scaled by
    ``2 / (f[m + 2] - f[m])`` so each filter has unit area in Hz. This is the filterbank librosa builds
    by default (``htk=False, norm="slaney"``).

    Args:
        sample_rate: audio rate in Hz.
        n_fft: FFT size; the filters cover the ``n_fft // 2 + 1`` non-negative frequency bins.
        n_mels: number of bands.
        fmin: lowest edge in Hz.
        fmax: highest edge in Hz (default: Nyquist).

    Returns:
        float32 weights ``[n_mels, n_fft // 2 + 1]``.
    """
    fmax = sample_rate / 2.0 if fmax is None else fmax
    bin_frequencies = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_points = np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2)
    edges = _mel_to_hz(mel_points)
    widths = np.diff(edges)
    offsets = edges[:, None] - bin_frequencies[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    return slaney_mel_filterbank(DNSMOS_SAMPLE_RATE, MEL_N_FFT, MEL_BANDS)


def log_mel_features(segment: np.ndarray) -> np.ndarray:
    """P.808 input features of one 16-kHz segment, as speechmos computes them.

    Args:
        segment: float32 audio ``[L]`` at 16 kHz.

    Returns:
        float32 ``[frames, 120]`` with ``frames = 1 + L // 160``: ``(power_dB - max_dB + 40) / 40``,
        floored 80 dB below the maximum.
    """
    half = MEL_N_FFT // 2
    padded = np.pad(np.asarray(segment), (half, half))
    frames = np.lib.stride_tricks.sliding_window_view(padded, MEL_N_FFT)[::MEL_HOP]  # [T, n_fft]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(MEL_N_FFT) / MEL_N_FFT)  # periodic Hann
    # float64 FFT stored as complex64, then float32 power, like librosa with float32 input.
    spectrum = np.fft.rfft(frames * window, axis=-1).astype(np.complex64)  # [T, F]
    power = (np.abs(spectrum) ** 2).astype(np.float32)
    mel_power = power @ _mel_basis().T  # [T, 120]
    amin = np.float32(1e-10)
    decibels = np.float32(10.0) * np.log10(np.maximum(amin, mel_power))
    decibels -= np.float32(10.0) * np.log10(np.maximum(amin, mel_power.max()))
    decibels = np.maximum(decibels, decibels.max() - np.float32(80.0))
    return ((decibels + np.float32(40.0)) / np.float32(40.0)).astype(np.float32)


class DNSMOS:
    """Holds the two DNSMOS onnxruntime sessions; call it on audio to get the four MOS scores.

    Args:
        personalized: use the personalised (pDNSMOS) SIG/BAK/OVRL model and its polynomial fits.
        num_threads: onnxruntime intra-op threads (None: onnxruntime's default, all cores).
        model_dir: directory containing ``dnsmos_models/`` (default: the installed speechmos package).

    Raises:
        ImportError: if onnxruntime or the speechmos models are missing (the message says what to
            install).

    Example::

        scores = DNSMOS()(audio, 16000)   # {"sig": 3.4, "bak": 4.1, "ovrl": 3.2, "p808": 3.6}
    """

    def __init__(
        self,
        personalized: bool = False,
        num_threads: int | None = None,
        model_dir: str | Path | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise ImportError(f"DNSMOS needs onnxruntime; {_INSTALL_HINT}") from error
        root = Path(model_dir) if model_dir is not None else find_model_dir()
        primary = root / ("pdnsmos_models" if personalized else "dnsmos_models") / "sig_bak_ovr.onnx"
        p808 = root / "dnsmos_models" / "model_v8.onnx"
        for path in (primary, p808):
            if not path.is_file():
                raise ImportError(f"DNSMOS model file {path} is missing; {_INSTALL_HINT}")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self.personalized = personalized
        self._primary = ort.InferenceSession(str(primary), options, providers=providers)
        self._p808 = ort.InferenceSession(str(p808), options, providers=providers)
        coefficients = _POLY_PERSONALIZED if personalized else _POLY_STANDARD
        self._polynomials = {name: np.poly1d(c) for name, c in coefficients.items()}

    def _prepare(self, audio: Any, sample_rate: int) -> np.ndarray:
        """Mono float32 16-kHz audio ``[L]`` from ``[L]`` or ``[C, L]`` input at ``sample_rate``."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=0, dtype=np.float32)
        if audio.ndim != 1 or audio.size == 0:
            raise ValueError(f"DNSMOS takes non-empty audio [L] or [C, L]; got shape {audio.shape}")
        if not np.isfinite(audio).all():
            raise ValueError("DNSMOS input contains NaN or inf samples")
        from crpse.audio import SCORING_RESAMPLE_QUALITY, resample

        return resample(audio, sample_rate, DNSMOS_SAMPLE_RATE, SCORING_RESAMPLE_QUALITY)

    def __call__(self, audio: Any, sample_rate: int) -> dict[str, float]:
        """Score one clip.

        Args:
            audio: float samples ``[L]`` or ``[C, L]`` (channels are averaged), full scale = 1. Louder
                float audio is scored as it is, like speechmos does for files (its array input rejects
                peaks above 1).
            sample_rate: rate of ``audio`` in Hz (resampled to 16 kHz with soxr if different).

        Returns:
            ``{"sig", "bak", "ovrl", "p808"}`` mean opinion scores (about 1 to 5).
        """
        audio = self._prepare(audio, sample_rate)
        rate = DNSMOS_SAMPLE_RATE
        window = int(INPUT_SECONDS * rate)
        while audio.shape[0] < window:
            audio = np.concatenate([audio, audio])
        # Same arithmetic as the reference, including its float rounding of the window bounds.
        num_windows = int(np.floor(audio.shape[0] / rate) - INPUT_SECONDS) + 1
        totals = {"sig": [], "bak": [], "ovrl": [], "p808": []}
        for index in range(num_windows):
            segment = audio[int(index * rate) : int((index + INPUT_SECONDS) * rate)]
            if segment.shape[0] < window:
                continue
            raw = self._primary.run(None, {"input_1": segment[np.newaxis, :]})[0][0]
            features = log_mel_features(segment[:-MEL_HOP])[np.newaxis]
            p808 = self._p808.run(None, {"input_1": features})[0][0][0]
            for name, value in zip(("sig", "bak", "ovrl"), raw, strict=True):
                totals[name].append(self._polynomials[name](value))
            totals["p808"].append(p808)
        return {name: float(np.mean(values)) for name, values in totals.items()}
