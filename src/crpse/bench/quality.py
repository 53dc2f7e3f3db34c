"""Enhance corpus splits with several checkpoints at several sampler settings, score them, tabulate the results.

Every file is enhanced by :meth:`crpse.enhancer.Enhancer.enhance_file` (exactly what ``crpse enhance`` runs: peak
normalisation, windowing, seeded positional noise, resampling) and scored by :func:`crpse.evaluation.evaluate_pairs`
(what ``crpse evaluate --noisy`` computes: PESQ, ESTOI, SI-SDR, SI-SIR, SI-SAR, DNSMOS). One *cell* is one
(split, model, setting); its per-file scores are written to ``OUT/cells/SPLIT/MODEL/SETTING.csv`` as soon as it is
done, and a later run with the same ``OUT`` reuses finished cells, so an interrupted benchmark resumes where it
stopped and a new reference or plot costs no enhancement.

Timing: the RTF of a cell is the summed wall time of ``enhance_file`` over the summed audio duration, measured after
one untimed warm-up file per cell, while nothing else of this process runs (scoring happens after the cell's
enhancement).
"""

from __future__ import annotations

import csv
import logging
import math
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crpse.bench.grid import SettingSpec, format_setting, parse_setting, slug
from crpse.bench.stats import DEFAULT_ROUNDS, DEFAULT_SEED, mean_std, paired_bootstrap
from crpse.sampler_spec import UNIFORM

logger = logging.getLogger(__name__)

#: metrics of the table, in column order (names of :data:`crpse.metrics.METRICS`)
TABLE_METRICS = ("pesq", "estoi", "si_sdr", "si_sir", "si_sar", "dnsmos_ovrl")
#: columns that describe a cell (constant over its files)
CELL_COLUMNS = ("split", "model", "setting", "sampler", "steps", "t_start", "schedule", "nfe")
#: the pseudo-model of the unprocessed noisy input
NOISY = "noisy"


@dataclass(frozen=True)
class Candidate:
    """A checkpoint under test and the settings to run it at (ignored for predictive models: one setting)."""

    name: str
    path: Path
    settings: tuple[SettingSpec, ...] = (SettingSpec(),)


@dataclass(frozen=True)
class Cell:
    """One resolved (model, setting): what runs and how it is labelled.

    Attributes:
        model: the candidate's name (or ``noisy``).
        setting: canonical label (:func:`crpse.bench.grid.format_setting`), ``predictive`` or ``noisy``.
        sampler: ``reverse``, ``pc``, ``ode``, ``predictive`` or ``noisy``.
        steps: sampler steps (1 for predictive, 0 for noisy).
        t_start: resolved start time (``None``: no diffusion).
        schedule: time schedule name (``uniform`` unless the setting names another).
        nfe: network calls per enhanced window.
        enhancer_kwargs: the sampler keywords given to :class:`~crpse.enhancer.Enhancer`.
    """

    model: str
    setting: str
    sampler: str
    steps: int
    t_start: float | None
    schedule: str
    nfe: int
    enhancer_kwargs: dict[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "setting": self.setting, "sampler": self.sampler, "steps": self.steps,
                "t_start": self.t_start, "schedule": self.schedule, "nfe": self.nfe}


NOISY_CELL = Cell(NOISY, NOISY, NOISY, 0, None, "-", 0)


@dataclass(frozen=True)
class BenchOptions:
    """How the benchmark runs.

    Attributes:
        corpus: folder with ``SPLIT/{clean,noisy}``.
        splits: the splits to enhance.
        out_dir: results folder (cells, tables, plots, optional audio).
        max_files: at most this many files per split, chosen uniformly over the sorted names (``None``: all).
        seed: sampler noise seed (the same for every cell, as ``crpse enhance --seed``).
        device: ``cpu``, ``cuda`` or ``auto``.
        window: window length in seconds (``None``: the whole file at once); default: ``crpse enhance``'s.
        batch_size: windows per network call.
        jobs: scoring worker processes.
        dnsmos: also compute DNSMOS.
        keep_audio: keep the enhanced files under ``OUT/audio`` (else they are deleted once scored).
        precision: the network's precision (:func:`crpse.backends.select_backend`); ``fp32`` by default, so that
            scores do not depend on whether the machine has native bf16 (``auto`` would pick bf16 on such CPUs).
    """

    corpus: Path
    splits: tuple[str, ...]
    out_dir: Path
    max_files: int | None = None
    seed: int = 0
    device: str = "auto"
    window: float | None = None
    batch_size: int | None = None
    jobs: int = 1
    dnsmos: bool = True
    keep_audio: bool = False
    precision: str = "fp32"


