"""Score folders of enhanced files against clean references (and optionally the noisy inputs).

Files are paired by their path relative to each folder, without the extension (``clean/a/b.flac``
pairs with ``enhanced/a/b.wav``). For each pair:

* every file is mixed down to mono by averaging its channels;
* enhanced and noisy files at another rate are resampled to the clean file's rate with soxr;
* all signals are cropped to their common length;
* PESQ (wide-band at 16 kHz, narrow-band for 8-kHz material), ESTOI and SI-SDR are computed, plus
  SI-SIR / SI-SAR when the noisy file is known (noise = noisy - clean), see :mod:`crpse.metrics`;
* DNSMOS (non-intrusive) is computed on the enhanced file as it is on disk (mono, its own rate and
  length), so the numbers equal speechmos's on that file.

Rows are plain dicts ``{"name": relative clean path, metric: float, ...}``; :func:`summarize` turns
them into mean ± std per metric (non-finite values dropped and counted, ``np.std`` with ddof 0).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crpse import metrics

if TYPE_CHECKING:
    from crpse.dnsmos import DNSMOS

__all__ = [
    "AUDIO_SUFFIXES",
    "METRICS",
    "FileMatch",
    "FilePair",
    "default_jobs",
    "evaluate_dirs",
    "evaluate_pairs",
    "format_summary",
    "list_audio_files",
    "load_aligned",
    "match_files",
    "metric_columns",
    "score_signals",
    "summarize",
    "write_csv",
    "write_summary",
]

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")

#: metric column -> (display name, decimals in the summary), in report order.
METRICS: dict[str, tuple[str, int]] = {
    "pesq": ("PESQ", 2),
    "estoi": ("ESTOI", 2),
    "si_sdr": ("SI-SDR", 1),
    "si_sir": ("SI-SIR", 1),
    "si_sar": ("SI-SAR", 1),
    "dnsmos_sig": ("DNSMOS SIG", 2),
    "dnsmos_bak": ("DNSMOS BAK", 2),
    "dnsmos_ovrl": ("DNSMOS OVRL", 2),
    "dnsmos_p808": ("DNSMOS P.808", 2),
}


@dataclass(frozen=True)
class FilePair:
    """One evaluation item: a clean reference, its enhanced version and optionally the noisy input."""

    name: str
    clean: Path
    enhanced: Path
    noisy: Path | None = None


@dataclass
class FileMatch:
    """Result of :func:`match_files`.

    Attributes:
        pairs: the matched items, sorted by name.
        missing: ``{"enhanced": [...], "clean": [...], "noisy": [...]}``: relative paths of files found
            in some folders that lack a counterpart in the named one.
    """

    pairs: list[FilePair]
    missing: dict[str, list[str]] = field(default_factory=dict)

    @property
    def n_missing(self) -> int:
        """Total number of unmatched files."""
        return sum(len(names) for names in self.missing.values())


def default_jobs() -> int:
    """Default number of worker processes: ``min(4, cpu count)``."""
    return max(1, min(4, os.cpu_count() or 1))


def list_audio_files(directory: str | Path) -> dict[str, Path]:
    """Audio files under ``directory`` (recursively), keyed by relative path without extension.

    Raises:
        ValueError: if the folder does not exist, or two files differ only by extension.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory; pass the folder that holds the audio files")
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        key = path.relative_to(root).with_suffix("").as_posix()
        if key in files:
            raise ValueError(
                f"{files[key]} and {path} differ only by extension, so they cannot be paired by name; keep one of them"
            )
        files[key] = path
    return files


def match_files(clean_dir: str | Path, enhanced_dir: str | Path, noisy_dir: str | Path | None = None) -> FileMatch:
    """Pair files of the folders by relative path (extension ignored) and list the unmatched ones."""
    clean = list_audio_files(clean_dir)
    enhanced = list_audio_files(enhanced_dir)
    noisy = list_audio_files(noisy_dir) if noisy_dir is not None else None
    folders = {"clean": clean, "enhanced": enhanced}
    if noisy is not None:
        folders["noisy"] = noisy
    roots = {"clean": Path(clean_dir), "enhanced": Path(enhanced_dir), "noisy": Path(noisy_dir or ".")}

    def shown(key: str) -> str:
        """The relative path of the first folder's file with this key (what the user sees on disk)."""
        kind = next(kind for kind, files in folders.items() if key in files)
        return folders[kind][key].relative_to(roots[kind]).as_posix()

    everything = set().union(*folders.values())
    common = set.intersection(*(set(files) for files in folders.values()))
    missing = {}
    for kind, files in folders.items():
        absent = sorted(everything - set(files))
        if absent:
            missing[kind] = [shown(key) for key in absent]
    pairs = []
    for key in sorted(common):
        name = clean[key].relative_to(Path(clean_dir)).as_posix()
        pairs.append(FilePair(name, clean[key], enhanced[key], noisy[key] if noisy is not None else None))
    return FileMatch(pairs, missing)


