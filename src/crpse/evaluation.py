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

With the noisy inputs known, the same metrics (PESQ, ESTOI, SI-SDR, DNSMOS) are also computed for the noisy
file itself, as the baseline, under ``noisy_<metric>``.

Rows are plain dicts ``{"name": relative clean path, metric: float, ..., "noisy_<metric>": float, ...}``;
:func:`summarize` turns them into mean ± std per metric (non-finite values dropped and counted, ``np.std`` with
ddof 0) and, where a baseline exists, the noisy mean ± std and the per-file improvement (enhanced - noisy).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crpse import metrics
from crpse.metrics import METRICS
from crpse.workers import WorkerPool
from crpse.audio import AUDIO_SUFFIXES, SCORING_RESAMPLE_QUALITY, AudioFileError, read_audio, resample
from crpse.audio import list_audio_files as audio_files

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

#: column prefix of the noisy input's own scores (the baseline); every metric here is better when higher
NOISY_PREFIX = "noisy_"
#: a per-file change smaller than this is numerical noise, not an improvement (pystoi's ESTOI of the same pair
#: varies by ~1e-14 between calls)
IMPROVEMENT_TOLERANCE = 1e-9


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
    for path in audio_files(root):
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
    """Read a file as float64 mono ``[L]`` (channels averaged) and its rate.

    Raises:
        AudioFileError: the file cannot be read (the message names it).
    """
    try:
        return read_audio(path, dtype="float64")
    except AudioFileError as error:
        raise AudioFileError(f"{path}: {error}") from error


def load_aligned(pair: FilePair) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Load a pair as mono float64 at the clean file's rate, cropped to the common length.

    Returns:
        ``(clean [L], enhanced [L], noisy [L] or None, sample_rate)``.
    """
    clean, rate = _read_mono(pair.clean)
    others = []
    for path in (pair.enhanced, pair.noisy):
        if path is None:
            others.append(None)
            continue
        audio, other_rate = _read_mono(path)
        if other_rate != rate:
            audio = resample(audio, other_rate, rate, quality=SCORING_RESAMPLE_QUALITY)
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


def _dnsmos_model(use_dnsmos: bool, threads: int | None = None) -> DNSMOS | None:
    """The DNSMOS scorer of one process (onnxruntime sessions cannot be pickled), or ``None``."""
    if not use_dnsmos:
        return None
    from crpse.dnsmos import DNSMOS

    return DNSMOS(num_threads=threads)


def _evaluate_pair(dnsmos: DNSMOS | None, pair: FilePair, baseline: bool = True) -> dict[str, float | str]:
    clean, enhanced, noisy, rate = load_aligned(pair)
    if len(clean) == 0:
        raise ValueError(f"{pair.name}: a file of this item is empty; remove it or regenerate it")
    row: dict[str, float | str] = {"name": pair.name}
    row.update(score_signals(clean, enhanced, rate, noisy))
    if dnsmos is not None:
        row.update(_dnsmos_scores(dnsmos, pair.enhanced, pair.name))
    if noisy is not None and baseline:  # the baseline: the noisy input scored like the enhanced file
        row.update({f"{NOISY_PREFIX}{key}": value for key, value in score_signals(clean, noisy, rate).items()})
        if dnsmos is not None:
            row.update({f"{NOISY_PREFIX}{k}": v for k, v in _dnsmos_scores(dnsmos, pair.noisy, pair.name).items()})
    return row


def _dnsmos_scores(dnsmos: DNSMOS, path: Path, name: str) -> dict[str, float]:
    """``{"dnsmos_sig", ...}`` of the file as it is on disk (NaN, with a warning, when it cannot be scored)."""
    audio, own_rate = _read_mono(path)
    try:
        scores = dnsmos(audio, own_rate)
    except ValueError as error:
        logger.warning("DNSMOS skipped for %s (%s): %s", name, path, error)
        scores = dict.fromkeys(("sig", "bak", "ovrl", "p808"), math.nan)
    return {f"dnsmos_{key}": value for key, value in scores.items()}


def evaluate_pairs(
    pairs: Sequence[FilePair],
    jobs: int | None = None,
    dnsmos: bool = True,
    progress: Callable[[dict[str, float | str]], None] | None = None,
    baseline: bool = True,
) -> list[dict[str, float | str]]:
    """Score matched items, in parallel worker processes when ``jobs > 1``.

    Args:
        pairs: items from :func:`match_files`.
        jobs: worker processes (default :func:`default_jobs`); 1 runs in this process.
        dnsmos: also compute DNSMOS; if onnxruntime or speechmos is missing this logs a warning
            saying what to install and leaves the DNSMOS columns out.
        progress: called with each finished row (e.g. to advance a progress bar).
        baseline: also score the noisy input itself (``noisy_*`` columns) when the pair has one; SI-SIR and
            SI-SAR need the noisy file either way.

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
        scorer = _dnsmos_model(dnsmos)
        for pair in pairs:
            rows.append(_evaluate_pair(scorer, pair, baseline))
            if progress is not None:
                progress(rows[-1])
        return rows
    # an error or Ctrl-C stops the workers (the queued items are dropped, not scored first)
    with WorkerPool(jobs, _dnsmos_model, (dnsmos, 1)) as pool:
        for row in pool.map(_evaluate_pair, pairs, [baseline] * len(pairs)):
            rows.append(row)
            if progress is not None:
                progress(row)
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
    """Metric columns present in ``rows``, in report order (known metrics, their noisy baselines, then others)."""
    present: dict[str, None] = {}
    for row in rows:
        present.update(dict.fromkeys(key for key in row if key != "name"))
    known = [*METRICS, *(NOISY_PREFIX + key for key in METRICS)]
    return [key for key in known if key in present] + [key for key in present if key not in known]


