"""Measure what the output guard looks at, on real outputs: legitimate ones and diverging sampler settings.

For each noisy file and each input level (as recorded; quiet: peak -50 dBFS; loud: peak -0.01 dBFS; hot: scaled to
a peak of 4 and hard-clipped to [-1, 1], a clipping recording), the file is enhanced through the array API with the
guard turned off, and :class:`crpse.output_guard.OutputGuard` measures the output against the input: the share of
output samples above full scale (beyond the input's own full-scale share), the loudest 0.5 s segment's level
relative to the input's, and non-finite samples. The model's own setting runs on every file; diverging settings
(other samplers, steps, starting times) run on the first ``--diverging-files`` files cropped to ``--crop`` seconds,
because 30-60 network calls per window are slow on a CPU.

    python benchmarks/output_guard.py --corpus CORPUS --files 40 --diverging-files 3 --crop 2 --json out.json

Prints one Markdown table (per setting and level: files, worst and median excess clipping, worst and median gain,
non-finite files, and how many files the default limits refuse).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from crpse.enhancer import Enhancer
from crpse.output_guard import GuardLimits, OutputGuard

#: (name, Enhancer keyword arguments); the first is the model's own setting
SETTINGS: list[tuple[str, dict]] = [
    ("own setting (reverse, 1 step, t=0.3)", {}),
    ("reverse, 1 step, t=0.5", {"sampler": "reverse", "steps": 1, "t_start": 0.5}),
    ("reverse, 3 steps, t=0.3", {"sampler": "reverse", "steps": 3, "t_start": 0.3}),
    ("reverse, 1 step, t=0.999", {"sampler": "reverse", "steps": 1, "t_start": 0.999}),
    ("pc, 5 steps, t=0.999", {"sampler": "pc", "steps": 5}),
    ("ode (euler), 30 steps, t=0.999", {"sampler": "ode", "steps": 30}),
    ("pc, 30 steps, t=0.999", {"sampler": "pc", "steps": 30}),
]
#: settings of 10 or more network calls per window run at these levels only (the pipeline is level-invariant up
#: to rounding: the input is divided by its peak before the model sees it)
COSTLY_LEVELS = ("as recorded", "quiet (peak -50 dBFS)")


def levels(audio: np.ndarray) -> dict[str, np.ndarray]:
    """The input at four levels (float32, peak-relative)."""
    peak = float(np.abs(audio).max())
    return {
        "as recorded": audio,
        "quiet (peak -50 dBFS)": audio * np.float32(10 ** (-50 / 20) / peak),
        "loud (peak -0.01 dBFS)": audio * np.float32(0.999 / peak),
        "hot (x4 of peak, clipped)": np.clip(audio * np.float32(4.0 / peak), -1.0, 1.0),
    }


def measure(enhancer: Enhancer, audio: np.ndarray, rate: int) -> dict:
    out = enhancer(audio, rate)
    guard = OutputGuard(rate, 1, GuardLimits(), full_scale=1.0)
    guard.add_input(audio[None])
    guard.add_output(np.asarray(out, dtype=np.float32)[None])
    stats = guard.stats()
    return {
        "excess_clipped": stats.clipped_fraction - stats.input_clipped_fraction,
        "clipped": stats.clipped_fraction,
        "input_clipped": stats.input_clipped_fraction,
        "gain_db": stats.gain_db,
        "non_finite": stats.non_finite,
        "refused": bool(stats.problems(GuardLimits())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="corpus folder with test/ and test_mismatched/")
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--files", type=int, default=40, help="files for the model's own setting")
    parser.add_argument("--diverging-files", type=int, default=3, help="files for the other settings")
    parser.add_argument("--crop", type=float, default=2.0, help="seconds of each file for the other settings")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write every measurement here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = sorted((args.corpus / "test" / "noisy").glob("*.wav"))
    mismatched = sorted((args.corpus / "test_mismatched" / "noisy").glob("*.wav"))
    files = [p for pair in zip(names, mismatched) for p in pair] + names[len(mismatched) :]
    files = files[: args.files]
    results: dict[str, dict[str, list[dict]]] = {}
    warnings.simplefilter("ignore")
    for index, (name, kwargs) in enumerate(SETTINGS):
        enhancer = Enhancer(args.model, output_limits=None, **kwargs)
        chosen = files if index == 0 else files[: args.diverging_files]
        for path in chosen:
            audio, rate = sf.read(path, dtype="float32")
            if index:
                audio = audio[: round(args.crop * rate)]
            for level, signal in levels(audio).items():
                if enhancer.spec is not None and enhancer.spec.network_calls >= 10 and level not in COSTLY_LEVELS:
                    continue
                row = measure(enhancer, signal, rate)
                row["file"] = path.name
                results.setdefault(name, {}).setdefault(level, []).append(row)
        print(f"done: {name}", flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    print_table(results)


def print_table(results: dict[str, dict[str, list[dict]]]) -> None:
    limits = GuardLimits()
    print(
        f"\nlimits: excess clipping > {100 * limits.max_clipped_fraction:g} %, gain > {limits.max_gain_db:+g} dB "
        f"(loudest {limits.segment_seconds:g} s), any non-finite sample\n"
    )
    print("| setting | input level | files | excess clipping: median / max (%) | gain: median / max (dB) "
          "| non-finite files | refused |")
    print("|---|---|---|---|---|---|---|")
    for name, by_level in results.items():
        for level, rows in by_level.items():
            clip = np.array([r["excess_clipped"] for r in rows]) * 100
            gain = np.array([r["gain_db"] for r in rows])
            bad = sum(r["non_finite"] > 0 for r in rows)
            refused = sum(r["refused"] for r in rows)
            print(
                f"| {name} | {level} | {len(rows)} | {np.median(clip):.3g} / {clip.max():.3g} "
                f"| {np.median(gain):+.1f} / {gain.max():+.1f} | {bad} | {refused}/{len(rows)} |"
            )


if __name__ == "__main__":
    main()
