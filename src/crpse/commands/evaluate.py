"""``crpse evaluate``: score enhanced files against clean references and summarise.

Example::

    crpse evaluate --clean data/test/clean --enhanced out/enhanced --noisy data/test/noisy \\
        -o results/crp.csv --plots results/plots --jobs 4

writes ``results/crp.csv`` (one row per file), ``results/crp_summary.csv`` and
``results/crp_summary.md`` (mean ± std per metric; with ``--noisy`` also the noisy input's scores and the
per-file improvement), prints the summary, and with ``--plots`` saves
spectrogram comparisons of a few files and a histogram per metric. Exit status: 0 on success, 1 when
no file pairs up or a folder is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

_DESCRIPTION = """\
Score enhanced audio against clean references: PESQ (wide-band at 16 kHz; narrow-band for 8-kHz
material), ESTOI, SI-SDR, plus SI-SIR/SI-SAR with --noisy, and DNSMOS SIG/BAK/OVRL/P.808 (needs
crpse[eval]). Files are paired by relative path without extension; unmatched files are listed and
skipped. Multichannel files are averaged to mono; enhanced/noisy files are resampled to the clean
file's rate and all signals cropped to their common length. DNSMOS scores the enhanced file as it is.
"""

_MAX_LISTED = 20


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``evaluate`` sub-command to ``subparsers`` and return its parser."""
    from crpse.evaluation import default_jobs

    parser = subparsers.add_parser(
        "evaluate",
        help="score enhanced files against clean references",
        description=_DESCRIPTION,
    )
    parser.add_argument("--clean", required=True, type=Path, metavar="DIR", help="clean reference files")
    parser.add_argument("--enhanced", required=True, type=Path, metavar="DIR", help="files to score")
    parser.add_argument(
        "--noisy", type=Path, metavar="DIR",
        help="noisy inputs: scores them too (the baseline), reports the per-file improvement, adds SI-SIR and SI-SAR",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("results.csv"),
        metavar="CSV",
        help="per-file results (default: results.csv); the summary goes to <stem>_summary.csv and .md",
    )
    parser.add_argument("--plots", type=Path, metavar="DIR", help="write spectrogram and histogram PNGs here")
    parser.add_argument(
        "--plot-files", type=int, default=4, metavar="K", help="files to draw spectrograms of (default: 4)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        metavar="N",
        help=f"worker processes (default: min(4, CPU count) = {default_jobs()})",
    )
    parser.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS")
    return parser


def _list_names(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; returns the exit status."""
    from crpse.extras import require_extra

    require_extra("crpse evaluate", "eval")
    if args.plots is not None:
        require_extra("crpse evaluate --plots", "eval", ("matplotlib",))
    from crpse import evaluation

    if args.jobs < 1 or args.plot_files < 0:
        print("error: --jobs must be at least 1 and --plot-files at least 0", file=sys.stderr)
        return 1
    try:
        match = evaluation.match_files(args.clean, args.enhanced, args.noisy)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for kind, names in match.missing.items():
        print(
            f"warning: {len(names)} file(s) have no {kind} counterpart and are skipped: {_list_names(names)}",
            file=sys.stderr,
        )
    if not match.pairs:
        folders = ", ".join(str(d) for d in (args.clean, args.enhanced, args.noisy) if d is not None)
        print(
            f"error: no file name occurs in all of {folders} (paired by relative path without extension)",
            file=sys.stderr,
        )
        return 1

    use_dnsmos = not args.no_dnsmos
    if use_dnsmos:
        from crpse.dnsmos import dnsmos_unavailable_reason

        reason = dnsmos_unavailable_reason()
        if reason is not None:
            print(f"warning: {reason}. The other metrics are still computed.", file=sys.stderr)
            use_dnsmos = False

    from tqdm import tqdm

    bar = tqdm(total=len(match.pairs), desc="evaluate", unit="file", disable=not sys.stderr.isatty())
    try:
        with bar:
            rows = evaluation.evaluate_pairs(
                match.pairs, jobs=args.jobs, dnsmos=use_dnsmos, progress=lambda _row: bar.update()
            )
    except (ValueError, RuntimeError, OSError) as error:  # unreadable or empty audio files
        print(f"error: {error}", file=sys.stderr)
        return 1

    summary = evaluation.summarize(rows)
    csv_path = evaluation.write_csv(rows, args.output)
    table_path, markdown_path = evaluation.write_summary(summary, args.output)
    print(f"{len(rows)} file(s) scored")
    print(evaluation.format_summary(summary), end="")
    print(f"per-file results: {csv_path}\nsummary: {table_path}, {markdown_path}")

    if args.plots is not None:
        _write_plots(args.plots, match.pairs[: args.plot_files], rows)
    return 0


def _write_plots(directory: Path, pairs: list[Any], rows: list[dict[str, Any]]) -> None:
    """Spectrogram comparisons of ``pairs`` and a histogram per metric into ``directory``."""
    from crpse import plots
    from crpse.evaluation import NOISY_PREFIX, load_aligned
    from crpse.metrics import METRICS

    written = []
    for pair in pairs:
        clean, enhanced, noisy, rate = load_aligned(pair)
        signals = {"noisy": noisy} if noisy is not None else {}
        signals.update(enhanced=enhanced, clean=clean)
        path = directory / f"spec_{plots.safe_file_name(pair.name)}.png"
        written.append(plots.spectrogram_comparison(signals, rate, path, title=pair.name))
    labels = {column: label for column, (label, _) in METRICS.items()}
    labels.update({column: f"{labels[column]} (dB)" for column in labels if column.startswith("si_")})
    enhanced_rows = [{key: value for key, value in row.items() if not key.startswith(NOISY_PREFIX)} for row in rows]
    written += plots.metric_histograms(enhanced_rows, directory, labels=labels)
    print(f"plots: {len(written)} PNG file(s) in {directory}")
