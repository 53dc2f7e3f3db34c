"""How fast the training data pipeline produces batches, in one process (no loader workers).

Usage::

    python benchmarks/loader_speed.py --data-dir CORPUS [--batch 32] [--frames 256] [--batches 20]

Builds the training set of ``crpse train`` (:class:`crpse.data.PairedSpeechDataset` over ``CORPUS/train``, random
crops of ``--frames`` STFT frames at 16 kHz, the shuffling sampler) and times ``--batches`` batches after one
warm-up batch. Prints the seconds per batch: with ``--num-workers K`` a run gets about K times this rate, so the
loader keeps up with a training step that takes longer than this time divided by K.
"""

from __future__ import annotations

import argparse
import time

from torch.utils.data import DataLoader

from crpse.data import InfiniteShuffleSampler, PairedSpeechDataset, find_pairs, num_samples_for_frames


def main(argv: list[str] | None = None) -> float:
    """Run the timing; returns the seconds per batch."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="corpus with train/{clean,noisy}")
    parser.add_argument("--batch", type=int, default=32, help="examples per batch")
    parser.add_argument("--frames", type=int, default=256, help="STFT frames per crop (hop 128)")
    parser.add_argument("--batches", type=int, default=20, help="timed batches")
    args = parser.parse_args(argv)
    pairs = find_pairs(f"{args.data_dir}/train")
    dataset = PairedSpeechDataset(pairs, 16000, num_samples_for_frames(args.frames, 128), True, 0)
    loader = DataLoader(
        dataset, batch_size=args.batch, sampler=InfiniteShuffleSampler(len(dataset), 0), num_workers=0, drop_last=True
    )
    batches = iter(loader)
    next(batches)
    start = time.perf_counter()
    for _ in range(args.batches):
        next(batches)
    seconds = (time.perf_counter() - start) / args.batches
    print(f"{len(pairs)} training pairs; {seconds:.4f} s per batch of {args.batch} x {args.frames} frames, one process")
    return seconds


if __name__ == "__main__":
    main()
