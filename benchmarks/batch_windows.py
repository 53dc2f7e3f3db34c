"""Does batching windows pay on this CPU? Wall and CPU time per window of the bundled model's whole window step
(``Enhancer.enhance_windows``: STFT, sampler noise, network, iSTFT) at batch 1, 2, 4 and 8, interleaved.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/batch_windows.py [SECONDS_PER_WINDOW] [PRECISION]

Prints the path, each round's per-window wall times, and the median wall and CPU seconds per window per batch size.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import torch

from crpse.enhancer import Enhancer

BATCHES = (1, 2, 4, 8)


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
    precision = sys.argv[2] if len(sys.argv) > 2 else "auto"
    torch.set_num_threads(2)
    enhancer = Enhancer(None, device="cpu", precision=precision)
    print(enhancer.describe(), flush=True)
    rng = np.random.default_rng(0)
    waves = {b: (0.1 * rng.standard_normal((b, int(seconds * 16000)))).astype(np.float32) for b in BATCHES}
    walls: dict[int, list[float]] = {b: [] for b in BATCHES}
    cpus: dict[int, list[float]] = {b: [] for b in BATCHES}
    for b in BATCHES:  # warm-up
        enhancer.enhance_windows(waves[b], [0] * b, list(range(b)))
    for round_index in range(4):
        shift = round_index % len(BATCHES)
        for b in BATCHES[shift:] + BATCHES[:shift]:
            start, cpu_start = time.perf_counter(), time.process_time()
            enhancer.enhance_windows(waves[b], [0] * b, list(range(b)))
            walls[b].append((time.perf_counter() - start) / b)
            cpus[b].append((time.process_time() - cpu_start) / b)
        print(round_index, {b: round(walls[b][-1], 3) for b in BATCHES}, flush=True)
    for b in BATCHES:
        print(f"batch {b}: wall per window {statistics.median(walls[b]):.3f} s, "
              f"CPU per window {statistics.median(cpus[b]):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
