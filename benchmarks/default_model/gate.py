"""ship.sh's gate: is a candidate better than the current default on the same valid/ files?

Reads two per-file cell CSVs written by ``crpse bench sweep`` (``cells/valid/NAME/reverse_N_tT.csv``), prints the mean
paired difference (candidate minus reference) of PESQ, ESTOI and SI-SDR with its paired-bootstrap 95 % interval, and
exits 0 only when PESQ is higher and ESTOI and SI-SDR are not lower (means; the intervals are for the reader):

    python benchmarks/default_model/gate.py REFERENCE.csv CANDIDATE.csv [CANDIDATE2.csv ...]

With several candidates each gets a line, and the exit status is 0 when any of them passes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from crpse.bench.quality import read_rows
from crpse.bench.stats import paired_bootstrap

METRICS = ("pesq", "estoi", "si_sdr")


def read_cell(path: Path) -> dict[str, dict[str, float]]:
    """File name -> {metric: score} of one cell CSV (an empty score is NaN: paired_bootstrap leaves the file out)."""
    return {row["name"]: {m: math.nan if row[m] is None else row[m] for m in METRICS} for row in read_rows(path)}


def compare(reference: Path, candidate: Path) -> tuple[bool, str]:
    """(passes, one line of differences with intervals) for ``candidate`` against ``reference``."""
    old, new = read_cell(reference), read_cell(candidate)
    if set(old) != set(new):
        raise SystemExit(f"{reference} and {candidate} scored different files ({len(old)} and {len(new)})")
    parts, means = [], {}
    for metric in METRICS:
        diff = paired_bootstrap({n: s[metric] for n, s in new.items()}, {n: s[metric] for n, s in old.items()})
        means[metric] = diff.mean
        parts.append(f"{metric} {diff.mean:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]")
    passes = means["pesq"] > 0 and means["estoi"] >= 0 and means["si_sdr"] >= 0
    return passes, f"{'PASS' if passes else 'fail'}  {candidate}  ({len(old)} files): " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", type=Path, help="the current default's cell CSV")
    parser.add_argument("candidates", type=Path, nargs="+", help="candidate cell CSVs of the same files")
    args = parser.parse_args(argv)
    results = [compare(args.reference, candidate) for candidate in args.candidates]
    for _, line in results:
        print(line)
    return 0 if any(passes for passes, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
