"""Statistics of a generated corpus (``crpse data stats DIR``): read ``corpus.json`` and the manifests.

:func:`corpus_stats` gathers the numbers, :func:`format_stats` prints them as text tables, and
:func:`plot_histograms` draws the SNR and speech-level histograms of every split into one PNG.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

#: Histogram bins: SNR in dB, speech level in dBFS.
SNR_BINS = np.arange(-6.0, 22.0, 1.0)
LEVEL_BINS = np.arange(-60.0, -2.0, 2.0)


def _read_manifest(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def corpus_stats(corpus: str | Path) -> dict:
    """Collect the statistics of the corpus in ``corpus``.

    Returns:
        ``{"summary": corpus.json, "rows": {split: manifest rows}}``.

    Raises:
        FileNotFoundError: ``corpus.json`` is missing.
    """
    root = Path(corpus)
    if not (root / "corpus.json").is_file():
        raise FileNotFoundError(f"{root / 'corpus.json'} not found; is {root} a corpus made by `crpse data synth`?")
    summary = json.loads((root / "corpus.json").read_text(encoding="utf-8"))
    rows = {split: _read_manifest(root / split / "manifest.csv") for split in summary["splits"]
            if (root / split / "manifest.csv").is_file()}
    return {"summary": summary, "rows": rows}


def _table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def format_stats(stats: dict) -> str:
    """Markdown tables: splits, hours per speech source, real persons per sex, quality gate, conditions."""
    summary, rows = stats["summary"], stats["rows"]
    splits = list(summary["splits"])
    out = ["## Splits", ""]
    body = []
    for split in splits:
        info = summary["splits"][split]
        by_sex = info.get("real_persons_by_sex", {})
        persons = ", ".join(f"{sex} {len(p)}" for sex, p in by_sex.items()) or "-"
        body.append([split, str(info["files"]), f"{info['hours']:.2f}", f"{info.get('real_speech_hours', 0):.2f}",
                     persons, str(len(info.get("languages", []))), str(len(info["noise_files"]))])
    out.append(_table(["split", "files", "hours", "real-speech hours", "real persons by sex", "real languages",
                       "noise recordings"], body))

    sources = sorted({source for split in splits
                      for source in summary["splits"][split].get("hours_by_speech_source", {})})
    out += ["", "## Hours per speech source", ""]
    out.append(_table(["source", *splits], [
        [source, *(f"{summary['splits'][split].get('hours_by_speech_source', {}).get(source, 0):.3f}"
                   for split in splits)] for source in sources]))

    out += ["", "## Real persons per split", ""]
    out.append(_table(["split", "sex", "persons"], [
        [split, sex, ", ".join(persons)] for split in splits
        for sex, persons in summary["splits"][split].get("real_persons_by_sex", {}).items()]))

    gate = summary.get("quality_gate", {})
    if gate:
        reasons = sorted({r for entry in gate.values() for r in entry["rejected"]})
        out += ["", "## Quality gate (community recordings)", ""]
        out.append(_table(["source", "files", "accepted", "accepted hours", *[f"rejected: {r}" for r in reasons],
                           "persons kept", "persons dropped"], [
            [source, str(e["files"]), str(e["accepted"]), f"{e['accepted_hours']:.2f}",
             *(str(e["rejected"].get(r, 0)) for r in reasons), str(e["persons"]),
             "; ".join(e["persons_dropped"]) or "-"] for source, e in sorted(gate.items())]))

    out += ["", "## Conditions (files)", ""]
    body = []
    for split in splits:
        split_rows = rows.get(split, [])
        snrs = np.array([float(r["snr_db"]) for r in split_rows]) if split_rows else np.zeros(0)
        levels = np.array([float(r["speech_level_dbfs"]) for r in split_rows]) if split_rows else np.zeros(0)
        count = len(split_rows)

        def share(test: object) -> str:
            n = sum(1 for r in split_rows if test(r))  # type: ignore[operator]
            return f"{n} ({100 * n / count:.0f} %)" if count else "0"

        body.append([
            split, str(count),
            f"{snrs.mean():.1f} [{snrs.min():.1f}, {snrs.max():.1f}]" if count else "-",
            f"{levels.mean():.1f} [{levels.min():.1f}, {levels.max():.1f}]" if count else "-",
            share(lambda r: r["reverb"] == "1"),
            share(lambda r: r.get("room", "") not in ("", "simulated")),
            share(lambda r: r.get("level_kind") == "quiet"), share(lambda r: r.get("level_kind") == "loud"),
            share(lambda r: bool(r.get("level_steps"))), share(lambda r: bool(r.get("channel"))),
            share(lambda r: r["noise_source"] not in ("synthetic", "")),
        ])
    out.append(_table(["split", "files", "SNR dB mean [min, max]", "level dBFS mean [min, max]", "reverberant",
                       "recorded room", "quiet", "loud", "level steps", "channel", "recorded noise"], body))
    return "\n".join(out)


def plot_histograms(stats: dict, png: str | Path) -> None:
    """Draw per-split histograms of the SNR and the speech level into ``png``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = {split: r for split, r in stats["rows"].items() if r}
    figure = Figure(figsize=(10, 2.4 * max(1, len(rows))))
    FigureCanvasAgg(figure)
    axes = figure.subplots(max(1, len(rows)), 2, squeeze=False)
    for k, (split, split_rows) in enumerate(rows.items()):
        snrs = [float(r["snr_db"]) for r in split_rows]
        levels = [float(r["speech_level_dbfs"]) for r in split_rows]
        axes[k][0].hist(snrs, bins=SNR_BINS, color="tab:blue")
        axes[k][0].set_title(f"{split}: SNR (dB), {len(snrs)} files", fontsize=9)
        axes[k][1].hist(levels, bins=LEVEL_BINS, color="tab:orange")
        axes[k][1].set_title(f"{split}: speech level (dBFS)", fontsize=9)
    figure.tight_layout()
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(str(png), dpi=80)
