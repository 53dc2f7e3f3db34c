"""Speech/sound activity: find active regions by frame energy, trim silence, fade out."""

from __future__ import annotations

import numpy as np

from crpse.corpus.sources import SAMPLE_RATE


def active_regions(audio: np.ndarray, threshold_db: float = -40.0, frame: int = 160,
                   min_pause: float = 0.3, margin: float = 0.04) -> list[tuple[int, int]]:
    """Find the speech regions of a signal, split at pauses.

    A 10 ms frame is active when its energy is within ``threshold_db`` of the loudest frame.
    Pauses shorter than ``min_pause`` seconds are bridged; regions get ``margin`` seconds each side.

    Args:
        audio: Signal ``[L]`` at 16 kHz.
        threshold_db: Activity threshold relative to the loudest frame.
        frame: Frame length in samples.
        min_pause: Shortest pause (s) that separates two regions.
        margin: Context (s) kept before and after each region.

    Returns:
        ``(start, end)`` sample indices, sorted and non-overlapping; empty for a silent signal.
    """
    n_frames = len(audio) // frame
    if n_frames == 0:
        return []
    energy = (np.asarray(audio[: n_frames * frame]).reshape(n_frames, frame) ** 2).mean(axis=1)
    if energy.max() <= 0:
        return []
    active = 10 * np.log10(energy / energy.max() + 1e-20) > threshold_db
    regions: list[list[int]] = []
    gap_frames = int(round(min_pause * SAMPLE_RATE / frame))
    for index in np.flatnonzero(active):
        if regions and index - regions[-1][1] <= gap_frames:
            regions[-1][1] = index + 1
        else:
            regions.append([index, index + 1])
    pad = int(margin * SAMPLE_RATE)
    return [(max(0, a * frame - pad), min(len(audio), b * frame + pad)) for a, b in regions]


def trim(audio: np.ndarray) -> np.ndarray:
    """Cut the leading and trailing silence of ``audio [L]`` (keeps 40 ms of context)."""
    regions = active_regions(audio)
    if not regions:
        return np.asarray(audio)[:0]
    return np.asarray(audio)[regions[0][0]: regions[-1][1]]


def fade_out(audio: np.ndarray, seconds: float = 0.02) -> np.ndarray:
    """Return a copy of ``audio [L]`` with a linear fade over its last ``seconds``."""
    out = np.array(audio, dtype=np.float64)
    n = min(len(out), int(seconds * SAMPLE_RATE))
    if n:
        out[-n:] *= np.linspace(1.0, 0.0, n)
    return out
