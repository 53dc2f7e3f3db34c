"""Real-time factor of enhancement (processing time / audio duration) with the crpse.Enhancer API.

Usage: python benchmarks/rtf.py --model MODEL.ckpt FILE_OR_DIR... [--threads 2] [--steps N] [--batch-size B]

The model is loaded and warmed up once; each file is then read, resampled, enhanced in windows and its
samples returned (no writing). Prints one JSON object: total audio seconds, total processing seconds, their ratio
(RTF), the network calls per window and the settings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import soundfile as sf
import torch

from crpse.audio import find_audio_files
from crpse.enhancer import Enhancer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path)
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    found, problems = find_audio_files(args.inputs)
    if problems:
        raise SystemExit(f"unusable inputs: {problems}")
    files = [item.path for item in found]
    enhancer = Enhancer(args.model, steps=args.steps, batch_size=args.batch_size, device="cpu")
    warm, rate = sf.read(files[0], dtype="float32")
    enhancer(warm.T if warm.ndim > 1 else warm, rate)

    audio_seconds = processing_seconds = 0.0
    for path in files:
        audio, rate = sf.read(path, dtype="float32")
        audio = audio.T if audio.ndim > 1 else audio
        start = time.perf_counter()
        enhancer(audio, rate)
        processing_seconds += time.perf_counter() - start
        audio_seconds += audio.shape[-1] / rate
    print(json.dumps({
        "files": len(files),
        "audio_s": round(audio_seconds, 2),
        "processing_s": round(processing_seconds, 2),
        "rtf": processing_seconds / audio_seconds,
        "settings": enhancer.describe(),
        "threads": args.threads,
        "batch_size": args.batch_size,
    }, indent=2))


if __name__ == "__main__":
    main()