def summarize(rows: Sequence[dict[str, float | str]]) -> dict[str, dict[str, float]]:
    """Mean ± std of every metric over the rows, and the improvement over the noisy input where it was scored.

    Non-finite values (NaN from failed PESQ, +inf SI-SDR of a perfect estimate) are dropped and
    counted. The std is the population one (``np.std``, ddof 0), as the reference evaluation reports.

    Returns:
        ``{metric: {"mean", "std", "count", "dropped"}}`` (mean/std NaN when nothing is left). A metric with a
        ``noisy_<metric>`` column also gets ``noisy_mean``/``noisy_std`` (the baseline), ``delta_mean``/``delta_std``
        (of the per-file improvement, enhanced - noisy, over the ``paired`` files where both are finite) and
        ``improved`` (how many of those files got better by more than :data:`IMPROVEMENT_TOLERANCE`); the ``noisy_*`` columns get no entry of their own.
    """
    def column_values(column: str) -> np.ndarray:
        return np.array([float(row.get(column, math.nan)) for row in rows], dtype=np.float64)

    columns = metric_columns(rows)
    summary: dict[str, dict[str, float]] = {}
    for column in columns:
        if column.startswith(NOISY_PREFIX) and column.removeprefix(NOISY_PREFIX) in columns:
            continue
        values = column_values(column)
        summary[column] = {**_mean_std(values), "count": int(np.isfinite(values).sum()),
                           "dropped": int((~np.isfinite(values)).sum())}
        if NOISY_PREFIX + column in columns:
            noisy = column_values(NOISY_PREFIX + column)
            both = np.isfinite(values) & np.isfinite(noisy)
            delta = values[both] - noisy[both]
            noisy_stats, delta_stats = _mean_std(noisy), _mean_std(delta)
            summary[column].update(
                noisy_mean=noisy_stats["mean"], noisy_std=noisy_stats["std"], delta_mean=delta_stats["mean"],
                delta_std=delta_stats["std"], improved=int((delta > IMPROVEMENT_TOLERANCE).sum()), paired=int(both.sum()),
            )
    return summary


def _mean_std(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"mean": math.nan, "std": math.nan}
    return {"mean": float(finite.mean()), "std": float(finite.std())}


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

    PESQ, ESTOI and DNSMOS are shown with 2 decimals, the SI-* ratios in dB with 1 decimal. With a noisy
    baseline the columns are ``metric | noisy | enhanced | improvement | improved | files | dropped``: noisy and
    enhanced mean ± std, the mean ± std of the per-file improvement (enhanced - noisy), and in how many files
    the metric went up; metrics without a baseline (SI-SIR, SI-SAR) show ``-`` there.
    """
    baseline = any("noisy_mean" in stats for stats in summary.values())
    header = ["metric", "mean ± std", "files", "dropped"]
    if baseline:
        header = ["metric", "noisy", "enhanced", "improvement", "improved", "files", "dropped"]
    lines = []
    for column, stats in summary.items():
        label, decimals = METRICS.get(column, (column, 2))
        enhanced = _mean_std_cell(stats["mean"], stats["std"], decimals)
        counts = [str(stats["count"]), str(stats["dropped"])]
        if not baseline:
            lines.append([label, enhanced, *counts])
        elif "noisy_mean" in stats:
            lines.append([label, _mean_std_cell(stats["noisy_mean"], stats["noisy_std"], decimals), enhanced,
                          _mean_std_cell(stats["delta_mean"], stats["delta_std"], decimals, sign="+"),
                          f"{stats['improved']}/{stats['paired']}", *counts])
        else:
            lines.append([label, "-", enhanced, "-", "-", *counts])
    if markdown:
        alignment = ["---", *["---:"] * (len(header) - 1)]
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(alignment) + "|"]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out) + "\n"
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(cells))

    return "\n".join([render(header), *(render(line) for line in lines)]) + "\n"


def _mean_std_cell(mean: float, std: float, decimals: int, sign: str = "") -> str:
    return f"{mean:{sign}.{decimals}f} ± {std:.{decimals}f}"


def write_summary(summary: dict[str, dict[str, float]], csv_path: str | Path) -> tuple[Path, Path]:
    """Write ``<csv stem>_summary.csv`` (full precision) and ``<csv stem>_summary.md`` beside ``csv_path``."""
    csv_path = Path(csv_path)
    table_path = csv_path.with_name(f"{csv_path.stem}_summary.csv")
    markdown_path = csv_path.with_name(f"{csv_path.stem}_summary.md")
    table_path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["mean", "std", "count", "dropped"]
    if any("noisy_mean" in stats for stats in summary.values()):
        fields += ["noisy_mean", "noisy_std", "delta_mean", "delta_std", "improved", "paired"]
    with table_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", *fields])
        for column, stats in summary.items():
            writer.writerow([column, *(_format_cell(stats.get(key, "")) for key in fields)])
    markdown_path.write_text(format_summary(summary, markdown=True))
    return table_path, markdown_path