def _read_mono(path: Path) -> tuple[np.ndarray, int]:
    """Read a file as float64 mono ``[L]`` (channels averaged) and its rate."""
    import soundfile as sf

    audio, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return audio.mean(axis=1), int(rate)


def load_aligned(pair: FilePair) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Load a pair as mono float64 at the clean file's rate, cropped to the common length.

    Returns:
        ``(clean [L], enhanced [L], noisy [L] or None, sample_rate)``.
    """
    import soxr

    clean, rate = _read_mono(pair.clean)
    others = []
    for path in (pair.enhanced, pair.noisy):
        if path is None:
            others.append(None)
            continue
        audio, other_rate = _read_mono(path)
        if other_rate != rate:
            audio = soxr.resample(audio, other_rate, rate)
        others.append(audio)
    enhanced, noisy = others
    length = min(len(x) for x in (clean, enhanced, noisy) if x is not None)
    return clean[:length], enhanced[:length], None if noisy is None else noisy[:length], rate


def score_signals(
    clean: np.ndarray, enhanced: np.ndarray, sample_rate: int, noisy: np.ndarray | None = None
) -> dict[str, float]:
    """Intrusive metrics of one aligned item.

    Args:
        clean: reference ``[L]``.
        enhanced: estimate ``[L]``.
        sample_rate: rate of both in Hz.
        noisy: the noisy input ``[L]``; adds SI-SIR and SI-SAR.

    Returns:
        ``{"pesq", "estoi", "si_sdr"[, "si_sir", "si_sar"]}``.
    """
    scores = {
        "pesq": metrics.pesq_score(clean, enhanced, sample_rate),
        "estoi": metrics.estoi_score(clean, enhanced, sample_rate),
    }
    if noisy is None:
        scores["si_sdr"] = metrics.si_sdr(clean, enhanced)
    else:
        sdr, sir, sar = metrics.energy_ratios(clean, enhanced, noisy - clean)
        scores.update(si_sdr=sdr, si_sir=sir, si_sar=sar)
    return scores


# One DNSMOS model per process (onnxruntime sessions cannot be pickled).
_WORKER_DNSMOS: DNSMOS | None = None


def _init_worker(use_dnsmos: bool, threads: int | None) -> None:
    global _WORKER_DNSMOS
    if use_dnsmos:
        from crpse.dnsmos import DNSMOS

        _WORKER_DNSMOS = DNSMOS(num_threads=threads)
    else:
        _WORKER_DNSMOS = None


def _init_pool_worker(use_dnsmos: bool, threads: int | None) -> None:
    """Initialise a worker process; it ignores Ctrl-C, which the parent handles (cancelling the queued items)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(use_dnsmos, threads)


def _evaluate_pair(pair: FilePair) -> dict[str, float | str]:
    clean, enhanced, noisy, rate = load_aligned(pair)
    if len(clean) == 0:
        raise ValueError(f"{pair.name}: a file of this item is empty; remove it or regenerate it")
    row: dict[str, float | str] = {"name": pair.name}
    row.update(score_signals(clean, enhanced, rate, noisy))
    if _WORKER_DNSMOS is not None:
        audio, own_rate = _read_mono(pair.enhanced)
        try:
            scores = _WORKER_DNSMOS(audio, own_rate)
        except ValueError as error:
            logger.warning("DNSMOS skipped for %s: %s", pair.name, error)
            scores = dict.fromkeys(("sig", "bak", "ovrl", "p808"), math.nan)
        row.update({f"dnsmos_{key}": value for key, value in scores.items()})
    return row


def evaluate_pairs(
    pairs: Sequence[FilePair],
    jobs: int | None = None,
    dnsmos: bool = True,
    progress: Callable[[dict[str, float | str]], None] | None = None,
) -> list[dict[str, float | str]]:
    """Score matched items, in parallel worker processes when ``jobs > 1``.

    Args:
        pairs: items from :func:`match_files`.
        jobs: worker processes (default :func:`default_jobs`); 1 runs in this process.
        dnsmos: also compute DNSMOS; if onnxruntime or speechmos is missing this logs a warning
            saying what to install and leaves the DNSMOS columns out.
        progress: called with each finished row (e.g. to advance a progress bar).

    Returns:
        One row per pair, in the order of ``pairs``.
    """
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1; got {jobs}")
    if dnsmos:
        from crpse.dnsmos import dnsmos_unavailable_reason

        reason = dnsmos_unavailable_reason()
        if reason is not None:
            logger.warning("%s. Continuing without DNSMOS.", reason)
            dnsmos = False
    jobs = min(jobs, max(1, len(pairs)))
    rows: list[dict[str, float | str]] = []
    if jobs == 1:
        _init_worker(dnsmos, None)
        try:
            for pair in pairs:
                rows.append(_evaluate_pair(pair))
                if progress is not None:
                    progress(rows[-1])
        finally:
            _init_worker(False, None)
        return rows
    with ProcessPoolExecutor(jobs, initializer=_init_pool_worker, initargs=(dnsmos, 1)) as pool:
        try:
            for row in pool.map(_evaluate_pair, pairs):
                rows.append(row)
                if progress is not None:
                    progress(row)
        except BaseException:  # an error or Ctrl-C: drop the queued items instead of scoring them all first
            pool.shutdown(cancel_futures=True)
            raise
    return rows


