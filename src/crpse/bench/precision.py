"""What a lower precision costs in quality: the same files enhanced at fp32 and at bf16, scored, compared per file.

Both precisions run the same model, sampler setting, windows and seed (so the same sampler noise): the only
difference is the arithmetic. Every file is enhanced at each precision one after the other (the per-file times are
interleaved, so their ratio holds on a busy machine), scored against its clean reference with
:func:`crpse.evaluation.evaluate_pairs`, and the paired differences ``other - fp32`` are summarised per metric: the
mean, the worst file (the most negative difference: the largest loss) and the mean absolute difference.

This is the measurement behind a checkpoint's bf16 cost record (:mod:`crpse.bf16_record`, :func:`write_bf16_cost`),
which ``--precision auto`` reads (BENCHMARKS.md section 13.2).
Library code: nothing is printed.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crpse.bf16_record import BF16_COST_KEY, Bf16Cost
from crpse.metrics import PAIR_METRICS  # the metrics compared (higher is better for each)


@dataclass(frozen=True)
class MetricCost:
    """Paired differences ``other - base`` of one metric over the files (negative: the other precision is worse).

    Attributes:
        metric: ``pesq``, ``estoi`` or ``si_sdr``.
        base_mean: the metric's mean at the base precision.
        mean: mean difference.
        worst: the most negative difference (the largest loss on one file; positive if every file gained).
        worst_file: the file where it happened.
        mean_abs: mean absolute difference.
        files: files compared (those with a finite score at both precisions).
    """

    metric: str
    base_mean: float
    mean: float
    worst: float
    worst_file: str
    mean_abs: float
    files: int

    @property
    def cost(self) -> float:
        """The mean loss (``-mean``; what :data:`crpse.backends.BF16_MAX_PESQ_COST` limits for PESQ)."""
        return -self.mean


def paired_costs(
    base: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], metrics: Sequence[str] = PAIR_METRICS
) -> list[MetricCost]:
    """Compare per-file score rows (``name`` plus metric columns) of two runs over the same files.

    Raises:
        ValueError: the rows are not the same files in the same order, or a metric has no finite pair.
    """
    if [r["name"] for r in base] != [r["name"] for r in other]:
        raise ValueError("the two runs scored different files")
    costs = []
    for metric in metrics:
        pairs = [(r["name"], float(r[metric]), float(o[metric])) for r, o in zip(base, other)
                 if math.isfinite(float(r.get(metric, math.nan))) and math.isfinite(float(o.get(metric, math.nan)))]
        if not pairs:
            raise ValueError(f"no file has a finite {metric} at both precisions")
        differences = [(b_other - b_base, name) for name, b_base, b_other in pairs]
        worst, worst_file = min(differences)
        costs.append(MetricCost(
            metric=metric, base_mean=statistics.fmean(p[1] for p in pairs),
            mean=statistics.fmean(d for d, _ in differences), worst=worst, worst_file=worst_file,
            mean_abs=statistics.fmean(abs(d) for d, _ in differences), files=len(pairs),
        ))
    return costs


@dataclass(frozen=True)
class PrecisionRun:
    """One precision's enhanced files and per-file scores and times."""

    precision: str
    backend: str
    rows: list[dict[str, Any]]
    seconds: list[float]