Row = dict[str, Any]
Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------------------------
# resolving settings
# ---------------------------------------------------------------------------------------------------------------
def _enhancer(model: Any, spec: SettingSpec, options: BenchOptions) -> tuple[Any, dict[str, Any]]:
    from crpse.chunking import DEFAULT_BATCH_SIZE, DEFAULT_WINDOW
    from crpse.enhancer import Enhancer
    from crpse.sampler_setting import SamplerSettingWarning

    kwargs = spec_kwargs(model, spec)
    # a sweep asks for settings other than the model's own on purpose, and scores what comes out, even a diverging
    # sampler's noise: no sampler-setting warning, no output guard (crpse.output_guard)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplerSettingWarning)
        enhancer = Enhancer(
            model, seed=options.seed, window=DEFAULT_WINDOW if options.window is None else (options.window or None),
            batch_size=options.batch_size or DEFAULT_BATCH_SIZE, output_limits=None, precision=options.precision,
            **kwargs,
        )
    return enhancer, kwargs


def spec_kwargs(model: Any, spec: SettingSpec) -> dict[str, Any]:
    """The :class:`~crpse.enhancer.Enhancer` sampler keywords of ``spec`` on ``model`` (``t=max`` -> ``t_max``)."""
    from crpse.score_model import is_score_model

    if not is_score_model(model):
        return {}
    t_start = model.sde.t_max if spec.t_start == "max" else spec.t_start
    return {"sampler": spec.sampler, "steps": spec.steps, "t_start": t_start, **spec.option_dict}


def resolve_cell(name: str, model: Any, enhancer: Any, kwargs: dict[str, Any]) -> Cell:
    """The :class:`Cell` of an :class:`~crpse.enhancer.Enhancer` built for ``model`` (what it will really run)."""
    if enhancer.is_predictive:
        return Cell(name, "predictive", "predictive", 1, None, "-", 1, {})
    sampler, steps, t_start, options, nfe = _resolved(enhancer)
    schedule = str(options.get("schedule") or UNIFORM)
    label = format_setting(sampler, steps, t_start, options)
    return Cell(name, label, sampler, int(steps), float(t_start), schedule, int(nfe), kwargs)


def _resolved(enhancer: Any) -> tuple[str, int, float, dict[str, Any], int]:
    """``(sampler, steps, t_start, options, network calls)`` of an enhancer's resolved sampler setting."""
    spec = enhancer.spec  # the one resolved sampler specification
    options = {**spec.options, "schedule": spec.schedule}
    return spec.sampler, spec.steps, spec.t_start, options, spec.network_calls


# ---------------------------------------------------------------------------------------------------------------
# cell files
# ---------------------------------------------------------------------------------------------------------------
def cell_path(out_dir: Path, split: str, cell: Cell) -> Path:
    return out_dir / "cells" / slug(split) / slug(cell.model) / f"{slug(cell.setting)}.csv"


def write_rows(rows: Sequence[Row], path: Path) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else (repr(row[c]) if isinstance(row[c], float) else row[c])
                             for c in columns])
    tmp.replace(path)


# the last six: claims.csv (crpse.bench.claims)
_TEXT_COLUMNS = {"split", "model", "setting", "sampler", "schedule", "name", "reference",
                 "claim", "row", "rule", "passes", "missing", "testable"}


