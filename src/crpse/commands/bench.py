"""``crpse bench {quality,claims,sweep,region,regions,speed}``: experiments over checkpoints (the paper table and the
verdicts on the paper's claims, the t_start x N sweep, a model's validated region and a model on another's) and the
speed of this machine.

Examples::

    crpse bench quality --corpus $CORPUS --splits test,test_mismatched -o results/paper \\
        --model dsm=dsm.ckpt --model crp1=crp1.ckpt --model pred=pred.ckpt \\
        --settings dsm=pc:30:c=1 --settings dsm=reverse:1,2,5,10:t=0.5,max --settings crp1=reverse:1..5:t=0.5 \\
        --reference dsm@pc:30:c=1
    crpse bench sweep --corpus $CORPUS --splits valid,test -o results/sweep --model crp1=crp1.ckpt \\
        --model pred=pred.ckpt --steps 1..5 --t-start 0.1..0.9/0.1
    crpse bench region results/sweep --name crp1 --checkpoint crp1.ckpt -o crp1.validated.ckpt
    crpse bench regions results/sweep --fixed crp1 --candidate range
    crpse bench claims results/paper --names dsm=dsm,crp1=crp1,crp5=crp5,multi=multi,pred=pred
    crpse bench speed --config model,ncsnpp --seconds 2.04 --batch 1 --threads 2 -o results/speed

The library side is :mod:`crpse.bench`; this module only parses options, prints and sets the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crpse.sampler_spec import REVERSE, SCHEDULES, UNIFORM

#: the test splits of `crpse data synth` (matched, mismatched noise, real speech); the default takes those present
_TEST_SPLITS = ("test", "test_mismatched", "test_real")

_QUALITY = """\
Enhance corpus splits with each model at each sampler setting (through the code `crpse enhance` runs), score every
file (PESQ, ESTOI, SI-SDR, SI-SIR, SI-SAR, DNSMOS OVRL, as `crpse evaluate`), and write OUT/quality.csv and
OUT/quality.md (mean ± std per metric, NFE, RTF, and the paired difference to the --reference row with its 95 %
bootstrap confidence interval, seeded) and OUT/quality.png (PESQ and SI-SDR against NFE, one panel per split).
Settings use the grid language SAMPLER[:STEPS][:KEY=VALUE]... (keys t, c, snr, method, schedule; lists 1,2,5 and
ranges 1..5 or 0.1..0.9/0.1 expand to every combination); `model` is the checkpoint's own setting. Finished cells
are kept in OUT/cells/ and reused by a later run with the same OUT (resume after an interruption)."""

_CLAIMS = """\
Judge the paper's three claims and the multi-N acceptance from the finished cells of a `crpse bench quality` folder
(no enhancement runs): (1) crp5 at 5 calls against the DSM model's PC-30 (60 calls), not worse than --margin;
(2) crp1 at 1 call steady against crp5 at 5, the DSM model at 1 reverse step (from --t-start and from t_max)
significantly below its PC-30, and crp1 at 1 significantly above the DSM model at 1; (3) crp1 at 1 significantly
above the predictive model on test_mismatched and test_real; multi-N: the multi-N model at N = 1..5 within --margin
of the dedicated model at its own N and not significantly worse than either at N = 2-4. Paired bootstrap 95 %
intervals on PESQ (ESTOI and SI-SDR reported beside). Writes OUT/claims.md and OUT/claims.csv."""

_SWEEP = """\
Sweep the reverse (CRP) sampler over t_start x N x time schedule for each score model, on --splits (include valid
to choose validated regions). Writes OUT/sweep.csv/.md, heatmaps OUT/heatmap_<split>_<schedule>_<metric>.png
(PESQ and SI-SDR, one panel per model; a predictive model is the reference the colour scale is centred on) and,
when valid/ is swept, OUT/region_<model>.json: the settings within --tolerance PESQ of the model's best on valid/."""

_REGION = """\
Write a model's validated region from a `crpse bench sweep` folder into a copy of its checkpoint, and make the best
setting on valid/ the checkpoint's default sampler setting (--no-default keeps the current one). `crpse info` shows
the region; `crpse enhance` warns for settings outside it."""

