"""Quality gate for recorded speech before it becomes a clean target.

Home recordings (volunteers' microphones, game voice acting) carry their own noise floor and are
sometimes clipped. A file is accepted as clean speech only when

* its estimated SNR -- the 95th percentile of its 20 ms frame energies (the loud, active speech)
  over the 10th percentile (the floor between and around the words) -- reaches ``min_snr_db``;
* its fraction of clipped samples (``|x| >= clip_level`` of full scale) stays below ``max_clipped``;
* it is not near-silent (active level above ``min_level_dbfs``) and lasts at least ``min_seconds``.

The estimate is deliberately simple and conservative: a file without any pause is scored by its
quietest speech frames, so its SNR comes out low and the file is rejected rather than trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crpse.corpus.sources import SAMPLE_RATE

#: Reasons a file can be rejected, as written to ``corpus.json``.
REJECT_REASONS = ("low_snr", "clipped", "silent", "short", "bad_rate", "unreadable")
#: Sample rates a file may declare; others are bogus headers (some klettres files claim 128 kHz).
PLAUSIBLE_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)


@dataclass(frozen=True)
class GateSettings:
    """Thresholds of the gate (one home: :class:`crpse.corpus.synth.CorpusConfig` holds an instance).

    Attributes:
        min_snr_db: Smallest accepted estimated SNR (speech frames over floor frames), dB.
        max_clipped: Largest accepted fraction of clipped samples.
        clip_level: Absolute sample value counted as clipped.
        min_level_dbfs: Smallest accepted active-speech level (95th percentile frame power), dBFS.
        min_seconds: Shortest accepted file, seconds.
    """

    min_snr_db: float = 25.0
    max_clipped: float = 1e-3
    clip_level: float = 0.99
    min_level_dbfs: float = -50.0
    min_seconds: float = 0.3


@dataclass(frozen=True)
class Quality:
    """What the gate measured on one file.

    Attributes:
        snr_db: Estimated SNR, dB.
        floor_dbfs: Noise-floor estimate (10th percentile frame power), dBFS.
        level_dbfs: Active-speech estimate (95th percentile frame power), dBFS.
        clipped: Fraction of samples at or above the clip level.
        seconds: Duration.
        reason: ``""`` when accepted, else one of :data:`REJECT_REASONS`.
    """

    snr_db: float
    floor_dbfs: float
    level_dbfs: float
    clipped: float
    seconds: float
    reason: str

    @property
    def accepted(self) -> bool:
        """True when the file passed every check."""
        return not self.reason


def frame_powers_db(audio: np.ndarray, frame: int = 320, hop: int = 160) -> np.ndarray:
    """Mean power of each ``frame``-sample frame (hop ``hop``) of ``audio [L]``, in dBFS; ``[N]``."""
    audio = np.asarray(audio, dtype=np.float64)
    if len(audio) < frame:
        return np.array([10 * np.log10(np.mean(audio**2) + 1e-20)]) if len(audio) else np.zeros(0)
    n = 1 + (len(audio) - frame) // hop
    cumulative = np.concatenate([[0.0], np.cumsum(audio**2)])
    starts = np.arange(n) * hop
    power = (cumulative[starts + frame] - cumulative[starts]) / frame
    return 10 * np.log10(np.maximum(power, 1e-20))


def assess(audio: np.ndarray, settings: GateSettings = GateSettings(), raw: np.ndarray | None = None,
           sample_rate: int = SAMPLE_RATE) -> Quality:
    """Measure one recording and decide whether it may serve as clean speech.

    Args:
        audio: The recording ``[L]`` (full scale 1.0).
        settings: Thresholds.
        raw: The samples as stored (before resampling), used for the clipping check when given;
            resampling smooths clipped plateaus, so the stored samples are the better evidence.
        sample_rate: Rate of ``audio`` (frames are 20 ms with a 10 ms hop at any rate).

    Returns:
        The measurements and the verdict.
    """
    seconds = len(audio) / sample_rate
    powers = frame_powers_db(audio, frame=sample_rate // 50, hop=sample_rate // 100)
    samples = np.abs(np.asarray(raw if raw is not None else audio))
    clipped = float(np.mean(samples >= settings.clip_level)) if samples.size else 0.0
    if powers.size == 0:
        return Quality(0.0, -200.0, -200.0, clipped, seconds, "short")
    floor, level = (float(v) for v in np.percentile(powers, [10, 95]))
    snr = level - floor
    if seconds < settings.min_seconds:
        reason = "short"
    elif level < settings.min_level_dbfs:
        reason = "silent"
    elif clipped > settings.max_clipped:
        reason = "clipped"
    elif snr < settings.min_snr_db:
        reason = "low_snr"
    else:
        reason = ""
    return Quality(round(snr, 2), round(floor, 2), round(level, 2), clipped, round(seconds, 3), reason)


def assess_file(path: Path, settings: GateSettings = GateSettings()) -> Quality:
    """Read one recording (any format soundfile reads) and :func:`assess` it at its own sample rate.

    Files with an implausible sample rate (:data:`PLAUSIBLE_RATES`) or that cannot be decoded are
    rejected as ``"bad_rate"`` / ``"unreadable"``. Nothing is cached.
    """
    from crpse.audio import AudioFileError, read_audio

    try:
        audio, rate = read_audio(path, downmix=None)
    except (AudioFileError, ValueError):
        return Quality(0.0, -200.0, -200.0, 0.0, 0.0, "unreadable")
    mono = audio.mean(axis=0, dtype=np.float64)
    if rate not in PLAUSIBLE_RATES:
        return Quality(0.0, -200.0, -200.0, 0.0, round(len(mono) / rate, 3), "bad_rate")
    return assess(mono - mono.mean(), settings, raw=audio, sample_rate=rate)


def assess_files(files: list[Path], settings: GateSettings = GateSettings(), jobs: int = 1) -> list[Quality]:
    """:func:`assess_file` on every file, in order, with ``jobs`` worker processes (same result for any ``jobs``)."""
    if jobs <= 1 or len(files) < 64:
        return [assess_file(path, settings) for path in files]
    from crpse.workers import WorkerPool

    with WorkerPool(jobs) as pool:
        return list(pool.map(_assess_in_worker, files, [settings] * len(files), chunksize=64))


def _assess_in_worker(state: None, path: Path, settings: GateSettings) -> Quality:
    return assess_file(path, settings)
