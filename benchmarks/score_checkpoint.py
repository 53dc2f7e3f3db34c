"""Score a checkpoint on validation/test files with a chosen sampler (the code validation uses during training).

Usage::

    python benchmarks/score_checkpoint.py --model RUN/checkpoints/best.ckpt --data-dir CORPUS --split valid \\
        --num-files 20 [--sampler reverse --steps 1 --t-start 0.5 | --sampler pc --steps 30] [--threads 2]

Files are chosen uniformly over the sorted split (as validation does), enhanced full-length with the EMA weights
(``--raw`` for the raw ones) and fixed seeds, and scored with PESQ (wide-band), ESTOI and SI-SDR. Also scores the
unprocessed noisy files. Prints one JSON line with the means, the network calls and the seconds per file.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import torch

from crpse.checkpoint import load_model
from crpse.data import find_pairs, uniform_subset
from crpse.sampler_spec import SAMPLERS, SamplerRequest
from crpse.sampling import resolve_sampler
from crpse.training.module import derived_seed
from crpse.training.validation import score_pair


def _noisy_scores(pair, rate: int) -> dict[str, float]:
    from crpse.data import read_audio
    from crpse.metrics import estoi_score, pesq_score, si_sdr

    clean, noisy = read_audio(pair.clean, rate), read_audio(pair.noisy, rate)
    n = min(len(clean), len(noisy))
    return {"pesq": pesq_score(clean[:n], noisy[:n], rate), "estoi": estoi_score(clean[:n], noisy[:n], rate),
            "si_sdr": si_sdr(clean[:n], noisy[:n])}


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.fmean(finite) if finite else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--split", default="valid")
    parser.add_argument("--num-files", type=int, default=20)
    parser.add_argument("--sampler", choices=SAMPLERS)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--t-start", type=float)
    parser.add_argument("--corrector-steps", type=int, help="pc only (default: the model's)")
    parser.add_argument("--snr", type=float, help="pc only (default: the model's)")
    parser.add_argument("--raw", action="store_true", help="raw instead of EMA weights")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model(args.model, ema=not args.raw)
    pairs = find_pairs(f"{args.data_dir}/{args.split}")
    chosen = [pairs[i] for i in uniform_subset(args.num_files, len(pairs))]
    choice = SamplerRequest(args.sampler, args.steps, args.t_start, args.corrector_steps, args.snr)
    spec = resolve_sampler(model, choice)
    results = [score_pair(model, pair, choice, seed=derived_seed(args.seed, 4, i)) for i, pair in enumerate(chosen)]
    noisy = [_noisy_scores(pair, model.sample_rate) for pair in chosen]
    print(json.dumps({
        "model": args.model, "stage": model.config.stage, "split": args.split, "files": len(chosen),
        "sampler": "predictive" if spec is None else f"{spec.describe()} ({spec.network_calls} calls)",
        "weights": "raw" if args.raw else "ema",
        **{name: round(_mean([r[name] for r in results]), 4) for name in ("pesq", "estoi", "si_sdr")},
        "nfe": results[0]["nfe"], "seconds_per_file": round(_mean([r["seconds"] for r in results]), 3),
        **{f"noisy_{name}": round(_mean([r[name] for r in noisy]), 4) for name in ("pesq", "estoi", "si_sdr")},
    }))


if __name__ == "__main__":
    main()
