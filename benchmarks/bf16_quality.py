"""bf16's quality cost on real outputs: a corpus split enhanced at fp32 and at bf16, scored, compared per file.

    python benchmarks/bf16_quality.py --corpus CORPUS --split test --out OUT [--model CKPT] [--threads 2]
        [--backend eager|openvino] [--record CKPT]

Same model, sampler setting (the model's own unless given), windows and seed at both precisions; each file is
enhanced at fp32 then at bf16 (interleaved, so the time ratio holds on a busy machine). Prints the machine, the
paired PESQ / ESTOI / SI-SDR differences (mean, worst file, mean absolute), the largest sample difference and the
median time per file at each precision; writes OUT/bf16_quality.json (per-file rows included). ``--backend openvino``
compares OpenVINO's bf16 with its fp32 (the same exported graph at both precisions). ``--record CKPT`` writes the
measured cost into a copy of the model's checkpoint (``extra["bf16_cost"]``, :mod:`crpse.bf16_record`; CKPT may be the
checkpoint itself): ``--precision auto`` runs bf16 on native bf16 hardware only for a model whose record is below
0.02 PESQ. Record only a measurement of the eager path on the model's own setting, made on a test split.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from crpse.bench.precision import compare_precisions, markdown, paired_costs
from crpse.bench.speed import machine_info
from crpse.data import find_pairs, uniform_subset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default=None, help="checkpoint or bundled model name (default: the bundled one)")
    parser.add_argument("--max-files", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="scoring processes")
    parser.add_argument("--backend", default="eager", choices=("eager", "openvino"),
                        help="inference path at both precisions (default: eager)")
    parser.add_argument("--record", type=Path, default=None,
                        help="write the measured cost into this copy of the model's checkpoint (eager only)")
    args = parser.parse_args()
    if args.record is not None and args.backend != "eager":
        parser.error("--record stores the eager path's cost, the one `--precision auto` chooses")
    if args.threads:
        torch.set_num_threads(args.threads)
    pairs = find_pairs(args.corpus / args.split)
    if args.max_files is not None and args.max_files < len(pairs):
        pairs = [pairs[i] for i in uniform_subset(args.max_files, len(pairs))]
    machine = machine_info()
    runs, largest = compare_precisions(
        args.model, pairs, args.out, ("fp32", "bf16"), jobs=args.jobs,
        progress=lambda line: print(line, file=sys.stderr, flush=True), backend=args.backend,
    )
    base, bf16 = runs
    costs = paired_costs(base.rows, bf16.rows)
    print(f"Machine: {machine.describe()}")
    print(f"{len(pairs)} files of {args.corpus.name}/{args.split}; fp32: {base.backend}; bf16: {bf16.backend}\n")
    print(markdown(costs, "bf16"))
    times = {run.precision: statistics.median(run.seconds) for run in runs}
    print(f"\nlargest sample difference bf16 - fp32: {largest['bf16']:.2e}; median seconds per file: "
          f"fp32 {times['fp32']:.3f}, bf16 {times['bf16']:.3f} (fp32 / bf16 = {times['fp32'] / times['bf16']:.2f}x)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bf16_quality.json").write_text(json.dumps({
        "machine": asdict(machine), "files": len(pairs), "costs": [asdict(c) for c in costs],
        "largest_sample_difference": largest["bf16"], "median_seconds": times,
        "runs": [asdict(run) for run in runs],
    }, indent=1, default=str))
    if args.record is not None:
        from crpse.assets import resolve_model
        from crpse.bench.precision import bf16_record, write_bf16_cost

        record = bf16_record(costs, args.split, args.backend)
        write_bf16_cost(resolve_model(args.model), args.record, record)
        print(f"recorded in {args.record}: {record.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
