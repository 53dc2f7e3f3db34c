"""Training-step benchmark: one DSM step (forward + backward + Adam step + EMA update) of an NCSN++ configuration.

Usage::

    /usr/bin/time -v python benchmarks/train_step.py --backbone ncsnpp [--threads 2] [--batch 1] [--frames 256] \\
        [--omp-wait-policy passive]

Batch of random compressed spectrograms ``[B, 1, 256, frames]`` (the data does not change the cost), BBED SDE,
t ~ U(0.03, 0.999). Prints one JSON line: parameter count, the median and all wall times of ``--repeats`` steps
after ``--warmup`` steps, the EMA update's share, the cost of the STFT of a reference-sized batch (16 crops of
32640 samples, done on the device in the training module), and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="ncsnpp", choices=["tiny", "ncsnpp_m", "ncsnpp"])
    parser.add_argument("--ch-mult", default=None, help="override of the channel multipliers, e.g. 1,2,2,4,4,8,8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--omp-wait-policy", choices=("default", "passive", "active"), default="default",
                        help="OMP_WAIT_POLICY for this run (set before torch loads)")
    args = parser.parse_args()
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    import torch

    from crpse.losses import dsm_loss
    from crpse.nn.ncsnpp import named_config
    from crpse.score_model import build_model
    from crpse.training.ema import ExponentialMovingAverage

    torch.set_num_threads(args.threads)
    overrides = {} if args.ch_mult is None else {"ch_mult": tuple(int(m) for m in args.ch_mult.split(","))}
    model = build_model(named_config(args.backbone, **overrides), seed=0).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    ema = ExponentialMovingAverage(model, 0.999)
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, 1, 256, args.frames)
    x = torch.randn(shape, dtype=torch.complex64, generator=generator) * 0.3
    y = x + torch.randn(shape, dtype=torch.complex64, generator=generator) * 0.2

    step_times, ema_times = [], []
    for i in range(args.warmup + args.repeats):
        start = time.perf_counter()
        loss = dsm_loss(model, x, y, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema_start = time.perf_counter()
        ema.update(model)
        end = time.perf_counter()
        if i >= args.warmup:
            step_times.append(end - start)
            ema_times.append(end - ema_start)

    waves = torch.randn(16, 32640, generator=generator) * 0.1
    stft_times = []
    for _ in range(3):
        start = time.perf_counter()
        model.transform.to_spec(waves)
        model.transform.to_spec(waves)  # clean and noisy
        stft_times.append(time.perf_counter() - start)

    print(json.dumps({
        "backbone": args.backbone,
        "ch_mult": list(model.dnn.config.ch_mult),
        "parameters": model.num_parameters(),
        "batch": args.batch,
        "frames": args.frames,
        "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "median_step_s": round(statistics.median(step_times), 4),
        "step_times_s": [round(t, 4) for t in step_times],
        "median_ema_update_s": round(statistics.median(ema_times), 5),
        "stft_batch16x256_clean_and_noisy_s": round(statistics.median(stft_times), 4),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
