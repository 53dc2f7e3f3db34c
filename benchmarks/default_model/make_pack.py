"""Pack a random subset of a corpus's train split into Opus shards small enough to travel to a GPU machine.

The default model's GPU run (MODEL_CARD.md, "Training commands") could carry at most 64 MiB of files, so the
training pairs travel compressed: each pair as its clean speech (Opus, compression level 0.9, about 25 kbit/s) and
its residual ``noisy - clean`` (Opus, 0.95, about 16 kbit/s). unpack_pack.py rebuilds ``noisy`` as decoded clean +
decoded residual, so input and target stay consistent to the sample (the target carries the codec's small error:
wide-band PESQ 4.4-4.5 of decoded against original clean speech).

Usage::

    python benchmarks/default_model/make_pack.py CORPUS PACK --seconds 7300 --shards 16 [--seed 17]

Writes PACK/clean_SS.ogg, PACK/resid_SS.ogg (clips concatenated per shard) and PACK/index.csv (name, shard,
sample offset, length, plain = no reverberation, channel or level steps, snr_db).
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import numpy as np
import soundfile as sf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("pack", type=Path)
    parser.add_argument("--seconds", type=float, default=7300.0, help="audio to pack (default: 7300)")
    parser.add_argument("--shards", type=int, default=16, help="files per stream, decoded in parallel (default: 16)")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    rows = list(csv.DictReader(open(args.corpus / "train" / "manifest.csv")))
    random.Random(args.seed).shuffle(rows)
    chosen, total = [], 0.0
    for row in rows:
        if total >= args.seconds:
            break
        chosen.append(row)
        total += float(row["duration_s"])
    args.pack.mkdir(parents=True, exist_ok=True)
    index = []
    for shard in range(args.shards):
        cleans, residuals, offset = [], [], 0
        for row in chosen[shard::args.shards]:
            clean, rate = sf.read(args.corpus / "train" / "clean" / f"{row['name']}.wav", dtype="float32")
            noisy, _ = sf.read(args.corpus / "train" / "noisy" / f"{row['name']}.wav", dtype="float32")
            if rate != 16000 or clean.ndim != 1 or abs(len(clean) - len(noisy)) > 1:
                raise SystemExit(f"{row['name']}: expected 16 kHz mono pairs of equal length")
            n = min(len(clean), len(noisy))  # a few corpus20 pairs differ by one sample
            cleans.append(clean[:n])
            residuals.append(noisy[:n] - clean[:n])
            plain = row["reverb"] in ("0", "") and not row["channel"] and not row["level_steps"]
            index.append({"name": row["name"], "shard": shard, "offset": offset, "length": n, "plain": int(plain),
                          "snr_db": row["snr_db"]})
            offset += n
        for stream, clips, level in (("clean", cleans, 0.9), ("resid", residuals, 0.95)):
            sf.write(args.pack / f"{stream}_{shard:02d}.ogg", np.concatenate(clips), 16000, format="OGG",
                     subtype="OPUS", compression_level=level)
    with open(args.pack / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(index[0]))
        writer.writeheader()
        writer.writerows(index)
    size = sum(p.stat().st_size for p in args.pack.iterdir()) / 1e6
    print(f"{len(chosen)} pairs, {total / 3600:.2f} h, {size:.1f} MB")


if __name__ == "__main__":
    main()
