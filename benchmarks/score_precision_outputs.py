"""Score the outputs of ``benchmarks/gpu_speed.py --audio DIR`` (``outputs.npz``: the bundled model's outputs at
each precision on a GPU) against the clean references, next to this machine's CPU eager fp32 outputs of the same
files, and give each precision's PESQ / ESTOI / SI-SDR difference to GPU fp32 with its paired-bootstrap 95 %
interval, the worst file, and the agreement of GPU fp32 with CPU fp32.

    python benchmarks/score_precision_outputs.py OUTPUTS.npz NOISY_DIR CLEAN_DIR
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from crpse.bench.stats import paired_bootstrap
from crpse.enhancer import Enhancer
from crpse.metrics import estoi_score, pesq_score, si_sdr


def main() -> int:
    outputs, noisy_dir, clean_dir = np.load(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    by_precision: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for key in outputs.files:
        precision, name = key.split("/", 1)
        by_precision[f"gpu {precision}"][name] = outputs[key].astype(np.float32) / 32767
    names = sorted(by_precision["gpu fp32"])
    cpu = Enhancer(None, device="cpu", backend="eager", precision="fp32", output_limits=None)
    for name in names:
        audio, rate = sf.read(noisy_dir / name, dtype="float32")
        by_precision["cpu fp32"][name] = np.round(np.clip(cpu(audio, rate), -1, 1) * 32767) / 32767
    scores: dict[str, dict[str, list[float]]] = {p: defaultdict(list) for p in by_precision}
    for name in names:
        clean, rate = sf.read(clean_dir / name, dtype="float32")
        for precision, files in by_precision.items():
            estimate = files[name][: clean.size]
            scores[precision]["pesq"].append(pesq_score(clean, estimate, rate))
            scores[precision]["estoi"].append(estoi_score(clean, estimate, rate))
            scores[precision]["si_sdr"].append(si_sdr(clean, estimate))
    gap = max(float(np.abs(by_precision["gpu fp32"][n] - by_precision["cpu fp32"][n]).max()) for n in names)
    print(f"{len(names)} files; max |GPU fp32 - CPU fp32| sample difference: {gap:.2e} (int16 step 3.05e-05)")
    print("| path | PESQ | ESTOI | SI-SDR dB | PESQ - GPU fp32 [95 % CI] | worst file PESQ diff |")
    print("|---|---|---|---|---|---|")
    base = np.array(scores["gpu fp32"]["pesq"])
    for precision, metric in scores.items():
        pesq = np.array(metric["pesq"])
        diff = (paired_bootstrap(dict(zip(names, pesq)), dict(zip(names, base)))
                if precision != "gpu fp32" else None)
        text = f"{diff.mean:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]" if diff else "-"
        print(f"| {precision} | {pesq.mean():.3f} | {np.mean(metric['estoi']):.3f} | {np.mean(metric['si_sdr']):.2f} "
              f"| {text} | {(pesq - base).min():+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
