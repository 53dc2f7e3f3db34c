"""Does batching windows pay on this CPU? Wall and CPU time per window of the bundled model's whole sampler call
(``Enhancer.enhance_windows``: STFT, sampler noise, network, iSTFT) at batch 1, 2, 4 and 8, interleaved.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/batch_windows.py [SECONDS_PER_WINDOW] [PRECISION]
"""
import statistics, sys, time, torch
from crpse.enhancer import Enhancer
torch.set_num_threads(2)
import numpy as np
e = Enhancer(None, device="cpu", precision=sys.argv[2] if len(sys.argv) > 2 else "auto")
print(e.describe(), flush=True)
n = int(float(sys.argv[1]) * 16000) if len(sys.argv) > 1 else 4 * 16000
batches = [1, 2, 4, 8]
rng = np.random.default_rng(0)
waves = {b: (0.1 * rng.standard_normal((b, n))).astype(np.float32) for b in batches}
times = {b: [] for b in batches}; cpu = {b: [] for b in batches}
for b in batches:
    e.enhance_windows(waves[b], [0] * b, list(range(b)))
for r in range(4):
    for b in batches[r % 4:] + batches[:r % 4]:
        t0, c0 = time.perf_counter(), time.process_time()
        e.enhance_windows(waves[b], [0] * b, list(range(b)))
        times[b].append((time.perf_counter() - t0) / b); cpu[b].append((time.process_time() - c0) / b)
    print(r, {b: round(times[b][-1], 3) for b in batches}, flush=True)
for b in batches:
    print(f"batch {b}: wall per window {statistics.median(times[b]):.3f} s, CPU per window {statistics.median(cpu[b]):.3f} s")
