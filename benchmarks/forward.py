"""Forward-pass benchmark of the NCSN++ configurations (score model call, batch 1, F = 256, T = 256 frames).

Usage: python benchmarks/forward.py --backbone ncsnpp [--threads 2] [--repeats 5] [--frames 256]

Prints parameter count, FLOPs per network call and per second of 16 kHz audio (torch.utils.flop_counter:
one multiply-add = 2 FLOPs), the median wall time of ``repeats`` calls after one warm-up under
torch.inference_mode, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from crpse.score_model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="ncsnpp", choices=["tiny", "ncsnpp_m", "ncsnpp"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = build_model(args.backbone, seed=0).eval()
    gen = torch.Generator().manual_seed(0)
    shape = (1, 1, 256, args.frames)
    x_t = torch.randn(shape, dtype=torch.complex64, generator=gen) * 0.3
    y = torch.randn(shape, dtype=torch.complex64, generator=gen) * 0.3
    t = torch.tensor([0.5])
    seconds_of_audio = (args.frames - 1) * model.transform.hop_length / model.sample_rate

    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            model(x_t, y, t)
        flops = counter.get_total_flops()
        model(x_t, y, t)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model(x_t, y, t)
            times.append(time.perf_counter() - start)
    result = {
        "backbone": args.backbone,
        "parameters": model.num_parameters(),
        "gflops_per_call": flops / 1e9,
        "gflops_per_second_of_audio": flops / 1e9 / seconds_of_audio,
        "median_s": statistics.median(times),
        "times_s": [round(x, 4) for x in times],
        "rtf_one_call": statistics.median(times) / seconds_of_audio,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "threads": args.threads,
        "torch": torch.__version__,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