_REGIONS = """\
Compare two models of one `crpse bench sweep` folder on valid/: the candidate's worst PESQ over the grid points of
the fixed model's validated region against the fixed model's own worst there, and the sizes of both validated
regions (grid points within --tolerance of each model's best). Prints the verdicts (no worse / worse, wider / not
wider) and writes them to SWEEP_DIR/regions_CANDIDATE_vs_FIXED.md."""


_SPEED = """\
Time the network (one score-model call: median seconds, achieved GFLOP/s, per-call RTF, for each --config,
--seconds and --batch), `crpse enhance` end to end in a fresh process (start-up, I/O, resampling, windows and STFT
included: wall, RTF, CPU time, peak RSS) and the start-up alone (import + model load). Prints a Markdown table
with the CPU model, ISA flags and threads; -o writes it and a CSV. The machine's other load shows in the wall
times: compare figures from one run.

--reference PATH (a checkout of sgmse_crp) times the official NCSN++ instead, interleaved with crpse's paths on the
same weights and input (one call of each per round): ratios to the reference and errors against crpse eager NCHW
fp32. Its --precision names: nchw, fp32 (channels-last), bf16-nchw, bf16 (channels-last), compile, compile-bf16,
and the graph backends' onnxruntime, openvino, openvino-bf16 (default: nchw,fp32,bf16-nchw,bf16; bf16 needs native
bf16); --backend onnxruntime,openvino adds those graphs' fp32 rows. A graph path runs the exported one-step sampler
(one network call plus the step's arithmetic) on an input of the same shape, its error against that sampler in
eager NCHW fp32. No end-to-end or start-up runs in this mode."""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench`` with its ``quality``, ``claims``, ``sweep``, ``region``, ``regions`` and ``speed`` sub-commands."""
    parser = subparsers.add_parser("bench", help="experiments: quality tables, sampler sweeps, validated regions",
                                   description="Experiments over checkpoints (needs crpse[eval]).")
    sub = parser.add_subparsers(dest="bench_command", metavar="EXPERIMENT", required=True)

    quality = sub.add_parser("quality", help="the quality table and NFE plot of several models",
                             description=_QUALITY)
    _common(quality)
    quality.add_argument("--settings", action="append", default=[], metavar="[NAME=]SPEC",
                         help="sampler settings for model NAME (or every score model); repeatable "
                              "(default: each model's own setting)")
    quality.add_argument("--reference", default="noisy", metavar="NAME@SPEC|noisy",
                         help="row the differences and confidence intervals are relative to (default: noisy)")
    quality.add_argument("--splits", metavar="A,B",
                         help=f"corpus splits to enhance (default: those of {', '.join(_TEST_SPLITS)} in the corpus)")

    claims = sub.add_parser("claims", help="verdicts on the paper's claims from a quality folder",
                            description=_CLAIMS)
    claims.add_argument("results", type=Path, metavar="OUT", help="output folder of `crpse bench quality`")
    claims.add_argument("--names", default="", metavar="ROLE=NAME,...",
                        help="the benchmark's model names for the roles dsm, crp1, crp5, multi, pred; NONE leaves a "
                             "role out (default: each role's own name)")
    claims.add_argument("--t-start", type=float, default=0.5, help="reverse start time of the CRP rows (default: 0.5)")
    claims.add_argument("--pc-steps", type=int, default=30, help="PC steps of the DSM reference row (default: 30)")
    claims.add_argument("--margin", type=float, default=0.05, metavar="PESQ",
                        help="how much less PESQ still counts as matching (default: 0.05)")
    claims.add_argument("--splits", metavar="A,B", help="splits to judge (default: those the cells cover)")
    claims.add_argument("--bootstrap-rounds", type=int, default=2000, metavar="R",
                        help="paired bootstrap resamples (default: 2000, seeded)")

    sweep = sub.add_parser("sweep", help="t_start x N x schedule heatmaps and validated regions", description=_SWEEP)
    _common(sweep)
    sweep.add_argument("--steps", default="1..5", metavar="LIST", help="reverse steps N (default: 1..5)")
    sweep.add_argument("--t-start", default="0.1..0.9/0.1", metavar="LIST",
                       help="reverse start times (default: 0.1..0.9/0.1)")
    sweep.add_argument("--schedules", default=",".join(SCHEDULES), metavar="A,B",
                       help=f"time schedules (default: {','.join(SCHEDULES)})")
    sweep.add_argument("--splits", default="valid,test", metavar="A,B",
                       help="corpus splits (default: valid,test)")
    sweep.add_argument("--tolerance", type=float, default=0.05, metavar="PESQ",
                       help="validated region: within this much PESQ of the best on valid/ (default: 0.05)")

    region = sub.add_parser("region", help="store a validated region (and default setting) in a checkpoint",
                            description=_REGION)
    region.add_argument("sweep", type=Path, metavar="SWEEP_DIR", help="output folder of `crpse bench sweep`")
    region.add_argument("--name", required=True, help="the model's name in the sweep")
    region.add_argument("--checkpoint", required=True, type=Path, metavar="CKPT", help="the model's checkpoint")
    region.add_argument("-o", "--output", required=True, type=Path, metavar="CKPT",
                        help="checkpoint to write (may be the input)")
    region.add_argument("--tolerance", type=float, default=0.05, metavar="PESQ", help="default: 0.05")
    region.add_argument("--no-default", action="store_true", help="keep the checkpoint's default sampler setting")

    regions = sub.add_parser("regions", help="a model against another on the other's validated region",
                             description=_REGIONS)
    regions.add_argument("sweep", type=Path, metavar="SWEEP_DIR", help="output folder of `crpse bench sweep`")
    regions.add_argument("--fixed", required=True, metavar="NAME", help="the model whose region is the ground")
    regions.add_argument("--candidate", required=True, metavar="NAME", help="the model scored on it")
    regions.add_argument("--tolerance", type=float, default=0.05, metavar="PESQ", help="default: 0.05")

    speed = sub.add_parser("speed", help="network and end-to-end speed on this machine", description=_SPEED)
    speed.add_argument("--model", metavar="PATH", help="checkpoint for the `model` config and end to end "
                       "(default: the bundled model)")
    speed.add_argument("--config", default="model", metavar="A,B",
                       help="networks to time: `model` and/or random tiny, ncsnpp_m, ncsnpp (default: model)")
    speed.add_argument("--seconds", default="2,6", metavar="A,B", help="audio seconds per item (default: 2,6)")
    speed.add_argument("--batch", default="1,4", metavar="A,B", help="batch sizes (default: 1,4)")
    speed.add_argument("--repeats", type=int, default=5, metavar="R", help="timed repeats after a warm-up "
                       "(default: 5; end to end and start-up: at most 3)")
    speed.add_argument("--end-to-end", default="60", metavar="A,B",
                       help="lengths of the `crpse enhance` runs in seconds; 0: none (default: 60)")
    speed.add_argument("--threads", type=int, default=0, metavar="N", help="torch CPU threads (0: default)")
    speed.add_argument("--precision", default="", metavar="A,B",
                       help="inference paths to time side by side, with their error against eager NCHW fp32: "
                            "nchw (plain eager fp32), fp32, bf16, auto (default: the model as loaded)")
    speed.add_argument("--reference", type=Path, metavar="PATH",
                       help="a sgmse_crp checkout: time its NCSN++ interleaved with crpse on the same weights")
    speed.add_argument("--backend", default="", metavar="A,B",
                       help="backends for the end-to-end and start-up runs, interleaved: auto, eager, onnxruntime, "
                            "openvino; a graph backend also times its graph next to the network rows "
                            "(default: auto)")
    speed.add_argument("-o", "--output", type=Path, metavar="OUT", help="folder for speed.csv and speed.md")
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", action="append", default=[], required=True, metavar="NAME=PATH",
                        help="a checkpoint under a short name (repeatable)")
    parser.add_argument("--corpus", required=True, type=Path, metavar="DIR", help="folder with SPLIT/{clean,noisy}")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="results folder")
    parser.add_argument("--max-files", type=int, metavar="K", help="at most K files per split (uniform subset)")
    parser.add_argument("--seed", type=int, default=0, help="sampler noise seed (default: 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--window", type=float, metavar="SECONDS",
                        help="enhancement window (default: crpse enhance's; 0: whole files)")
    parser.add_argument("--batch-size", type=int, metavar="B", help="windows per network call")
    parser.add_argument("--threads", type=int, default=0, metavar="N", help="torch CPU threads (0: default)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="scoring processes (default: 1)")
    parser.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS")
    parser.add_argument("--keep-audio", action="store_true", help="keep the enhanced files under OUT/audio")
    parser.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                        help="network precision; fp32 keeps scores independent of the CPU (auto: bf16 where the "
                             "hardware has it natively) (default: fp32)")
    parser.add_argument("--no-noisy", action="store_true", help="leave out the unprocessed-input row")
    parser.add_argument("--no-plot", action="store_true", help="write no figure")
    parser.add_argument("--bootstrap-rounds", type=int, default=2000, metavar="R",
                        help="paired bootstrap resamples (default: 2000, seeded)")


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _candidates(args: argparse.Namespace, settings: dict[str | None, list[str]]) -> list[Any]:
    from crpse.bench.grid import parse_assignments, parse_settings
    from crpse.bench.quality import Candidate

    models = parse_assignments(args.model, "--model")
    names = {name for name, _ in models}
    unknown = sorted(set(settings) - names - {None})
    if unknown:
        raise ValueError(f"--settings names unknown model(s) {', '.join(unknown)} (models: {', '.join(names)})")
    out = []
    for name, path in models:
        texts = settings.get(name) or settings.get(None) or ["model"]
        out.append(Candidate(name, Path(path), tuple(parse_settings(texts))))
    return out


def _settings_by_model(texts: list[str]) -> dict[str | None, list[str]]:
    """``NAME=SPEC`` goes to NAME, a bare SPEC (its text before any ``=`` has a ``:``) to every score model."""
    by_model: dict[str | None, list[str]] = {}
    for text in texts:
        head, sep, rest = text.partition("=")
        if sep and ":" not in head and head not in ("t", "c", "snr", "method", "schedule"):
            by_model.setdefault(head.strip(), []).append(rest.strip())
        else:
            by_model.setdefault(None, []).append(text.strip())
    return by_model


def _options(args: argparse.Namespace, splits: tuple[str, ...]) -> Any:
    from crpse.bench.quality import BenchOptions

    if args.max_files is not None and args.max_files < 1:
        raise ValueError(f"--max-files must be >= 1, got {args.max_files}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    return BenchOptions(
        corpus=args.corpus, splits=splits, out_dir=args.output, max_files=args.max_files, seed=args.seed,
        device=args.device, window=args.window, batch_size=args.batch_size, jobs=args.jobs,
        dnsmos=not args.no_dnsmos, keep_audio=args.keep_audio, precision=args.precision,
    )


def _progress(line: str) -> None:
    print(f"crpse bench: {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the experiment; 0 on success, 1 with one message line for bad options, data or checkpoints."""
    if args.bench_command == "speed":
        from crpse.commands.process import prepare_cpu_inference_process

        prepare_cpu_inference_process()  # the settings `crpse enhance` runs with; before torch loads
    from crpse.checkpoint import CheckpointError
    from crpse.data import DataError

    if getattr(args, "threads", 0):
        import torch

        torch.set_num_threads(args.threads)
    handlers = {"quality": _run_quality, "claims": _run_claims, "sweep": _run_sweep, "region": _run_region,
                "regions": _run_regions, "speed": _run_speed}
    try:
        return handlers[args.bench_command](args)
    except (CheckpointError, DataError, FileNotFoundError, ValueError, ImportError) as err:
        if getattr(args, "verbose", False):
            raise
        print(f"crpse: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1


def _run_quality(args: argparse.Namespace) -> int:
    from crpse.bench import quality

    candidates = _candidates(args, _settings_by_model(args.settings))
    if args.splits is None:
        splits = tuple(s for s in _TEST_SPLITS if (args.corpus / s).is_dir())
        if not splits:
            raise FileNotFoundError(f"{args.corpus} has none of the splits {', '.join(_TEST_SPLITS)}; name --splits")
    else:
        splits = _split_list(args.splits)
    options = _options(args, splits)
    rows, cells = quality.run_benchmark(candidates, options, include_noisy=not args.no_noisy, progress=_progress)
    reference = quality.reference_cell(args.reference, candidates, cells, options)
    table = quality.summarize(rows, reference, rounds=args.bootstrap_rounds)
    csv_path, md_path = quality.write_table(table, args.output / "quality.csv", title="Quality")
    print(md_path.read_text())
    written = [csv_path, md_path, args.output / "per_file.csv"]
    if not args.no_plot:
        from crpse.bench.figures import nfe_plot

        written.append(nfe_plot(table, args.output / "quality.png"))
    print("written: " + ", ".join(str(p) for p in written))
    return 0


def _run_claims(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from crpse.bench import claims

    roles = {f.name for f in fields(claims.ClaimModels)}
    names: dict[str, str | None] = {}
    for item in _split_list(args.names):
        role, sep, name = item.partition("=")
        if not sep or role not in roles or not name:
            raise ValueError(f"--names: {item!r} is not ROLE=NAME with ROLE one of {', '.join(sorted(roles))}")
        names[role] = None if name == "NONE" else name
    if args.margin < 0:
        raise ValueError(f"--margin must be >= 0, got {args.margin}")
    cells = claims.load_cells(args.results)
    splits = list(_split_list(args.splits)) if args.splits else claims.judged_splits(cells)
    plan = claims.comparisons(claims.ClaimModels(**names), splits, t_start=args.t_start, margin=args.margin,
                                pc_steps=args.pc_steps)
    outcomes = claims.judge(cells, plan, rounds=args.bootstrap_rounds)
    csv_path, md_path = claims.write_claims(outcomes, args.results, margin=args.margin)
    print(md_path.read_text())
    print(f"written: {csv_path}, {md_path}")
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    from crpse.bench import quality
    from crpse.bench.grid import parse_settings
    from crpse.bench.region import VALID_SPLIT, compute_region

    grid_specs = sweep_specs(args.steps, args.t_start, _split_list(args.schedules))
    candidates = _candidates(args, {None: grid_specs})
    grid = parse_settings(grid_specs)
    options = _options(args, _split_list(args.splits))
    rows, cells = quality.run_benchmark(candidates, options, include_noisy=not args.no_noisy, progress=_progress)
    table = quality.summarize(rows, None, rounds=args.bootstrap_rounds)
    csv_path, md_path = quality.write_table(table, args.output / "sweep.csv", title="Sampler sweep")
    written = [csv_path, md_path]
    if not args.no_plot:
        from crpse.bench.figures import sweep_heatmaps

        written += sweep_heatmaps(table, args.output)
    if VALID_SPLIT in options.splits:
        for name, model_cells in cells.items():
            if not any(c.sampler == REVERSE for c in model_cells):
                continue
            region = compute_region(table, name, tolerance=args.tolerance)
            path = args.output / f"region_{name}.json"
            path.write_text(json.dumps(region.to_dict(), indent=2) + "\n")
            print(f"{name}: {region.describe()}")
            written.append(path)
    print(f"{len(grid)} grid settings per score model; written: " + ", ".join(str(p) for p in written))
    return 0


def sweep_specs(steps: str, t_start: str, schedules: tuple[str, ...]) -> list[str]:
    """The grid specs of a sweep. Every schedule has the same grid for N = 1 and 2 (it starts at t_start and ends
    at t_eps), so schedules other than ``uniform`` run only N >= 3; the heatmaps reuse the uniform cells below."""
    from crpse.bench.grid import parse_setting

    wanted = sorted({spec.steps for spec in parse_setting(f"reverse:{steps}")})
    few, many = [n for n in wanted if n < 3], [n for n in wanted if n >= 3]
    specs = []
    uniform_steps = wanted if UNIFORM in schedules else few
    if uniform_steps:
        specs.append(f"reverse:{','.join(map(str, uniform_steps))}:t={t_start}")
    for schedule in schedules:
        if schedule != UNIFORM and many:
            specs.append(f"reverse:{','.join(map(str, many))}:t={t_start}:schedule={schedule}")
    return specs


def _sweep_table(folder: Path) -> list[dict[str, Any]]:
    """The rows of ``folder/sweep.csv`` (``crpse bench sweep``'s table)."""
    from crpse.bench.quality import read_rows

    table_path = folder / "sweep.csv"
    if not table_path.is_file():
        raise FileNotFoundError(f"{table_path}: no sweep table; run `crpse bench sweep` with valid in --splits")
    return read_rows(table_path)


def _run_region(args: argparse.Namespace) -> int:
    from crpse.bench.region import compute_region, write_region

    region = compute_region(_sweep_table(args.sweep), args.name, tolerance=args.tolerance)
    written = write_region(args.checkpoint, args.output, region, set_default=not args.no_default)
    print(region.describe())
    best = region.best
    if not args.no_default:
        print(f"default setting: {best.sampler} N={best.steps} t_start={best.t_start:g} ({best.schedule})")
    print(f"written: {written}")
    return 0


def _run_regions(args: argparse.Namespace) -> int:
    from crpse.bench.region import compare_regions

    comparison = compare_regions(_sweep_table(args.sweep), args.fixed, args.candidate, tolerance=args.tolerance)
    text = comparison.describe()
    target = args.sweep / f"regions_{args.candidate}_vs_{args.fixed}.md"
    target.write_text(f"# {args.candidate} on the validated region of {args.fixed} (valid/)\n\n"
                      + "\n".join(f"* {line}" for line in text.splitlines()) + "\n")
    print(text)
    print(f"written: {target}")
    return 0


def _run_speed(args: argparse.Namespace) -> int:
    from crpse.bench import speed

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    lengths = [float(x) for x in _split_list(args.seconds)]
    batches = [int(x) for x in _split_list(args.batch)]
    if min(lengths, default=1) <= 0 or min(batches, default=1) < 1:
        raise ValueError("--seconds must be positive and --batch at least 1")
    model = str(args.model) if args.model else None
    machine = speed.machine_info()
    _progress(f"machine: {machine.describe()}")
    if args.reference is not None:
        from crpse.bench.reference import reference_table

        rows = _reference_rows(args, lengths, batches, model)
        text = f"Machine: {machine.describe()}\n\n{reference_table(rows)}\n"
    else:
        rows, text = _speed_rows(args, lengths, batches, model, machine)
    print(text)
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "speed.md").write_text(text)
        csv_path = speed.write_csv(rows, args.output / "speed.csv", machine)
        print(f"written: {csv_path}, {args.output / 'speed.md'}")
    return 0


def _reference_rows(args: argparse.Namespace, lengths: list[float], batches: list[int], model: str | None) -> list[Any]:
    from crpse.bench import reference
    from crpse.backends.eager import load_inference_model

    reference_class = reference.import_reference(args.reference)
    paths = list(_split_list(args.precision) or reference.DEFAULT_PATHS)
    paths += [b for b in _split_list(args.backend) if b in reference.GRAPH_PATHS and b not in paths]
    rows = []
    for config in _split_list(args.config):
        if config == "model":
            net, _ = load_inference_model(model, "cpu")
            label = Path(model).name if model else "default"
        else:
            net, label = reference.random_model(config), config
        if net.config.kind != "score":
            raise ValueError(f"--reference compares score models; {label} is {net.config.kind}")
        for length in lengths:
            for batch in batches:
                rows += reference.compare_with_reference(net, reference_class, length, batch, paths,
                                                         repeats=args.repeats, label=label, progress=_progress)
    return rows


def _speed_rows(
    args: argparse.Namespace, lengths: list[float], batches: list[int], model: str | None, machine: Any
) -> tuple[list[Any], str]:
    from crpse.bench import speed

    end_to_end = [float(x) for x in _split_list(args.end_to_end) if float(x) > 0]
    try:
        rows = speed.run_speed(
            _split_list(args.config), lengths, batches, model=model, repeats=args.repeats,
            end_to_end_seconds=end_to_end, threads=args.threads, precisions=_split_list(args.precision),
            backends=_split_list(args.backend), progress=_progress,
        )
    except RuntimeError as err:  # a `crpse enhance` child failed
        raise ValueError(str(err)) from err
    return rows, f"Machine: {machine.describe()}\n\n{speed.markdown_table(rows)}\n"
