#!/usr/bin/env bash
# Score a model on a generated corpus's test splits, through the CLI a user would run.
#   benchmarks/bundled_model.sh CORPUS OUT [MODEL]
# For each of test/ and test_mismatched/: enhance the noisy files (the model's own sampler settings), then
# `crpse evaluate` both the noisy input and the enhanced files against the clean references (PESQ, ESTOI,
# SI-SDR/SIR/SAR, DNSMOS) and break the scores down by SNR band and reverberation (by_condition.md, from the
# corpus manifest). Finally the real-time factor on the matched test files (benchmarks/rtf.py, 2 threads).
set -euo pipefail
corpus=$1; out=$2; model=${3:-}
model_args=(); [ -n "$model" ] && model_args=(--model "$model")
python=${PYTHON:-python}
mkdir -p "$out"
for split in test test_mismatched; do
  "$python" -m crpse enhance "$corpus/$split/noisy" -o "$out/$split/enhanced" "${model_args[@]}" --quiet --overwrite
  "$python" -m crpse evaluate --clean "$corpus/$split/clean" --enhanced "$corpus/$split/noisy" \
      --noisy "$corpus/$split/noisy" -o "$out/$split/noisy.csv" --jobs 2
  "$python" -m crpse evaluate --clean "$corpus/$split/clean" --enhanced "$out/$split/enhanced" \
      --noisy "$corpus/$split/noisy" -o "$out/$split/enhanced.csv" --jobs 2
  "$python" benchmarks/by_condition.py "$corpus/$split/manifest.csv" "$out/$split/noisy.csv" \
      "$out/$split/enhanced.csv" | tee "$out/$split/by_condition.md"
done
"$python" benchmarks/rtf.py "$corpus/test/noisy" "${model_args[@]}" --threads 2 | tee "$out/rtf.json"
