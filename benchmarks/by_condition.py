"""Break `crpse evaluate` scores down by the corpus's mixing conditions (SNR band, reverberation).

Usage: python benchmarks/by_condition.py MANIFEST.csv NOISY.csv ENHANCED.csv [--metrics pesq si_sdr estoi]
           [--snr-edges -5 0 5 10 15 20]

MANIFEST.csv is the per-file manifest that `crpse data synth` writes beside each split (name, snr_db, reverb, ...);
NOISY.csv and ENHANCED.csv are the per-file CSVs of `crpse evaluate` for the noisy input and the enhanced output.
Files are matched by name (extension ignored); means skip non-finite values (crpse.evaluation.summarize).
Prints a Markdown table: for each SNR band and for dry / reverberant files, the number of files and the mean of
each metric, noisy -> enhanced.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

from crpse.evaluation import summarize


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    """Rows of a CSV file keyed by the stem of their ``name`` column (``test_00001`` and ``test_00001.wav`` agree)."""
    with path.open(newline="") as handle:
        return {Path(row["name"]).stem: row for row in csv.DictReader(handle)}


def band_label(low: float, high: float) -> str:
    """The condition label of the SNR band [low, high)."""
    return f"SNR {low:g}…{high:g} dB"


def conditions(row: dict[str, str], snr_edges: Sequence[float]) -> list[str]:
    """The condition labels of one manifest row: its SNR band [lo, hi) (the last band closed) and dry/reverberant."""
    snr = float(row["snr_db"])
    labels = [
        band_label(low, high)
        for index, (low, high) in enumerate(pairwise(snr_edges))
        if low <= snr < high or (index == len(snr_edges) - 2 and snr == high)
    ]
    labels.append("reverberant" if row["reverb"].lower() in ("1", "true") else "dry")
    return labels


def condition_table(
    manifest: dict[str, dict[str, str]],
    noisy: dict[str, dict[str, str]],
    enhanced: dict[str, dict[str, str]],
    metrics: Sequence[str],
    snr_edges: Sequence[float],
) -> list[str]:
    """Markdown lines: per condition, the file count and the mean of each metric, noisy → enhanced."""
    names = sorted(set(manifest) & set(noisy) & set(enhanced))
    if not names:
        raise ValueError("no file name is in all three CSV files")
    order = [band_label(low, high) for low, high in pairwise(snr_edges)] + ["dry", "reverberant"]
    members: dict[str, list[str]] = {label: [] for label in order}
    for name in names:
        for label in conditions(manifest[name], snr_edges):
            members[label].append(name)

    lines = ["| condition | files | " + " | ".join(f"{metric} noisy → enhanced" for metric in metrics) + " |"]
    lines.append("|" + "---|" * (2 + len(metrics)))
    for label in order:
        if not members[label]:
            continue
        before, after = (
            summarize([{metric: scores[name][metric] for metric in metrics} for name in members[label]])
            for scores in (noisy, enhanced)
        )
        cells = [f"{before[metric]['mean']:.2f} → {after[metric]['mean']:.2f}" for metric in metrics]
        lines.append(f"| {label} | {len(members[label])} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("noisy", type=Path)
    parser.add_argument("enhanced", type=Path)
    parser.add_argument("--metrics", nargs="+", default=["pesq", "si_sdr", "estoi"])
    parser.add_argument("--snr-edges", nargs="+", type=float, default=[-5, 0, 5, 10, 15, 20])
    args = parser.parse_args()
    lines = condition_table(
        read_rows(args.manifest), read_rows(args.noisy), read_rows(args.enhanced), args.metrics, args.snr_edges
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
