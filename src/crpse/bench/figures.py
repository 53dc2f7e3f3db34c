"""Benchmark figures (PNG, matplotlib's object API, no pyplot state): metric against NFE, and sweep heatmaps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crpse.sampler_spec import REVERSE, UNIFORM

__all__ = ["nfe_plot", "sweep_heatmaps"]

_LABELS = {"pesq": "PESQ", "si_sdr": "SI-SDR (dB)", "estoi": "ESTOI", "si_sir": "SI-SIR (dB)",
           "si_sar": "SI-SAR (dB)", "dnsmos_ovrl": "DNSMOS OVRL"}

Row = dict[str, Any]


def _family(row: Row) -> str:
    """The setting without its step count: the points of one line (``reverse:t=0.5``)."""
    parts = str(row["setting"]).split(":")
    return ":".join(p for i, p in enumerate(parts) if i != 1)


def _series(table: Sequence[Row]) -> dict[str, list[Row]]:
    """Lines of the NFE plot: one per model, split by sampler family when a model has several."""
    families: dict[str, set[str]] = {}
    for row in table:
        families.setdefault(row["model"], set()).add(_family(row))
    series: dict[str, list[Row]] = {}
    for row in table:
        name = row["model"] if len(families[row["model"]]) == 1 else f"{row['model']} {_family(row)}"
        series.setdefault(name, []).append(row)
    return series


def nfe_plot(table: Sequence[Row], path: str | Path, metrics: Sequence[str] = ("pesq", "si_sdr"),
             title: str | None = None) -> Path:
    """Metric against network calls (log axis), one line per model (and sampler family), one panel per split.

    The unprocessed input (``noisy``, 0 calls) is a dashed horizontal line; single-point series (a predictive
    model) are markers.

    Args:
        table: rows of :func:`crpse.bench.quality.summarize`.
        path: the PNG to write.
        metrics: one row of panels per metric.

    Returns:
        ``path``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    splits = list(dict.fromkeys(r["split"] for r in table))
    figure = Figure(figsize=(4.2 * len(splits) + 2.0, 3.2 * len(metrics)), layout="constrained")
    axes = figure.subplots(len(metrics), len(splits), squeeze=False, sharex=True)
    for col, split in enumerate(splits):
        rows = [r for r in table if r["split"] == split]
        series = _series([r for r in rows if r["model"] != "noisy"])
        noisy = next((r for r in rows if r["model"] == "noisy"), None)
        for row_index, metric in enumerate(metrics):
            axis = axes[row_index][col]
            for color, (name, members) in enumerate(series.items()):
                members = sorted(members, key=lambda r: r["nfe"])
                x = [r["nfe"] for r in members]
                y = [r[f"{metric}_mean"] for r in members]
                axis.plot(x, y, marker="o", linestyle="-" if len(x) > 1 else "none", color=f"C{color % 10}",
                          label=name)
            if noisy is not None and not math.isnan(noisy[f"{metric}_mean"]):
                axis.axhline(noisy[f"{metric}_mean"], color="grey", linestyle="--", label="noisy input")
            axis.set_xscale("log")
            ticks = sorted({int(r["nfe"]) for r in rows if r["nfe"]})
            if ticks:
                axis.set_xticks(ticks, [str(t) for t in ticks])
                axis.xaxis.set_minor_formatter(NullFormatter())
            axis.grid(True, which="both", alpha=0.3)
            if row_index == 0:
                axis.set_title(f"{split} ({rows[0]['files']} files)")
            if row_index == len(metrics) - 1:
                axis.set_xlabel("network calls (NFE)")
            if col == 0:
                axis.set_ylabel(_LABELS.get(metric, metric))
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right center", fontsize="small")
    if title:
        figure.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def sweep_heatmaps(table: Sequence[Row], directory: str | Path, metrics: Sequence[str] = ("pesq", "si_sdr")
                   ) -> list[Path]:
    """Heatmaps of a reverse-sampler sweep: per split, schedule and metric one PNG with one panel per score model
    (t_start across, N down, the mean written in each cell).

    When the table has a predictive model, its mean on the split is the reference: the colour scale is diverging
    and centred on it (blue: better than the predictive model, red: worse), and the value is in the title. When it
    has the unprocessed input (``noisy``), the cells that score below it are hatched (the model makes the input
    worse there). Each panel's best cell is outlined (the best of that schedule).

    Returns:
        The written paths, ``heatmap_<split>_<schedule>_<metric>.png``.
    """
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    splits = list(dict.fromkeys(r["split"] for r in table))
    for split in splits:
        rows = [r for r in table if r["split"] == split]
        grid_rows = [r for r in rows if r["sampler"] == REVERSE]
        predictive = [r for r in rows if r["sampler"] == "predictive"]
        unprocessed = [r for r in rows if r["sampler"] == "noisy"]
        for schedule in dict.fromkeys(r["schedule"] for r in grid_rows):
            members = [r for r in grid_rows if r["schedule"] == schedule]
            if schedule != UNIFORM:  # N = 1, 2: the same grid for every schedule, run once as uniform
                members += [r for r in grid_rows if r["schedule"] == UNIFORM and int(r["steps"]) < 3
                            and r["model"] in {m["model"] for m in members}]
            models = list(dict.fromkeys(r["model"] for r in members))
            times = sorted({float(r["t_start"]) for r in members})
            steps = sorted({int(r["steps"]) for r in members})
            for metric in metrics:
                values = np.full((len(models), len(steps), len(times)), np.nan)
                for r in members:
                    values[models.index(r["model"]), steps.index(int(r["steps"])), times.index(float(r["t_start"]))] = (
                        r[f"{metric}_mean"])
                finite = values[np.isfinite(values)]
                if not finite.size:
                    continue
                low, high = float(finite.min()), float(finite.max())
                reference = next((p[f"{metric}_mean"] for p in predictive if math.isfinite(p[f"{metric}_mean"])), None)
                noisy = next((p[f"{metric}_mean"] for p in unprocessed if math.isfinite(p[f"{metric}_mean"])), None)
                if reference is not None:
                    span = max(abs(high - reference), abs(reference - low), 1e-6)
                    norm, cmap = TwoSlopeNorm(reference, reference - span, reference + span), "RdBu"
                else:
                    norm, cmap = None, "viridis"
                figure = Figure(figsize=(max(6.0, 0.55 * len(times) * len(models) + 2.5), 0.5 * len(steps) + 2.6),
                                layout="constrained")
                axes = figure.subplots(1, len(models), squeeze=False)[0]
                image = None
                for index, (axis, model) in enumerate(zip(axes, models, strict=True)):
                    image = axis.imshow(values[index], origin="lower", aspect="auto", cmap=cmap, norm=norm,
                                        vmin=None if norm else low, vmax=None if norm else high)
                    for i in range(len(steps)):
                        for j in range(len(times)):
                            value = values[index, i, j]
                            if np.isfinite(value):
                                shade = (float(norm(value)) if norm is not None
                                         else (value - low) / max(high - low, 1e-9))
                                # dark cells get white text: both ends of RdBu, the low end of viridis
                                dark = (shade < 0.2 or shade > 0.8) if norm is not None else shade < 0.5
                                colour = "white" if dark else "black"
                                axis.text(j, i, f"{value:.1f}" if metric.startswith("si_") else f"{value:.2f}",
                                          ha="center", va="center", fontsize=6, color=colour)
                                if noisy is not None and value < noisy:
                                    axis.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///",
                                                             edgecolor="0.35", linewidth=0))
                    if np.isfinite(values[index]).any():
                        i, j = np.unravel_index(np.nanargmax(values[index]), values[index].shape)
                        axis.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
                    axis.set_xticks(range(len(times)), [f"{t:g}" for t in times], fontsize=7)
                    axis.set_yticks(range(len(steps)), [str(s) for s in steps])
                    axis.set_xlabel("t_start")
                    if index == 0:
                        axis.set_ylabel("N (steps)")
                    axis.set_title(model)
                label = _LABELS.get(metric, metric)
                figure.colorbar(image, ax=list(axes), label=label)
                notes = [f"predictive model {reference:.2f} (white)"] if reference is not None else []
                if noisy is not None:
                    notes.append(f"noisy input {noisy:.2f} (hatched: below it)")
                notes.append("outlined: each panel's best")
                ref_text = "".join("\n" + note for note in notes)
                figure.suptitle(f"{label} on {split}, {schedule} time schedule{ref_text}")
                path = directory / f"heatmap_{split}_{schedule}_{metric}.png"
                figure.savefig(path, dpi=110)
                written.append(path)
    return written
