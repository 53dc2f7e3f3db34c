"""Compare cells of a ``crpse bench quality`` folder with the peers scored by ``benchmarks/peers.py`` on the same
files (both with ``--subset uniform`` and the same file count), paired per file.

Usage::

    python benchmarks/cells_vs_peers.py --cells RESULTS/paper --peers RESULTS/peers100 \\
        --split test_real --row pred=predictive --row crp1=reverse_1_t0.5 [--systems dfn3-peak,dfn3,rnnoise,crpse]

* ``--row MODEL=SETTING``: the cell ``CELLS/cells/SPLIT/MODEL/SETTING.csv`` (repeatable).
* ``--systems``: the peers' CSVs ``PEERS/SPLIT/SYSTEM.csv`` (``crpse`` there is the model ``peers.py`` ran, by
  default the bundled one).
* Prints, as Markdown, each row's and each system's mean PESQ, ESTOI and SI-SDR over the files both scored, and
  each row minus each system with its seeded paired-bootstrap 95 % interval (``crpse.bench.stats``, 2000
  resamples by default). Files are paired by name; a row and a system must cover the same files (the script
  refuses otherwise, naming the counts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crpse.bench.quality import read_rows
from crpse.bench.stats import DEFAULT_ROUNDS, mean_std, paired_bootstrap

METRICS = (("pesq", "PESQ", 3), ("estoi", "ESTOI", 3), ("si_sdr", "SI-SDR (dB)", 2))


def scores(path: Path) -> dict[str, dict[str, float]]:
    """``{file name: {metric: value}}`` of a per-file score CSV (a cell or a peer's)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return {str(row["name"]): {m: float(row[m]) for m, _, _ in METRICS} for row in read_rows(path)}


def compare(rows: dict[str, dict], systems: dict[str, dict], rounds: int = DEFAULT_ROUNDS) -> str:
    """The Markdown report: means, then row minus system per metric with its 95 % interval.

    Raises:
        ValueError: a row and a system scored different files.
    """
    for row_name, row in rows.items():
        for system_name, system in systems.items():
            if set(row) != set(system):
                raise ValueError(f"{row_name} scored {len(row)} files and {system_name} {len(system)}, "
                                 f"{len(set(row) & set(system))} in common: run both on the same subset")
    lines = ["| system | files | " + " | ".join(label for _, label, _ in METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    for name, table in {**rows, **systems}.items():
        means = [mean_std([v[m] for v in table.values()])[0] for m, _, _ in METRICS]
        lines.append(f"| {name} | {len(table)} | " + " | ".join(f"{x:.{d}f}" for x, (_, _, d) in zip(means, METRICS))
                     + " |")
    lines += ["", "| row minus system | " + " | ".join(label for _, label, _ in METRICS) + " |",
              "|---|" + "---|" * len(METRICS)]
    for row_name, row in rows.items():
        for system_name, system in systems.items():
            cells = []
            for metric, _, decimals in METRICS:
                d = paired_bootstrap({n: v[metric] for n, v in row.items()},
                                     {n: v[metric] for n, v in system.items()}, rounds=rounds)
                cells.append(f"{d.mean:+.{decimals}f} [{d.low:+.{decimals}f}, {d.high:+.{decimals}f}]")
            lines.append(f"| {row_name} − {system_name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", required=True, type=Path, help="a crpse bench quality output folder")
    parser.add_argument("--peers", required=True, type=Path, help="a benchmarks/peers.py output folder")
    parser.add_argument("--split", required=True)
    parser.add_argument("--row", action="append", required=True, metavar="MODEL=SETTING")
    parser.add_argument("--systems", default="dfn3-peak,dfn3,rnnoise,crpse")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args(argv)
    try:
        rows = {}
        for spec in args.row:
            model, _, setting = spec.partition("=")
            rows[spec] = scores(args.cells / "cells" / args.split / model / f"{setting}.csv")
        systems = {s: scores(args.peers / args.split / f"{s}.csv") for s in args.systems.split(",") if s}
        print(compare(rows, systems, args.rounds))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
