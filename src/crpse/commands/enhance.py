"""``crpse enhance``: enhance audio files and folders.

Example::

    crpse enhance noisy/ talk.mp3 -o enhanced/ --model crp.ckpt --device cuda
    crpse enhance talk.wav -o talk_enhanced.wav

``noisy/a/b.wav`` becomes ``enhanced/a/b.wav`` and ``talk.mp3`` becomes ``enhanced/talk.mp3``, each with the input's
sample rate, channel count, length and (WAV/FLAC) sample format. A single input file may instead be given an output
file name (``-o`` ending in an audio suffix and not an existing folder); its suffix picks the container. Bad inputs
are reported one line each (``crpse: error: PATH: reason``) and skipped; the exit status is 1 when any file failed,
2 for invalid options. An enhanced file that the output guard refuses (non-finite, clipping, or far louder than its
input: :mod:`crpse.output_guard`) is such a failed file: nothing is written for it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from crpse.backends import BACKENDS, PRECISIONS
from crpse.commands.enhance_jobs import one_line as _one_line
from crpse.chunking import DEFAULT_BATCH_SIZE, DEFAULT_OVERLAP, DEFAULT_WINDOW
from crpse.sampler_spec import CRP_SPEC, DEFAULT_SEED, ODE_METHODS, SAMPLERS, SCHEDULES
from crpse.upper_band import DEFAULT_UPPER_BAND, UPPER_BAND_CHOICES

_DESCRIPTION = """\
Enhance WAV/FLAC/OGG/MP3 files, or folders of them (searched recursively; the folder layout is kept under OUTDIR;
one input file can also be written to a file: -o out.wav). Any sample rate and channel count: audio is resampled
to the model's rate (soxr, very high quality) and back, and every channel is enhanced; above the model's band the
input's own upper band is kept, attenuated as the model attenuated the band below it (--upper-band). Long files
are enhanced in overlapping, cross-faded windows, so memory does not grow with length. Outputs keep the input's
rate, channels, length and WAV/FLAC sample format, and appear only when complete. The same --seed gives
byte-identical files (with the same --batch-size, device and threads per process). Sampler settings default to the
ones stored in the model; other settings warn, and output that is non-finite, clips or is far louder than its
input is refused (--no-output-guard)."""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``enhance`` sub-command to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "enhance",
        help="enhance WAV/FLAC/OGG/MP3 files or folders",
        description=_DESCRIPTION,
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="audio files and/or folders")
    parser.add_argument(
        "-o", "--output", required=True, type=Path, metavar="OUTDIR",
        help="output folder; for a single input file also an output file name (ending in .wav, .flac, .ogg or .mp3)",
    )
    parser.add_argument(
        "--model", metavar="NAME|PATH",
        help="a bundled model's name (`crpse models` lists them) or a crpse / reference sgmse/sgmse_crp checkpoint "
        "(default: the bundled model 'default')",
    )
    sampling = parser.add_argument_group("sampler (defaults: the model's own settings)")
    sampling.add_argument("--sampler", choices=SAMPLERS, help="reverse = CRP Euler-Maruyama")
    sampling.add_argument("--steps", type=_positive_int, metavar="N", help="reverse steps (network calls)")
    sampling.add_argument("--t-start", type=float, metavar="T", help=f"reverse starting time, e.g. {CRP_SPEC.t_start:g}")
    sampling.add_argument("--corrector-steps", type=_non_negative_int, metavar="K", help="pc: Langevin steps")
    sampling.add_argument("--snr", type=float, metavar="R", help="pc: corrector signal-to-noise ratio")
    sampling.add_argument("--ode-method", choices=ODE_METHODS, help="ode: integrator")
    sampling.add_argument("--schedule", choices=SCHEDULES, help="spacing of the sampler's time grid")
    sampling.add_argument(
        "--seed", type=int, default=DEFAULT_SEED,
        help=f"noise seed; the same seed gives identical output (default: {DEFAULT_SEED})",
    )
    run_group = parser.add_argument_group("processing")
    run_group.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="where to run (default: auto = CUDA if available)",
    )
    run_group.add_argument(
        "--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, metavar="B",
        help=f"single-channel windows per network call (default: {DEFAULT_BATCH_SIZE})",
    )
    run_group.add_argument(
        "--jobs", type=_positive_int, default=1, metavar="N",
        help="files enhanced at once by N worker processes, each with its share of the CPU threads; on a CPU with "
        "few cores this is faster for folders of short files than one file at a time (default: 1)",
    )
    run_group.add_argument(
        "--window", type=float, default=DEFAULT_WINDOW, metavar="SECONDS",
        help=f"window length for long files, rounded up to whole network blocks; 0 = whole file at once "
        f"(default: {DEFAULT_WINDOW:g})",
    )
    run_group.add_argument(
        "--overlap", type=float, default=DEFAULT_OVERLAP, metavar="SECONDS",
        help=f"cross-faded overlap between windows, at most half the window (default: {DEFAULT_OVERLAP:g})",
    )
    run_group.add_argument(
        "--backend", choices=BACKENDS, default="auto",
        help="how the network runs: onnxruntime exports the sampler once per model and setting to a cached ONNX "
        "graph (the 'onnx' extra; cache: $CRPSE_CACHE_DIR, default ~/.cache/crpse) and runs it without torch; "
        "openvino runs the same graph with OpenVINO (the 'openvino' extra; fp32 unless --precision bf16); "
        "compile runs eager with the network compiled by torch.compile on first use (CUDA graphs on a GPU; "
        "seconds to minutes per window shape) "
        "(default: auto = the fastest faithful path for this machine: onnxruntime where a graph is ready, else "
        "eager)",
    )
    run_group.add_argument(
        "--precision", choices=PRECISIONS, default="auto",
        help="bf16 only on hardware with native bf16, fp16 only on CUDA GPUs (default: auto = fp32 unless bf16's "
        "measured quality cost is below 0.02 PESQ)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format", choices=("wav", "flac", "ogg", "mp3"),
        help="output container (default: the input's); the sample format is kept where the container allows",
    )
    output.add_argument(
        "--upper-band", choices=UPPER_BAND_CHOICES, default=DEFAULT_UPPER_BAND,
        help="input above the model's rate: 'keep' adds the input's band above the model's Nyquist frequency back, "
        "attenuated as the model attenuated the band below it; 'drop' leaves nothing above it "
        f"(default: {DEFAULT_UPPER_BAND})",
    )
    output.add_argument("--overwrite", action="store_true", help="replace existing output files")
    output.add_argument(
        "--no-output-guard", action="store_true",
        help="write outputs even when they are non-finite, clip or are far louder than the input (for research on "
        "diverging samplers; by default such a file fails and nothing is written for it)",
    )
    output.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _error(message: str, write: Any = None) -> None:
    line = f"crpse: error: {message}"
    if write is not None:
        write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def _output_path(outdir: Path, relative: Path, fmt: str | None) -> Path:
    """``OUTDIR/relative``, with the suffix of ``--format`` when it changes the container."""
    from crpse.audio import AUDIO_SUFFIXES, OUTPUT_FORMATS

    if fmt is not None:
        container, suffix = OUTPUT_FORMATS[fmt]
        if AUDIO_SUFFIXES.get(relative.suffix.lower()) != container:
            relative = relative.with_suffix(suffix)
    return outdir / relative


def _output_file(output: Path, inputs: list[Path], fmt: str | None) -> tuple[Path | None, str]:
    """Whether ``-o`` names an output file: ``(file, "")`` for one input file and an ``-o`` with an audio suffix that
    is not an existing folder, ``(None, "")`` for an output folder, ``(None, problem)`` when ``-o`` cannot be used."""
    from crpse.audio import AUDIO_SUFFIXES, OUTPUT_FORMATS

    container = AUDIO_SUFFIXES.get(output.suffix.lower())
    if output.is_dir() or container is None:
        if output.exists() and not output.is_dir():
            return None, f"{output}: the output must be a folder (or, for one input file, a .wav/.flac/.ogg/.mp3 name)"
        return None, ""
    if len(inputs) != 1 or not inputs[0].is_file():
        return None, (f"{output}: an output file name takes exactly one input file; for several files or a folder "
                      "give an output folder")
    if fmt is not None and OUTPUT_FORMATS[fmt][0] != container:
        return None, f"{output}: the name's suffix asks for {container} but --format asks for {OUTPUT_FORMATS[fmt][0]}"
    return output, ""


def run(args: argparse.Namespace) -> int:
    """Enhance every input; returns 0 when all succeeded, 1 when any failed, 2 for invalid settings."""
    from crpse.commands.process import prepare_cpu_inference_process

    prepare_cpu_inference_process()  # before torch loads
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from crpse.audio import audio_info, find_audio_files
    from crpse.commands.enhance_jobs import Outcome, build_enhancer, enhance_one
    from crpse.output_guard import GuardLimits

    started = time.perf_counter()
    files, problems = find_audio_files(args.inputs, exclude=[args.output])
    failed = 0
    for path, reason in problems:
        _error(f"{path}: {reason}")
        failed += 1
    if not files:
        _error("no audio files found (looked for .wav, .flac, .ogg, .mp3)" if not problems else "nothing to enhance")
        return 1

    outdir: Path = args.output
    output_file, problem = _output_file(args.output, args.inputs, args.format)
    if problem:
        _error(problem)
        return 2
    options: dict[str, Any] = dict(
        model=args.model, sampler=args.sampler, steps=args.steps, t_start=args.t_start, seed=args.seed,
        device=args.device, window=args.window or None, overlap=args.overlap, batch_size=args.batch_size,
        backend=args.backend, precision=args.precision, corrector_steps=args.corrector_steps, snr=args.snr,
        ode_method=args.ode_method, schedule=args.schedule,
        output_limits=None if args.no_output_guard else GuardLimits(), upper_band=args.upper_band,
    )
    jobs = min(args.jobs, len(files))
    with contextlib.ExitStack() as stack:
        if jobs == 1:
            try:
                enhancer, texts = build_enhancer(options)
            except (OSError, ValueError, TypeError, RuntimeError) as error:
                return _invalid_model(args.model, _one_line(error))
            description = enhancer.describe()
        else:
            from crpse.commands.enhance_jobs import worker_describe, worker_enhance, worker_setup
            from crpse.workers import WorkerPool

            threads = max(1, _cpu_threads() // jobs)
            pool = stack.enter_context(WorkerPool(jobs, worker_setup, (options, threads)))
            setup_error, texts, description = pool.submit(worker_describe).result()
            if setup_error is not None:
                return _invalid_model(args.model, setup_error)
            description += f"; {jobs} worker processes x {threads} thread{'s' if threads > 1 else ''}"
        for text in texts:
            print(f"crpse: warning: {text}", file=sys.stderr)

        quiet = bool(args.quiet)
        sources = {item.path.resolve() for item in files}
        claimed: dict[Path, Path] = {}
        enhanced = skipped = 0
        audio_seconds = 0.0
        bar = tqdm(total=len(files), unit="file", desc="enhance", disable=True if quiet else None, dynamic_ncols=True)
        if not quiet:
            bar.write(f"crpse: {description}", file=sys.stderr)
        planned: list[tuple[int, Any, Path]] = []  # (number, input, target) of the files to enhance
        for number, item in enumerate(files, start=1):
            target = output_file or _output_path(outdir, item.relative, args.format)
            resolved = target.resolve()
            if resolved in sources:
                _error(f"{item.path}: its output {target} is an input file; refusing to overwrite inputs", bar.write)
                failed += 1
            elif resolved in claimed:
                _error(f"{item.path}: its output {target} is also the output of {claimed[resolved]}", bar.write)
                failed += 1
            else:
                claimed[resolved] = item.path
                if target.exists() and not args.overwrite:
                    if not quiet:
                        bar.write(f"crpse: skipping {item.path}: {target} exists (use --overwrite)", file=sys.stderr)
                    skipped += 1
                else:
                    planned.append((number, item, target))
                    continue
            bar.update(1)

        def outcomes() -> Any:
            """``(number, input, target, outcome)`` per planned file: in input order in this process, as they finish
            in workers."""
            if jobs == 1:
                for number, item, target in planned:
                    try:
                        info = audio_info(item.path)
                        windows = enhancer.num_windows(info.frames, info.sample_rate)
                    except Exception:  # noqa: BLE001 - enhance_one reads it again and reports the unreadable file
                        info = windows = None
                    with tqdm(total=windows, unit="window", desc=item.path.name, leave=False, position=1,
                              disable=True if quiet else None, dynamic_ncols=True) as progress, logging_redirect_tqdm():
                        yield number, item, target, enhance_one(enhancer, item.path, target, progress.update, info)
                return
            # largest files first, so that no worker is left with a long file while the others are idle at the end;
            # each file is reported when it is done
            from concurrent.futures import as_completed

            running = {pool.submit(worker_enhance, item.path, target): (number, item, target)
                       for number, item, target in sorted(planned, key=lambda p: -_file_size(p[1].path))}
            for future in as_completed(running):
                number, item, target = running[future]
                try:
                    outcome = future.result()
                except Exception as error:  # noqa: BLE001 - a worker that died (killed, out of memory)
                    outcome = Outcome(0.0, 0.0, f"{item.path}: worker failed: {_one_line(error)}")
                with logging_redirect_tqdm():
                    for level, message in outcome.log:
                        logging.getLogger("crpse.enhancer").log(level, "%s", message)
                yield number, item, target, outcome

        for number, item, target, outcome in outcomes():
            bar.update(1)
            if outcome.error is not None:
                _error(outcome.error, bar.write)
                failed += 1
                continue
            enhanced += 1
            audio_seconds += outcome.audio_seconds
            if not quiet:  # one line per file, also when no progress bar is shown (output not a terminal)
                bar.write(f"crpse: [{number}/{len(files)}] {item.path} -> {target}: "
                          f"{_speed(outcome.audio_seconds, outcome.seconds)}", file=sys.stderr)
        bar.close()

    summary = f"enhanced {enhanced} file{'s' if enhanced != 1 else ''}, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped (already exist; use --overwrite)"
    summary += f", {_speed(audio_seconds, time.perf_counter() - started)}"
    if not quiet or failed:
        print(f"crpse: {summary}", file=sys.stderr)
    return 1 if failed else 0


def _invalid_model(model: str | None, message: str) -> int:
    """Report an enhancer that could not be built (naming the model); the exit status of invalid options."""
    if model is not None and str(model) not in message:
        message = f"{model}: {message}"
    _error(message)
    return 2


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _cpu_threads() -> int:
    """The CPU threads this process may use: ``$OMP_NUM_THREADS`` when set, else the CPUs it may run on."""
    import os

    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _speed(audio_seconds: float, wall_seconds: float) -> str:
    """``12.3 s of audio in 1.9 s, RTF 0.15`` (the real-time factor: wall time / audio duration)."""
    text = f"{audio_seconds:.1f} s of audio in {wall_seconds:.1f} s"
    return text + (f", RTF {wall_seconds / audio_seconds:.2f}" if audio_seconds > 0 else "")
