"""Rebuild a training corpus from a make_pack.py pack, with two mixing variants per pair.

For every packed pair it writes three training pairs to OUT/train/{clean,noisy}/NAME_vK.wav (float32):

* v0: the original mixture (decoded clean + decoded residual);
* v1: the same residual at a gain drawn from -6..+6 dB;
* v2: for plain clips (no reverberation, channel or level steps) the residual of another plain clip, tiled or cut
  to length, at an SNR drawn from -5..20 dB (whole-file energy); otherwise the own residual at a new gain.

Mixtures peaking above 0.98 are scaled down together with their target. The first 8 v0 pairs are also written to
OUT/valid, for the training run's loss only (checkpoints are chosen on the real valid/ split afterwards).

Usage::

    python benchmarks/default_model/unpack_pack.py PACK OUT [--jobs 16] [--seed 17]
"""

from __future__ import annotations

import argparse
import csv
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from crpse.corpus.mixing import snr_db


def decode(pack: Path, shard: int) -> tuple[int, np.ndarray, np.ndarray]:
    clean, _ = sf.read(pack / f"clean_{shard:02d}.ogg", dtype="float32")
    residual, _ = sf.read(pack / f"resid_{shard:02d}.ogg", dtype="float32")
    return shard, clean, residual


def write_pair(out: Path, split: str, name: str, clean: np.ndarray, noisy: np.ndarray) -> None:
    peak = float(np.max(np.abs(noisy)))
    if peak > 0.98:
        clean, noisy = clean * (0.98 / peak), noisy * (0.98 / peak)
    sf.write(out / split / "clean" / f"{name}.wav", clean, 16000, subtype="FLOAT")
    sf.write(out / split / "noisy" / f"{name}.wav", noisy, 16000, subtype="FLOAT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pack", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    index = list(csv.DictReader(open(args.pack / "index.csv")))
    shards = sorted({int(row["shard"]) for row in index})
    with ProcessPoolExecutor(args.jobs) as pool:
        decoded = {s: (c, r) for s, c, r in pool.map(decode, [args.pack] * len(shards), shards)}
    clips = []
    for row in index:
        clean, residual = decoded[int(row["shard"])]
        start, n = int(row["offset"]), int(row["length"])
        clips.append((row["name"], clean[start:start + n], residual[start:start + n], row["plain"] == "1"))
    for split in ("train", "valid"):
        for kind in ("clean", "noisy"):
            (args.out / split / kind).mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(args.seed)
    plain = [i for i, clip in enumerate(clips) if clip[3]]
    tasks = []
    for i, (name, clean, residual, is_plain) in enumerate(clips):
        tasks.append(("train", f"{name}_v0", clean, clean + residual))
        gain = 10 ** (rng.uniform(-6, 6) / 20)
        tasks.append(("train", f"{name}_v1", clean, clean + gain * residual))
        if is_plain and len(plain) > 1:
            j = plain[int(rng.integers(len(plain)))]
            j = j if j != i else plain[(plain.index(i) + 1) % len(plain)]
            other = np.resize(clips[j][2], len(clean))  # tiled or cut to this clip's length
            scale = 10 ** ((snr_db(clean, other) - rng.uniform(-5, 20)) / 20)  # the corpus's SNR definition
            tasks.append(("train", f"{name}_v2", clean, clean + scale * other))
        else:
            gain = 10 ** (rng.uniform(-6, 6) / 20)
            tasks.append(("train", f"{name}_v2", clean, clean + gain * residual))
        if i < 8:
            tasks.append(("valid", f"{name}_v0", clean, clean + residual))
    with ProcessPoolExecutor(args.jobs) as pool:
        list(pool.map(write_pair, *zip(*[(args.out, *task) for task in tasks]), chunksize=64))
    hours = sum(len(task[2]) for task in tasks) / 16000 / 3600
    print(f"unpacked {len(clips)} clips into {len(tasks)} pairs ({hours:.2f} h)")


if __name__ == "__main__":
    main()