def compare_precisions(
    model: Any,
    pairs: Sequence[Any],
    out_dir: Path,
    precisions: Sequence[str] = ("fp32", "bf16"),
    jobs: int = 1,
    progress: Callable[[str], Any] | None = None,
    **enhancer_options: Any,
) -> tuple[list[PrecisionRun], dict[str, float]]:
    """Enhance ``pairs`` (:class:`crpse.data.SpeechPair`) at each precision and score them.

    Args:
        model: a model object, checkpoint path or bundled model name (``None``: the bundled default).
        pairs: the files (noisy inputs and clean references).
        out_dir: where the enhanced files go (``out_dir/PRECISION/NAME.wav``).
        precisions: the first is the base of the comparison.
        jobs: scoring processes.
        **enhancer_options: further :class:`~crpse.enhancer.Enhancer` keywords (the model's own setting if none).

    Returns:
        ``(one PrecisionRun per precision, {precision: max |other - base| sample difference over all files})``;
        the second holds the largest absolute output difference to the base precision's files.
    """
    import soundfile as sf

    from crpse.backends.eager import load_inference_model
    from crpse.enhancer import Enhancer
    from crpse.evaluation import FilePair, evaluate_pairs

    loaded, device = load_inference_model(model, enhancer_options.pop("device", "cpu"))
    enhancers = []
    for precision in precisions:  # each Enhancer puts the model in its layout: one copy per precision
        enhancers.append(Enhancer(copy.deepcopy(loaded), device=device, precision=precision, output_limits=None,
                                  **enhancer_options))
    written: dict[str, dict[str, Path]] = {p: {} for p in precisions}
    seconds: dict[str, list[float]] = {p: [] for p in precisions}
    largest = {p: 0.0 for p in precisions}
    for number, pair in enumerate(pairs, start=1):
        outputs = []
        for precision, enhancer in zip(precisions, enhancers):
            target = out_dir / precision / Path(pair.name).with_suffix(".wav")
            started = time.perf_counter()
            enhancer.enhance_file(pair.noisy, target, overwrite=True)
            seconds[precision].append(time.perf_counter() - started)
            written[precision][pair.name] = target
            outputs.append(sf.read(target, dtype="float32")[0])
        for precision, output in zip(precisions, outputs):
            largest[precision] = max(largest[precision], float(np.max(np.abs(output - outputs[0]))))
        if progress is not None and (number % 10 == 0 or number == len(pairs)):
            progress(f"enhanced {number}/{len(pairs)} files at {', '.join(precisions)}")
    runs = []
    for precision, enhancer in zip(precisions, enhancers):
        items = [FilePair(p.name, p.clean, written[precision][p.name], p.noisy) for p in pairs]
        rows = evaluate_pairs(items, jobs=jobs, dnsmos=False, baseline=False)
        runs.append(PrecisionRun(precision, enhancer.backend.describe(), rows, seconds[precision]))
        if progress is not None:
            progress(f"scored {precision}")
    return runs, largest


def markdown(costs: Sequence[MetricCost], label: str) -> str:
    """The costs as one Markdown table."""
    lines = [f"| metric | fp32 mean | mean {label} - fp32 | worst file | worst file's name | mean abs. difference "
             "| files |", "|---|---|---|---|---|---|---|"]
    for c in costs:
        lines.append(f"| {c.metric} | {c.base_mean:.4f} | {c.mean:+.4f} | {c.worst:+.4f} | {c.worst_file} "
                     f"| {c.mean_abs:.4f} | {c.files} |")
    return "\n".join(lines)


def bf16_record(costs: Sequence[MetricCost], split: str, backend: str = "eager") -> Bf16Cost:
    """The record a checkpoint keeps of a bf16 measurement (:func:`paired_costs` of fp32 against bf16)."""
    by_metric = {c.metric: c for c in costs}
    pesq = by_metric["pesq"]
    return Bf16Cost(pesq=pesq.cost, worst_pesq=-pesq.worst, worst_file=pesq.worst_file,
                    estoi=by_metric["estoi"].cost, si_sdr=by_metric["si_sdr"].cost, split=split, files=pesq.files,
                    backend=backend)


def write_bf16_cost(source: Any, destination: Any, record: Bf16Cost) -> Path:
    """Copy a crpse checkpoint with ``record`` in its ``extra`` (what ``--precision auto`` reads,
    :func:`crpse.backends.select_backend`). Measure with the weights of ``source``: the record describes them.

    Returns:
        The path written (atomically; ``destination`` may equal ``source``).

    Raises:
        crpse.checkpoint.CheckpointError: not a crpse checkpoint.
    """
    from crpse.checkpoint import rewrite_checkpoint

    def store(data: dict[str, Any]) -> None:
        data["extra"] = {**dict(data.get("extra") or {}), BF16_COST_KEY: record.to_dict()}

    return rewrite_checkpoint(source, destination, store, "record bf16's cost")