def read_rows(path: Path) -> list[Row]:
    """Rows of a cell or per-file CSV, numbers as floats (``steps``/``nfe`` as ints, empty as ``None``)."""
    rows = []
    with path.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            row: Row = {}
            for key, value in raw.items():
                if key in _TEXT_COLUMNS:
                    row[key] = value
                elif value == "":
                    row[key] = None
                elif key in ("steps", "nfe"):
                    row[key] = int(float(value))
                else:
                    row[key] = float(value)
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------------------------
def split_pairs(options: BenchOptions, split: str) -> list[Any]:
    """The (uniformly subsampled) pairs of one split."""
    from crpse.data import find_pairs, uniform_subset

    pairs = find_pairs(options.corpus / split)
    if options.max_files is not None and options.max_files < len(pairs):
        pairs = [pairs[i] for i in uniform_subset(options.max_files, len(pairs))]
    return pairs


def _score(pairs: Sequence[Any], enhanced: dict[str, Path], options: BenchOptions) -> list[Row]:
    from crpse.evaluation import FilePair, evaluate_pairs

    items = [FilePair(p.name, p.clean, enhanced[p.name], p.noisy) for p in pairs]
    # no noisy_* baseline columns: the noisy input is a row of its own, scored once per split
    return evaluate_pairs(items, jobs=options.jobs, dnsmos=options.dnsmos, baseline=False)


def _run_cell(split: str, cell: Cell, enhancer: Any, pairs: Sequence[Any], options: BenchOptions,
              progress: Progress | None) -> list[Row]:
    audio_dir = options.out_dir / "audio" / slug(split) / slug(cell.model) / slug(cell.setting)
    enhanced: dict[str, Path] = {}
    seconds: dict[str, float] = {}
    if cell is NOISY_CELL:
        enhanced = {p.name: p.noisy for p in pairs}
    else:
        enhancer.enhance_file(pairs[0].noisy, audio_dir / "_warmup.wav", overwrite=True)  # untimed warm-up
        (audio_dir / "_warmup.wav").unlink()
        for pair in pairs:
            target = audio_dir / Path(pair.name).with_suffix(".wav")
            started = time.perf_counter()
            enhancer.enhance_file(pair.noisy, target, overwrite=True)
            seconds[pair.name] = time.perf_counter() - started
            enhanced[pair.name] = target
    rows = _score(pairs, enhanced, options)
    out = []
    for pair, scores in zip(pairs, rows, strict=True):
        row: Row = {"split": split, **cell.describe(), **scores}
        row["audio_seconds"] = pair.noisy_frames / pair.noisy_rate
        row["seconds"] = seconds.get(pair.name, 0.0)
        out.append(row)
    if cell is not NOISY_CELL and not options.keep_audio:
        shutil.rmtree(audio_dir, ignore_errors=True)
        for parent in audio_dir.parents:  # drop the folders left empty, up to OUT/audio
            if parent == options.out_dir or any(parent.iterdir()):
                break
            parent.rmdir()
    if progress is not None:
        means = {m: mean_std([r.get(m, math.nan) for r in out])[0] for m in ("pesq", "si_sdr")}
        progress(f"{split} {cell.model} {cell.setting}: PESQ {means['pesq']:.3f}, SI-SDR {means['si_sdr']:.2f} dB "
                 f"({len(out)} files)")
    return out


