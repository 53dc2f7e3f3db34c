"""Per-file scores broken down by the corpus's mixing conditions: noise category and SNR band.

A split's ``manifest.csv`` (columns :data:`crpse.corpus.synth.MANIFEST_COLUMNS`) records each file's ``noise_type``
(``"<source>/<category>"`` such as ``"0ad/rain"``, or a bare type such as ``"babble"`` or ``"freedesktop"``) and its
``snr_db`` (active-level SNR of the mixture). Files are grouped by noise category (the part after the source, so
``"0ad/rain"`` and ``"ufoai/rain"`` meet) and by SNR band; every group gets, per system, the number of scored files
and the mean ± std of each metric (:func:`crpse.bench.stats.mean_std`: non-finite values are skipped).

Library code: nothing is printed; the benchmark scripts format the rows (:func:`breakdown_markdown`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from crpse.bench.stats import mean_std

#: edges of the SNR bands in dB: below the first, [edge, next edge) between them, from the last up
SNR_EDGES = (0.0, 5.0, 10.0, 15.0)
#: the two groupings, in report order
NOISE_CATEGORY, SNR_BAND = "noise category", "SNR band"

#: system -> metric -> file name -> score
Scores = Mapping[str, Mapping[str, Mapping[str, float]]]


def snr_band(snr_db: float, edges: Sequence[float] = SNR_EDGES) -> str:
    """The label of the band ``snr_db`` falls in: ``"< 0 dB"``, ``"0–5 dB"`` for [0, 5), ..., ``"≥ 15 dB"``."""
    if not edges or list(edges) != sorted(edges):
        raise ValueError(f"SNR band edges must be given in increasing order, got {list(edges)}")
    if snr_db < edges[0]:
        return f"< {edges[0]:g} dB"
    for low, high in pairwise(edges):
        if low <= snr_db < high:
            return f"{low:g}–{high:g} dB"
    return f"≥ {edges[-1]:g} dB"


def snr_bands(edges: Sequence[float] = SNR_EDGES) -> list[str]:
    """Every band label of ``edges``, lowest first."""
    return [snr_band(edges[0] - 1.0, edges), *(snr_band(edge, edges) for edge in edges)]


def noise_category(noise_type: str) -> str:
    """The category of a manifest ``noise_type``: ``"0ad/rain"`` -> ``"rain"``, ``"babble"`` -> ``"babble"``."""
    return noise_type.rsplit("/", 1)[-1]


def read_manifest(path: str | Path) -> dict[str, dict[str, str]]:
    """The rows of a split's ``manifest.csv``, keyed by file name without extension."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return {Path(row["name"]).stem: row for row in csv.DictReader(handle)}


def file_groups(
    manifest: Mapping[str, Mapping[str, str]], names: Sequence[str], edges: Sequence[float] = SNR_EDGES
) -> dict[str, dict[str, list[str]]]:
    """``{grouping: {label: file names}}`` of the ``names`` the manifest knows (matched without extension).

    Noise categories are ordered by size (largest first, then by name), SNR bands from the lowest; empty groups are
    left out. The names keep the form they were given in.
    """
    categories: dict[str, list[str]] = {}
    bands: dict[str, list[str]] = {label: [] for label in snr_bands(edges)}
    for name in names:
        row = manifest.get(Path(name).stem)
        if row is None:
            continue
        categories.setdefault(noise_category(row["noise_type"]), []).append(name)
        bands[snr_band(float(row["snr_db"]), edges)].append(name)
    ordered = dict(sorted(categories.items(), key=lambda item: (-len(item[1]), item[0])))
    return {NOISE_CATEGORY: ordered, SNR_BAND: {label: files for label, files in bands.items() if files}}


def breakdown(
    scores: Scores, groups: Mapping[str, Mapping[str, Sequence[str]]], metrics: Sequence[str]
) -> list[dict[str, float | int | str]]:
    """One row per grouping, group and system: ``files`` (the group's size), and per metric ``<metric>_mean``,
    ``<metric>_std`` and ``<metric>_count`` (files with a finite score; mean and std NaN when there is none)."""
    rows: list[dict[str, float | int | str]] = []
    for grouping, labelled in groups.items():
        for label, names in labelled.items():
            for system, by_metric in scores.items():
                row: dict[str, float | int | str] = {"grouping": grouping, "group": label, "system": system,
                                                     "files": len(names)}
                for metric in metrics:
                    values = by_metric.get(metric, {})
                    mean, std, count = mean_std(np.array([values.get(name, math.nan) for name in names]))
                    row.update({f"{metric}_mean": mean, f"{metric}_std": std, f"{metric}_count": count})
                rows.append(row)
    return rows


def write_breakdown(rows: Sequence[Mapping[str, float | int | str]], path: str | Path) -> Path:
    """The rows of :func:`breakdown` as one CSV file (full precision)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def breakdown_markdown(rows: Sequence[Mapping[str, float | int | str]], grouping: str, metric: str,
                       decimals: int = 2) -> list[str]:
    """Markdown lines of one grouping and metric: a row per group (its file count, then each system's mean), the
    systems as columns in the order the rows name them; ``-`` where a system has no finite score in a group."""
    chosen = [row for row in rows if row["grouping"] == grouping]
    systems = list(dict.fromkeys(str(row["system"]) for row in chosen))
    labels = list(dict.fromkeys(str(row["group"]) for row in chosen))
    cells = {(str(row["group"]), str(row["system"])): row for row in chosen}
    lines = [f"| {grouping} | files | " + " | ".join(systems) + " |", "|---|---|" + "---|" * len(systems)]
    for label in labels:
        size = next(row["files"] for row in chosen if row["group"] == label)
        means = []
        for system in systems:
            row = cells.get((label, system))
            mean = float(row[f"{metric}_mean"]) if row else math.nan
            means.append("-" if math.isnan(mean) else f"{mean:.{decimals}f}")
        lines.append(f"| {label} | {size} | " + " | ".join(means) + " |")
    return lines