def evaluate_dirs(
    clean_dir: str | Path,
    enhanced_dir: str | Path,
    noisy_dir: str | Path | None = None,
    jobs: int | None = None,
    dnsmos: bool = True,
) -> list[dict[str, float | str]]:
    """Match the folders' files by name and score every matched item.

    Unmatched files are logged as a warning and skipped.

    Raises:
        ValueError: if no file name occurs in all the given folders.
    """
    match = match_files(clean_dir, enhanced_dir, noisy_dir)
    for kind, names in match.missing.items():
        logger.warning("%d file(s) have no %s counterpart and are skipped: %s", len(names), kind, ", ".join(names))
    if not match.pairs:
        raise ValueError(
            f"no file name occurs in all of {clean_dir}, {enhanced_dir}"
            + (f", {noisy_dir}" if noisy_dir is not None else "")
            + "; files are paired by relative path without extension"
        )
    return evaluate_pairs(match.pairs, jobs=jobs, dnsmos=dnsmos)


def metric_columns(rows: Iterable[dict[str, float | str]]) -> list[str]:
    """Metric columns present in ``rows``, in report order (known metrics first)."""
    present: dict[str, None] = {}
    for row in rows:
        present.update(dict.fromkeys(key for key in row if key != "name"))
    return [key for key in METRICS if key in present] + [key for key in present if key not in METRICS]


def summarize(rows: Sequence[dict[str, float | str]]) -> dict[str, dict[str, float]]:
    """Mean ± std of every metric over the rows.

    Non-finite values (NaN from failed PESQ, +inf SI-SDR of a perfect estimate) are dropped and
    counted. The std is the population one (``np.std``, ddof 0), as the reference evaluation reports.

    Returns:
        ``{metric: {"mean", "std", "count", "dropped"}}`` (mean/std NaN when nothing is left).
    """
    summary: dict[str, dict[str, float]] = {}
    for column in metric_columns(rows):
        values = np.array([float(row.get(column, math.nan)) for row in rows], dtype=np.float64)
        finite = values[np.isfinite(values)]
        summary[column] = {
            "mean": float(finite.mean()) if finite.size else math.nan,
            "std": float(finite.std()) if finite.size else math.nan,
            "count": int(finite.size),
            "dropped": int(values.size - finite.size),
        }
    return summary


def _format_cell(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def write_csv(rows: Sequence[dict[str, float | str]], path: str | Path) -> Path:
    """Write per-file rows (``name`` then the metric columns, full precision) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["name", *metric_columns(rows)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_format_cell(row.get(column, math.nan)) for column in columns])
    return path


def format_summary(summary: dict[str, dict[str, float]], markdown: bool = False) -> str:
    """Render a summary as an aligned text table (or a Markdown table).

    PESQ, ESTOI and DNSMOS are shown with 2 decimals, the SI-* ratios in dB with 1 decimal.
    """
    header = ["metric", "mean ± std", "files", "dropped"]
    lines = []
    for column, stats in summary.items():
        label, decimals = METRICS.get(column, (column, 2))
        cell = f"{stats['mean']:.{decimals}f} ± {stats['std']:.{decimals}f}"
        lines.append([label, cell, str(stats["count"]), str(stats["dropped"])])
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "---:", "---:", "---:"]) + "|"]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out) + "\n"
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(cells))

    return "\n".join([render(header), *(render(line) for line in lines)]) + "\n"


def write_summary(summary: dict[str, dict[str, float]], csv_path: str | Path) -> tuple[Path, Path]:
    """Write ``<csv stem>_summary.csv`` (full precision) and ``<csv stem>_summary.md`` beside ``csv_path``."""
    csv_path = Path(csv_path)
    table_path = csv_path.with_name(f"{csv_path.stem}_summary.csv")
    markdown_path = csv_path.with_name(f"{csv_path.stem}_summary.md")
    table_path.parent.mkdir(parents=True, exist_ok=True)
    with table_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "mean", "std", "count", "dropped"])
        for column, stats in summary.items():
            writer.writerow([column, repr(stats["mean"]), repr(stats["std"]), stats["count"], stats["dropped"]])
    markdown_path.write_text(format_summary(summary, markdown=True))
    return table_path, markdown_path