def run_benchmark(
    candidates: Sequence[Candidate],
    options: BenchOptions,
    include_noisy: bool = True,
    progress: Progress | None = None,
) -> tuple[list[Row], dict[str, list[Cell]]]:
    """Enhance and score every split with every candidate at each of its settings (finished cells are reused).

    Args:
        candidates: the models and their settings.
        options: corpus, splits, output folder and enhancement options.
        include_noisy: also score the unprocessed input (the ``noisy`` row).
        progress: called with one line per finished cell.

    Returns:
        ``(per-file rows of all cells, {model name: its cells})``.

    Raises:
        FileNotFoundError, crpse.data.DataError: a split is missing or malformed.
        ValueError: a setting does not fit its model (the message names both).
    """
    from crpse.backends.eager import load_inference_model
    from crpse.score_model import is_score_model

    if options.dnsmos:
        from crpse.dnsmos import dnsmos_unavailable_reason

        reason = dnsmos_unavailable_reason()
        if reason is not None:
            logger.warning("%s. Continuing without DNSMOS.", reason)
            options = replace(options, dnsmos=False)
    pairs = {split: split_pairs(options, split) for split in options.splits}
    rows: list[Row] = []
    cells: dict[str, list[Cell]] = {}
    if include_noisy:
        cells[NOISY] = [NOISY_CELL]
        for split in options.splits:
            rows += _cached_or_run(split, NOISY_CELL, None, pairs[split], options, progress)
    for candidate in candidates:
        model, _ = load_inference_model(candidate.path, options.device)
        specs = candidate.settings if is_score_model(model) else (SettingSpec(),)
        cells[candidate.name] = []
        for spec in specs:
            try:
                enhancer, kwargs = _enhancer(model, spec, options)
            except ValueError as err:
                raise ValueError(f"{candidate.name} ({candidate.path}): {err}") from err
            cell = resolve_cell(candidate.name, model, enhancer, kwargs)
            if cell in cells[candidate.name]:
                continue
            cells[candidate.name].append(cell)
            for split in options.splits:
                rows += _cached_or_run(split, cell, enhancer, pairs[split], options, progress)
    per_file = options.out_dir / "per_file.csv"
    write_rows(rows, per_file)
    return rows, cells


def _cached_or_run(split: str, cell: Cell, enhancer: Any, pairs: Sequence[Any], options: BenchOptions,
                   progress: Progress | None) -> list[Row]:
    path = cell_path(options.out_dir, split, cell)
    names = [p.name for p in pairs]
    if path.is_file():
        cached = read_rows(path)
        if [r["name"] for r in cached] == names and (not options.dnsmos or all("dnsmos_ovrl" in r for r in cached)):
            logger.info("reusing %s", path)
            return cached
    rows = _run_cell(split, cell, enhancer, pairs, options, progress)
    write_rows(rows, path)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------------------------
def _cell_key(row: Row) -> tuple[str, str, str]:
    return row["split"], row["model"], row["setting"]


def summarize(
    rows: Sequence[Row],
    reference: tuple[str, str] | None = None,
    metrics: Sequence[str] = TABLE_METRICS,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
) -> list[Row]:
    """One table row per (split, model, setting): mean ± std per metric, NFE, RTF and the paired difference to the
    reference row of the same split with its 95 % bootstrap confidence interval.

    Args:
        rows: per-file rows (:func:`run_benchmark`).
        reference: ``(model, setting label)`` of the reference row (``None``: no differences).
        metrics: metric columns to summarise.
        rounds, seed: paired bootstrap resamples and seed.

    Returns:
        Table rows in first-appearance order; per metric ``M_mean, M_std, M_files, M_delta, M_ci_low, M_ci_high``.
    """
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault(_cell_key(row), []).append(row)
    table = []
    for (split, model, setting), members in groups.items():
        first = members[0]
        out: Row = {key: first.get(key) for key in CELL_COLUMNS}
        out["files"] = len(members)
        audio = sum(float(r.get("audio_seconds") or 0.0) for r in members)
        wall = sum(float(r.get("seconds") or 0.0) for r in members)
        out["rtf"] = wall / audio if audio and model != NOISY else 0.0
        ref_rows = groups.get((split, *reference)) if reference is not None else None
        out["reference"] = f"{reference[0]}@{reference[1]}" if ref_rows is not None else ""
        for metric in metrics:
            values = [float(r.get(metric) if r.get(metric) is not None else math.nan) for r in members]
            mean, std, count = mean_std(values)
            out.update({f"{metric}_mean": mean, f"{metric}_std": std, f"{metric}_files": count})
            if ref_rows is not None:
                diff = paired_bootstrap(
                    {r["name"]: float(r.get(metric) if r.get(metric) is not None else math.nan) for r in members},
                    {r["name"]: float(r.get(metric) if r.get(metric) is not None else math.nan) for r in ref_rows},
                    rounds=rounds, seed=seed,
                )
                out.update({f"{metric}_delta": diff.mean, f"{metric}_ci_low": diff.low,
                            f"{metric}_ci_high": diff.high})
        table.append(out)
    return table


