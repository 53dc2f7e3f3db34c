"""Break `crpse evaluate` scores down by the corpus's mixing conditions (SNR band, reverberation).

Usage: python benchmarks/by_condition.py MANIFEST.csv NOISY.csv ENHANCED.csv [--metrics pesq si_sdr estoi]
           [--snr-edges -5 0 5 10 15 20]

MANIFEST.csv is the per-file manifest that `crpse data synth` writes beside each split (name, snr_db, reverb, ...);
NOISY.csv and ENHANCED.csv are the per-file CSVs of `crpse evaluate` for the noisy input and the enhanced output.
Files are matched by name (the manifest's name plus ``.wav``). Prints a Markdown table: for each SNR band and for
dry / reverberant files, the number of files and the mean of each metric, noisy -> enhanced.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path


def read_rows(path: Path, key: str = "name") -> dict[str, dict[str, str]]:
    """Rows of a CSV file by the stem of their ``key`` column."""
    with path.open(newline="") as handle:
        return {Path(row[key]).stem: row for row in csv.DictReader(handle)}


def mean(values: Sequence[float]) -> float:
    """Mean of the finite values (NaN when there are none)."""
    finite = [value for value in values if math.isfinite(value)]
    return sum(finite) / len(finite) if finite else math.nan


def condition_table(
    manifest: dict[str, dict[str, str]],
    noisy: dict[str, dict[str, str]],
    enhanced: dict[str, dict[str, str]],
    metrics: Sequence[str],
    snr_edges: Sequence[float],
) -> list[str]:
    """Markdown lines: one row per SNR band [lo, hi) (the last band closed) and per reverberation flag."""
    names = sorted(set(manifest) & set(noisy) & set(enhanced))
    if not names:
        raise ValueError("no file name is in all three CSV files")
    groups: list[tuple[str, Callable[[dict[str, str]], bool]]] = []
    for index, (low, high) in enumerate(zip(snr_edges[:-1], snr_edges[1:])):
        last = index == len(snr_edges) - 2

        def in_band(row: dict[str, str], low: float = low, high: float = high, last: bool = last) -> bool:
            snr = float(row["snr_db"])
            return low <= snr < high or (last and snr == high)

        groups.append((f"SNR {low:g}…{high:g} dB", in_band))
    groups.append(("dry", lambda row: row["reverb"] in ("0", "False", "false")))
    groups.append(("reverberant", lambda row: row["reverb"] in ("1", "True", "true")))

    header = "| condition | files | " + " | ".join(f"{metric} noisy → enhanced" for metric in metrics) + " |"
    lines = [header, "|" + "---|" * (2 + len(metrics))]
    for label, member in groups:
        chosen = [name for name in names if member(manifest[name])]
        if not chosen:
            continue
        cells = []
        for metric in metrics:
            before = mean([float(noisy[name][metric]) for name in chosen])
            after = mean([float(enhanced[name][metric]) for name in chosen])
            cells.append(f"{before:.2f} → {after:.2f}")
        lines.append(f"| {label} | {len(chosen)} | " + " | ".join(cells) + " |")
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
