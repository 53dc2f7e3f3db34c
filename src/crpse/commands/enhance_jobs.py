"""One file's enhancement for ``crpse enhance``, in this process or in ``--jobs`` worker processes.

:func:`enhance_one` is what the command does per file; it returns an :class:`Outcome` instead of printing, so the
parent reports every file the same way whether it ran here or in a worker. With ``--jobs N`` each of N spawned
workers (:class:`crpse.workers.WorkerPool`) builds its own :class:`~crpse.enhancer.Enhancer` from the same options
once, with its share of the CPU threads, and enhances whole files: on a CPU with few cores the tiny network scales
better over files than over the threads of one call (BENCHMARKS.md, section 20). The sampler noise depends only on
the seed and a window's position (:func:`crpse.enhancer.positional_noise`), so a file's output does not depend on
which worker enhanced it or in which order; it can depend on the threads per process (bf16 on a CPU rounds
differently when a convolution is split differently), so ``--jobs 2`` on two cores writes the same bytes as one
process with ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the enhancer's logger (its notices: clipped samples, silent input ...), collected in workers
_LOGGER_NAME = "crpse"


@dataclass(frozen=True)
class Outcome:
    """What enhancing one file gave.

    Attributes:
        audio_seconds: the input's duration (0 when it failed).
        seconds: wall time of the file.
        error: one line for the user when it failed (``None``: written).
        log: ``(level, message)`` of the enhancer's log records (workers only; in-process records are logged live).
    """

    audio_seconds: float
    seconds: float
    error: str | None = None
    log: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Setup:
    """A worker's state: its enhancer, or why it could not be built, and the warnings building it gave."""

    enhancer: Any
    error: str | None
    warnings: list[str]
    description: str


def build_enhancer(options: dict[str, Any]) -> tuple[Any, list[str]]:
    """``Enhancer(**options)``, built in the CLI's start-up context (:func:`crpse.commands.process.start_up`), and the
    one-line texts of the sampler-setting warnings it gave.

    Raises:
        OSError, ValueError, TypeError, RuntimeError: invalid model or settings.
    """
    from crpse.commands.process import start_up
    from crpse.enhancer import Enhancer
    from crpse.sampler_setting import SamplerSettingWarning

    with start_up(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SamplerSettingWarning)
        enhancer = Enhancer(**options)
    return enhancer, [one_line(w.message) for w in caught]  # type: ignore[arg-type]


def enhance_one(enhancer: Any, source: Path, target: Path, progress: Any = None, info: Any = None) -> Outcome:
    """Enhance ``source`` into ``target`` (replacing it); never raises for a bad file, the outcome says why.
    ``info``: the file's :func:`crpse.audio.audio_info` when the caller has already read it."""
    from crpse.audio import AudioFileError, audio_info
    from crpse.output_guard import UnsafeOutputError

    started = time.perf_counter()
    try:
        info = info if info is not None else audio_info(source)
        enhancer.enhance_file(source, target, overwrite=True, progress=progress)
    except UnsafeOutputError as error:  # its message starts with the file's name
        return Outcome(0.0, time.perf_counter() - started, f"{one_line(error)}; no output written")
    except (AudioFileError, OSError, ValueError, RuntimeError) as error:
        return Outcome(0.0, time.perf_counter() - started, f"{source}: {one_line(error)}")
    return Outcome(info.frames / info.sample_rate, time.perf_counter() - started)


# -- worker processes -----------------------------------------------------------------------------------------------
def worker_setup(options: dict[str, Any], threads: int) -> Setup:
    """A worker's state (runs once in each worker): the CLI's process settings, ``threads`` CPU threads for torch and
    the graph runtimes, and the enhancer; a failure is kept (and reported by :func:`worker_describe`) instead of
    breaking the pool."""
    from crpse.commands.process import prepare_cpu_inference_process

    # torch and the graph runtimes (ONNX Runtime, OpenVINO) take their threads from $OMP_NUM_THREADS: without this
    # each worker's runtime would use every core (oversubscribed: BENCHMARKS.md section 22). torch is not imported
    # here, so that a worker on a ready graph starts without it, as one process does.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    prepare_cpu_inference_process()
    if "torch" in sys.modules:  # already loaded: it read the variable before
        sys.modules["torch"].set_num_threads(threads)
    logging.getLogger(_LOGGER_NAME).setLevel(logging.INFO)
    try:
        enhancer, texts = build_enhancer(options)
    except (OSError, ValueError, TypeError, RuntimeError) as error:
        return Setup(None, one_line(error), [], "")
    return Setup(enhancer, None, texts, enhancer.describe())


def worker_describe(state: Setup) -> tuple[str | None, list[str], str]:
    """``(error, warnings, description)`` of a worker's setup."""
    return state.error, state.warnings, state.description


def worker_enhance(state: Setup, source: Path, target: Path) -> Outcome:
    """:func:`enhance_one` in a worker, with the enhancer's log records returned instead of printed."""
    if state.enhancer is None:
        return Outcome(0.0, 0.0, f"{source}: {state.error}")
    records: list[tuple[int, str]] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelno, record.getMessage()))

    handler = _Collect(logging.INFO)
    logger = logging.getLogger(_LOGGER_NAME)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        outcome = enhance_one(state.enhancer, source, target)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    return Outcome(outcome.audio_seconds, outcome.seconds, outcome.error, records)


def one_line(error: BaseException | Warning | str) -> str:
    """An exception's (or warning's) text on one line (its type name when it has none)."""
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())