def write_table(table: Sequence[Row], csv_path: Path, metrics: Sequence[str] = TABLE_METRICS,
                title: str = "Quality") -> tuple[Path, Path]:
    """Write the table as CSV (full precision) and Markdown (one section per split) beside it (``.md``)."""
    write_rows(table, csv_path)
    md_path = csv_path.with_suffix(".md")
    md_path.write_text(format_markdown(table, metrics, title))
    return csv_path, md_path


def format_markdown(table: Sequence[Row], metrics: Sequence[str] = TABLE_METRICS, title: str = "Quality") -> str:
    """Markdown tables, one per split: ``mean ± std`` and, under it, ``Δ [95 % CI]`` to the reference row."""
    from crpse.metrics import METRICS

    metrics = [m for m in metrics if any(not math.isnan(r.get(f"{m}_mean", math.nan)) for r in table)]
    lines = [f"# {title}", ""]
    splits = list(dict.fromkeys(r["split"] for r in table))
    for split in splits:
        rows = [r for r in table if r["split"] == split]
        reference = next((r["reference"] for r in rows if r.get("reference")), "")
        lines += [f"## {split} ({rows[0]['files']} files)", ""]
        if reference:
            lines += [f"Each cell: mean ± std over files; below it the paired difference to **{reference}** with its "
                      "95 % bootstrap confidence interval.", ""]
        header = ["model", "setting", "NFE", "RTF", *(METRICS[m][0] for m in metrics)]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---", "---", "---:", "---:"] + ["---:"] * len(metrics)) + "|")
        for row in rows:
            cells = [row["model"], f"`{row['setting']}`", str(row["nfe"]), f"{row['rtf']:.3f}"]
            for metric in metrics:
                decimals = METRICS[metric][1]
                cell = f"{row[f'{metric}_mean']:.{decimals}f} ± {row[f'{metric}_std']:.{decimals}f}"
                delta = row.get(f"{metric}_delta")
                if delta is not None and not math.isnan(delta) and f"{row['model']}@{row['setting']}" != reference:
                    d = decimals + 1
                    cell += (f"<br>{delta:+.{d}f} [{row[f'{metric}_ci_low']:+.{d}f}, "
                             f"{row[f'{metric}_ci_high']:+.{d}f}]")
                cells.append(cell)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def reference_cell(
    text: str | None, candidates: Sequence[Candidate], cells: dict[str, list[Cell]], options: BenchOptions
) -> tuple[str, str] | None:
    """``"NAME@SPEC"``, ``"NAME"`` (a model with one setting) or ``"noisy"`` -> ``(model, setting label)`` of a
    cell the benchmark ran; the spec is resolved on that model as the benchmark resolved its settings.

    Raises:
        ValueError: unknown model, a spec that is not one setting, or a setting that was not run.
    """
    if text is None:
        return None
    if text == NOISY:
        if NOISY not in cells:
            raise ValueError("--reference noisy: the noisy row is not part of this benchmark")
        return NOISY, NOISY
    name, sep, spec_text = text.partition("@")
    if name not in cells or name == NOISY:
        raise ValueError(f"--reference {text!r}: no model named {name!r} (have: {', '.join(cells)})")
    ran = ", ".join(c.setting for c in cells[name])
    if not sep:
        if len(cells[name]) != 1:
            raise ValueError(f"--reference {text!r}: {name} ran several settings ({ran}); name one as NAME@SPEC")
        return name, cells[name][0].setting
    specs = parse_setting(spec_text)
    if len(specs) != 1:
        raise ValueError(f"--reference {text!r}: the setting must be a single one, not a grid")
    from crpse.backends.eager import load_inference_model

    candidate = next(c for c in candidates if c.name == name)
    model, _ = load_inference_model(candidate.path, options.device)
    enhancer, kwargs = _enhancer(model, specs[0], options)
    wanted = resolve_cell(name, model, enhancer, kwargs)
    if wanted not in cells[name]:
        raise ValueError(f"--reference {text!r}: {name} did not run {wanted.setting} (ran: {ran})")
    return name, wanted.setting
