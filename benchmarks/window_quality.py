"""Window length and overlap of long-file enhancement: quality against whole-signal enhancement, on valid/ only.

Usage::

    python benchmarks/window_quality.py --corpus $CORPUS --out OUT [--files-per-signal 10] [--signals 5]
        [--settings 6.14:1,6.14:0.5,9.22:0.5,12.29:0.5] [--threads 1]

Concatenates consecutive valid/ files (noisy and clean alike) into ``--signals`` long signals of
``--files-per-signal`` files each, enhances every long signal with the bundled model (or ``--model``) once as a
single window (``window=None``, the reference: no window edges at all) and once per ``WINDOW:OVERLAP`` setting
(seconds), and scores each output against the concatenated clean signal (PESQ, ESTOI, SI-SDR) and against the
single-window output (SI-SDR of the windowed output with the whole-signal output as reference: how far the windows
move the result). Writes OUT/window_quality.csv (one row per signal and setting) and prints the means and the
network frames each setting processes per second of audio. Needs crpse[eval].
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from crpse.backends.eager import load_inference_model
from crpse.enhancer import Enhancer
from crpse.metrics import estoi_score, pesq_score, si_sdr


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="corpus folder with valid/{noisy,clean}")
    parser.add_argument("--out", required=True, help="result folder")
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--files-per-signal", type=int, default=10)
    parser.add_argument("--signals", type=int, default=5)
    parser.add_argument("--settings", default="6.14:1,6.14:0.5,9.22:0.5,12.29:0.5",
                        help="comma-separated WINDOW:OVERLAP in seconds")
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def long_signals(corpus: Path, per_signal: int, count: int) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """``(name, noisy, clean, rate)`` of each concatenated valid/ signal."""
    names = sorted(p.name for p in (corpus / "valid" / "noisy").glob("*.wav"))
    signals = []
    for k in range(count):
        chunk = names[k * per_signal:(k + 1) * per_signal]
        if len(chunk) < per_signal:
            break
        noisy, clean, rate = [], [], 0
        for name in chunk:
            y, rate = sf.read(corpus / "valid" / "noisy" / name, dtype="float32")
            x, _ = sf.read(corpus / "valid" / "clean" / name, dtype="float32")
            length = min(len(y), len(x))  # a few files differ by a sample
            noisy.append(y[:length])
            clean.append(x[:length])
        signals.append((f"{chunk[0]}..{chunk[-1]}", np.concatenate(noisy), np.concatenate(clean), rate))
    return signals


def network_frames(enhancer: Enhancer, length: int) -> tuple[int, int]:
    """``(windows, STFT frames the network processes)`` for a ``length``-sample signal at the model's rate."""
    plan = enhancer.plan
    windows = plan.num_windows(length)
    total = 0
    for index in range(windows):
        start, stop = plan.bounds(index, length)
        total += sum(enhancer.window_frames(stop - start))
    return windows, total


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings: list[tuple[str, float | None, float]] = [("whole", None, 0.0)]
    for text in args.settings.split(","):
        window, overlap = (float(v) for v in text.split(":"))
        settings.append((text, window, overlap))
    model = load_inference_model(args.model, "cpu")[0]  # loaded once, shared by every setting's Enhancer
    enhancers = {label: Enhancer(model, window=window, overlap=overlap, backend="eager", precision="fp32",
                                 output_limits=None)  # a benchmark scores what the model makes, as bench quality does
                 for label, window, overlap in settings}
    rows = []
    for name, noisy, clean, rate in long_signals(Path(args.corpus), args.files_per_signal, args.signals):
        whole = None
        for label, _, _ in settings:
            enhancer = enhancers[label]
            start = time.perf_counter()
            enhanced = enhancer(noisy, rate)
            seconds = time.perf_counter() - start
            if whole is None:
                whole = enhanced
            windows, frames = network_frames(enhancer, len(noisy) * enhancer.sample_rate // rate)
            rows.append({
                "signal": name, "setting": label, "seconds_audio": len(noisy) / rate, "windows": windows,
                "frames_per_second": frames / (len(noisy) / rate),
                "pesq": pesq_score(clean, enhanced, rate), "estoi": estoi_score(clean, enhanced, rate),
                "si_sdr": si_sdr(clean, enhanced), "si_sdr_to_whole": si_sdr(whole, enhanced),
                "enhance_seconds": seconds,
            })
            print(f"{name} {label}: PESQ {rows[-1]['pesq']:.3f} SI-SDR {rows[-1]['si_sdr']:.2f} "
                  f"to-whole {rows[-1]['si_sdr_to_whole']:.1f} dB, {windows} windows, {frames} frames, {seconds:.1f} s",
                  flush=True)
    with open(out / "window_quality.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("setting | PESQ | ESTOI | SI-SDR | SI-SDR to whole | network frames per s of audio | enhance s")
    for label, _, _ in settings:
        sel = [r for r in rows if r["setting"] == label]
        means = {k: float(np.mean([r[k] for r in sel])) for k in ("pesq", "estoi", "si_sdr", "si_sdr_to_whole",
                                                                   "frames_per_second", "enhance_seconds")}
        print(f"{label} | {means['pesq']:.3f} | {means['estoi']:.3f} | {means['si_sdr']:.2f} | "
              f"{means['si_sdr_to_whole']:.1f} | {means['frames_per_second']:.1f} | {means['enhance_seconds']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
