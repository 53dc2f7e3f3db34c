"""CPU training speed of bf16 autocast and channels-last against fp32: step time and loss curve over the same steps.

    python benchmarks/train_precision.py --corpus CORPUS --steps 100 [--backbone tiny] [--batch 4] [--frames 128] \
        [--threads 2] [--stage dsm] [--json OUT.json]

Every variant starts from the same initialisation and sees the same batches (real crops of CORPUS/train, the
training data module's order) and the same noise and times at each step; the steps are interleaved (step k of every
variant, in rotating order, before step k + 1), so the time ratios hold on a busy machine. A step is what
`crpse train` does per batch: STFT of clean and noisy (fp32), the loss (DSM, or the predictive loss), backward, Adam.
Variants: fp32 (eager, NCHW), bf16 (torch.autocast bf16: what `--precision bf16-mixed` does on CPU), channels_last
(weights and feature maps), bf16+channels_last. Prints the machine, the median wall and CPU seconds per step and the
ratio to fp32, and the mean loss per block of steps for each variant; --json writes every step's loss and times.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from crpse.bench.speed import machine_info
from crpse.data import find_pairs, num_samples_for_frames
from crpse.losses import dsm_loss, predictive_loss
from crpse.score_model import build_model
from crpse.training.datamodule import PairedSpeechDataModule

VARIANTS = {"fp32": (False, False), "bf16": (True, False), "channels_last": (False, True),
            "bf16+channels_last": (True, True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--stage", choices=("dsm", "predictive"), default="dsm")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--block", type=int, default=20, help="steps per mean-loss block in the printout")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.variants.split(",")
    kind = "score" if args.stage == "dsm" else "predictive"
    initial = build_model(args.backbone, kind=kind, seed=0).train()
    models, optimizers = {}, {}
    for name in names:
        bf16, channels_last = VARIANTS[name]
        model = copy.deepcopy(initial)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        models[name] = model
        optimizers[name] = torch.optim.Adam(model.parameters(), lr=args.lr)
    data = PairedSpeechDataModule(find_pairs(args.corpus / "train"), find_pairs(args.corpus / "valid"),
                                  initial.sample_rate, num_samples_for_frames(args.frames, initial.transform.hop_length),
                                  args.batch, num_workers=0, seed=0)
    data.setup("fit")
    batches = iter(data.train_dataloader())
    losses = {n: [] for n in names}
    walls = {n: [] for n in names}
    cpus = {n: [] for n in names}
    for step in range(args.steps):
        clean, noisy = next(batches)
        shift = step % len(names)
        for name in names[shift:] + names[:shift]:
            bf16, _ = VARIANTS[name]
            model, optimizer = models[name], optimizers[name]
            generator = torch.Generator().manual_seed(step)
            start, cpu_start = time.perf_counter(), time.process_time()
            x, y = model.transform.to_spec(clean.float()), model.transform.to_spec(noisy.float())
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = dsm_loss(model, x, y, generator=generator) if kind == "score" else predictive_loss(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            walls[name].append(time.perf_counter() - start)
            cpus[name].append(time.process_time() - cpu_start)
            losses[name].append(float(loss.detach()))
        if (step + 1) % args.block == 0:
            print(f"step {step + 1}: " + ", ".join(f"{n} {statistics.fmean(losses[n][-args.block:]):.4f}"
                                                 for n in names), file=sys.stderr, flush=True)
    machine = machine_info()
    print(f"Machine: {machine.describe()}")
    print(f"{args.stage}, {args.backbone}, batch {args.batch} x {args.frames} frames, {args.steps} steps, "
          f"{args.threads} threads; first step excluded from the times\n")
    base_wall, base_cpu = statistics.median(walls[names[0]][1:]), statistics.median(cpus[names[0]][1:])
    print("| variant | median wall s per step | median CPU s per step | wall vs fp32 | CPU vs fp32 "
          f"| mean loss, last {args.block} steps | mean |loss - fp32 loss| over all steps |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        wall, cpu = statistics.median(walls[name][1:]), statistics.median(cpus[name][1:])
        gap = statistics.fmean(abs(a - b) for a, b in zip(losses[name], losses[names[0]]))
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {base_wall / wall:.2f}x | {base_cpu / cpu:.2f}x "
              f"| {statistics.fmean(losses[name][-args.block:]):.4f} | {gap:.4f} |")
    print("\nmean loss per block of steps:")
    for start in range(0, args.steps, args.block):
        print(f"steps {start + 1}-{min(start + args.block, args.steps)}: " + ", ".join(
            f"{n} {statistics.fmean(losses[n][start:start + args.block]):.4f}" for n in names))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"corpus": str(args.corpus), "json": str(args.json)},
                                         "machine": machine.describe(), "losses": losses, "wall_s": walls,
                                         "cpu_s": cpus}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
