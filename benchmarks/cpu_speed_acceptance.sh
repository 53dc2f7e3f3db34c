#!/bin/bash
# Issue 15's CPU acceptance figures on whatever CPU this is, in one go (about 25 minutes on 2 cores), so that each CPU
# kind the project gets (AVX2 only; AVX-512 with avx512_bf16; Intel Xeon with AMX) is measured the same way:
#   1. the CPU, its ISA flags and its fp32 arithmetic ceiling (benchmarks/matmul_ceiling.py);
#   2. the official NCSN++ against crpse's faithful paths (and the bf16 ones where the CPU has native bf16),
#      same weights, interleaved (`crpse bench speed --reference`);
#   3. the bundled model end to end on a 60 s file, every backend, whole process (`crpse bench speed --end-to-end`);
#   4. a folder of 100 files of 3-8 s one by one against `--jobs 2` (benchmarks/folder_jobs.sh);
#   5. where the CPU has native bf16: bf16's quality cost against fp32 on those 100 files (benchmarks/bf16_quality.py);
#   6. with PEERS_VENV: whole-command speed on 60 s against DeepFilterNet3, RNNoise, noisereduce (issue 17's speed
#      item; benchmarks/peers.py --speed, which creates that venv when it does not exist).
# BENCHMARKS.md section 22 is this script's run on an AVX2-only AMD EPYC.
#
# Usage: benchmarks/cpu_speed_acceptance.sh SGMSE_CRP_CHECKOUT OUT [CORPUS] [PEERS_VENV]
#   SGMSE_CRP_CHECKOUT: a checkout of sp-uhh/sgmse_crp (e.g. `git archive HEAD` of it); OUT: a new folder;
#   CORPUS: a corpus with a `test` split of 100 files of 3-8 s (default or '': generated into OUT/corpus with the
#   sources this machine has); PEERS_VENV: see step 6 (default: skipped).
#   Run from the repository root with crpse installed (pip install -e '.[dev]').
set -eu
REF=$1; OUT=$2; CORPUS=${3:-$OUT/corpus}; PEERS_VENV=${4:-}
mkdir -p "$OUT"
export OMP_WAIT_POLICY=PASSIVE
log() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$OUT/steps.log"; }

log "1. machine and fp32 ceiling"
python benchmarks/matmul_ceiling.py --threads 2 | tee "$OUT/ceiling.txt"
bf16=$(python -c "from crpse.backends import native_bf16; print(int(native_bf16('cpu')))")

log "2. reference against crpse (native bf16: $bf16)"
paths=nchw,fp32,onnxruntime,openvino
[ "$bf16" = 1 ] && paths=$paths,bf16-nchw,bf16,openvino-bf16
crpse bench speed --reference "$REF" --config ncsnpp --seconds 2.04 --batch 1 --repeats 4 --threads 2 \
    --precision $paths -o "$OUT/reference"

log "3. bundled model, 60 s end to end"
CRPSE_CACHE_DIR="$OUT/empty_cache" crpse bench speed --config model --seconds 6 --batch 1 --repeats 3 --threads 2 \
    --precision auto --backend auto,eager,onnxruntime,openvino --end-to-end 60 -o "$OUT/end_to_end"

if [ ! -d "$CORPUS/test/noisy" ]; then
  log "4a. corpus"
  crpse data synth "$CORPUS" --hours 0.05 --valid-files 10 --test-files 100 --mismatched-files 10 \
      --real-test-files 0 --length-range 3 8 --jobs 2 --quiet
fi
log "4. folder: --jobs 1 against --jobs 2"
bash benchmarks/folder_jobs.sh "$CORPUS/test/noisy" 3 "$OUT/jobs" | tee "$OUT/jobs.txt"

if [ "$bf16" = 1 ]; then
  log "5. bf16's quality cost"
  python benchmarks/bf16_quality.py --corpus "$CORPUS" --split test --out "$OUT/bf16_quality" --threads 2 \
      | tee "$OUT/bf16_quality.txt"
fi
if [ -n "$PEERS_VENV" ]; then
  log "6. whole-command speed against the peers"
  python benchmarks/peers.py --venv "$PEERS_VENV" --corpus "$CORPUS" --out "$OUT/peers" --splits '' --speed \
      --speed-from test --speed-threads 2,1 --speed-repeats 5 | tee "$OUT/peers.txt"
fi
log "done: $OUT"
