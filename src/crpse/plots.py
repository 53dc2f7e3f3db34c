"""Evaluation figures: spectrogram comparisons and metric histograms, written as PNG files.

matplotlib is imported inside the functions and used through its object API (``Figure`` +
``savefig``), so nothing here touches pyplot's global state or the interactive backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["log_magnitude", "metric_histograms", "safe_file_name", "spectrogram_comparison"]


def safe_file_name(name: str) -> str:
    """Turn a relative audio path such as ``"spk1/a.wav"`` into a flat file stem (``"spk1__a"``)."""
    stem = name.rsplit(".", 1)[0] if "." in Path(name).name else name
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem.replace("/", "__"))


def log_magnitude(audio: np.ndarray, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Log-magnitude STFT in dB (periodic Hann window, no centring).

    Args:
        audio: samples ``[L]``.
        n_fft: FFT size (window length).
        hop: hop in samples.

    Returns:
        ``[n_fft // 2 + 1, frames]`` magnitudes in dB (floored at -200 dB).
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.shape[0] < n_fft:
        audio = np.pad(audio, (0, n_fft - audio.shape[0]))
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    magnitude = np.abs(np.fft.rfft(frames * window, axis=-1)).T
    return 20.0 * np.log10(np.maximum(magnitude, 1e-10))


def spectrogram_comparison(
    signals: Mapping[str, np.ndarray],
    sample_rate: int,
    path: str | Path,
    title: str | None = None,
    dynamic_range_db: float = 80.0,
) -> Path:
    """Stack the log-magnitude spectrograms of several signals on one colour scale and save a PNG.

    Args:
        signals: label -> samples ``[L]``, drawn top to bottom (e.g. noisy, enhanced, clean).
        sample_rate: rate of all signals in Hz.
        path: output PNG path.
        title: figure title (e.g. the file name).
        dynamic_range_db: the colour scale spans this many dB below the loudest bin of all signals.

    Returns:
        ``path``.
    """
    from matplotlib.figure import Figure

    if not signals:
        raise ValueError("spectrogram_comparison needs at least one signal")
    n_fft = 512 if sample_rate >= 16000 else 256
    spectra = {label: log_magnitude(audio, n_fft, n_fft // 4) for label, audio in signals.items()}
    top = max(float(spec.max()) for spec in spectra.values())
    figure = Figure(figsize=(10, 2.6 * len(spectra)), layout="constrained")
    axes = figure.subplots(len(spectra), 1, sharex=True, squeeze=False)[:, 0]
    image = None
    for axis, (label, spec) in zip(axes, spectra.items(), strict=True):
        seconds = spec.shape[1] * (n_fft // 4) / sample_rate
        image = axis.imshow(
            spec,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=top - dynamic_range_db,
            vmax=top,
            extent=(0.0, seconds, 0.0, sample_rate / 2000.0),
        )
        axis.set_ylabel(f"{label}\nkHz")
    axes[-1].set_xlabel("time (s)")
    if title:
        figure.suptitle(title)
    figure.colorbar(image, ax=list(axes), label="dB")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def metric_histograms(
    rows: Sequence[Mapping[str, float | str]],
    directory: str | Path,
    labels: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write one histogram PNG per metric column (``hist_<metric>.png``), ignoring non-finite values.

    Args:
        rows: per-file rows from :func:`crpse.evaluation.evaluate_dirs`.
        directory: output folder (created if needed).
        labels: column -> axis label (default: the column name).

    Returns:
        The written paths.
    """
    from matplotlib.figure import Figure

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row if key != "name"))
    written = []
    for column in columns:
        values = np.array([float(row.get(column, math.nan)) for row in rows], dtype=np.float64)
        values = values[np.isfinite(values)]
        label = (labels or {}).get(column, column)
        figure = Figure(figsize=(5, 3.5), layout="constrained")
        axis = figure.subplots()
        if values.size:
            axis.hist(values, bins=min(30, max(5, values.size // 2)), color="tab:blue", edgecolor="white")
            axis.axvline(values.mean(), color="black", linestyle="--", label=f"mean {values.mean():.2f}")
            axis.legend()
        axis.set_xlabel(label)
        axis.set_ylabel("files")
        axis.set_title(f"{label} ({values.size} files)")
        path = directory / f"hist_{safe_file_name(column)}.png"
        figure.savefig(path, dpi=100)
        written.append(path)
    return written
