#!/bin/bash
# The default model's GPU run (MODEL_CARD.md, "Training commands"), as one command on a lent GPU machine:
# unpack the Opus pack (make_pack.py), then multi-N CRP fine-tuning of the previous bundled model (CRP N = 1 at
# t = 0.3) for TRAIN_TIME; run/checkpoints/last.ckpt is brought back to $OUT every SNAP_S seconds (the newest kept) and
# at the end, for the choice on valid/ on the host (EMA-only exports; see bring_back below).
#
#   OUT=/tmp/out PACK=/path/to/pack INIT=prev.ckpt bash benchmarks/default_model/train_gpu.sh
#   (prev.ckpt, the model it started from: git show 9d13213:src/crpse/assets/default.ckpt > prev.ckpt)
#   local dry run: OUT=/tmp/o PACK=... PY=python ACCEL=cpu BATCH=2 TRAIN_TIME=00:00:00:30 SNAP_S=15 WORKERS=1 bash ...
#
# BATCH: the 2026-11-30 run used 32 and took ~0.16 s per step at every N, a pace set by per-step overhead (as read
# from its logged step times), not by the network or the data loader (BENCHMARKS.md 23.1): a next run should try a
# larger BATCH (e.g. 128) first; the model was still learning (23.4: an hour of CPU fine-tuning on the whole
# 20-hour train split raised every valid/ metric), so more steps and more of the corpus pay before a wider network.
#
# DSM_TIME=DD:HH:MM:SS trains a new network from scratch instead (BENCHMARKS.md 27: the shipped `tiny` has plateaued
# on CPU fine-tuning; wider deep levels cost ~4 % per call): DSM for DSM_TIME, then the same multi-N CRP stage from the
# DSM run's raw weights (the official stage 2) for TRAIN_TIME; NET sets the network (default: `tiny` with ch_mult
# 1,2,2,4,4,8,8, 5.4 M parameters: a 21 MB checkpoint and as much again for its ONNX graph; `--ch-mult 1,2,2,4,4,4,4`
# has 2.4 M) and INIT is not used. Keep DSM_TIME + TRAIN_TIME + start-up within the lease, e.g. DSM_TIME=00:00:04:00
# TRAIN_TIME=00:00:05:00 BATCH=64 (untried on a GPU; checked end to end on the CPU with the local dry run above plus
# DSM_TIME=00:00:00:30 TRAIN_TIME=00:00:01:30 DATA=CORPUS: DSM, then CRP from its raw weights; the 21 MB final export
# came back as two parts that `cat` joined into a checkpoint of the 5.37 M-parameter network).
#
# WIDEN=1,2,2,4,4,4,4 widens INIT first (crpse.widen: more channels at the deep levels, the same outputs at the start;
# BENCHMARKS.md 28), so the lease goes to CRP training of a wider network that starts where the default stands,
# instead of to a DSM stage from scratch.
#
# The GPU machine had Python 3.12 with torch and Lightning but no pesq (no cp312 wheel, and it cannot build one);
# with --num-eval-files 0 crpse train no longer asks for it (the 2026-11-30 run put a placeholder module on the path
# instead, before that check was narrowed).
set -u
OUT=${OUT:?}; PACK=${PACK:?}; ACCEL=${ACCEL:-gpu}; BATCH=${BATCH:-32}; TRAIN_TIME=${TRAIN_TIME:-00:00:07:45}
SNAP_S=${SNAP_S:-70}; WORKERS=${WORKERS:-12}; PY=${PY:-python3}; DATA=${DATA:-/tmp/d17}; RUN=${RUN:-/tmp/run17}
DSM_TIME=${DSM_TIME:-}; NET=${NET:---backbone tiny --ch-mult 1,2,2,4,4,8,8}
[ -n "$DSM_TIME" ] || INIT=${INIT:?the checkpoint to start from (or DSM_TIME for a new network)}
exec > >(tee -a "$OUT/train17.log") 2>&1
date -u; nproc; $PY -V; nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null
$PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available())"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
t0=$(date +%s)
[ -d "$DATA/train" ] || $PY benchmarks/default_model/unpack_pack.py "$PACK" "$DATA" --jobs 16 || exit 3
echo "unpack: $(( $(date +%s) - t0 )) s"
rm -rf "$RUN"
if [ -n "${WIDEN:-}" ] && [ -z "$DSM_TIME" ]; then
    $PY -c "import sys; from crpse.widen import widen_checkpoint; \
widen_checkpoint(sys.argv[1], sys.argv[2], [int(m) for m in sys.argv[3].split(',')], seed=17)" \
      "$INIT" "$RUN-wide.ckpt" "$WIDEN" || exit 5
    INIT=$RUN-wide.ckpt; echo "widened to ch_mult $WIDEN"
fi
init_options=(--init "${INIT:-}")
if [ -n "$DSM_TIME" ]; then  # stage 1 of a new network; its checkpoints are not snapshotted
    rm -rf "$RUN-dsm"
    # shellcheck disable=SC2086  # NET is a list of options
    $PY -m crpse train dsm $NET --data-dir "$DATA" --batch-size "$BATCH" --num-frames 256 \
      --num-workers "$WORKERS" --val-every 0 --num-eval-files 0 --checkpoint-every 100 --lr 3e-4 \
      --run-dir "$RUN-dsm" --max-time "$DSM_TIME" --accelerator "$ACCEL" --devices 1 --precision 32-true \
      --log-every 20 --seed 17 || exit 4
    echo "dsm: done after $(( $(date +%s) - t0 )) s"
    init_options=(--init "$RUN-dsm/checkpoints/last.ckpt" --init-weights raw)
fi
# what comes back from the device: at most 8 files of at most 16 MiB (the device tool's limits), so the checkpoints
# travel as EMA-only exports (crpse.checkpoint.export_model), split into 15 MiB parts where larger (a 5.4 M-parameter
# export is 21 MB; on the host: cat NAME.ckpt.part-* > NAME.ckpt); with the log and metrics.csv that leaves room for
# the final export and the newest snapshots: 5 of one part each, 2 of two parts.
bring_back() {  # bring_back TRAINING_CHECKPOINT NAME: $OUT/NAME.ckpt, or its parts
    cp "$1" "$RUN.copy" && $PY -c "import sys; from crpse.checkpoint import export_model; \
export_model(sys.argv[1], sys.argv[2])" "$RUN.copy" "$OUT/$2.ckpt" || return 1
    if [ "$(stat -c %s "$OUT/$2.ckpt")" -gt $((15 * 1024 * 1024)) ]; then
        split -b 15m "$OUT/$2.ckpt" "$OUT/$2.ckpt.part-" && rm "$OUT/$2.ckpt"
    fi
}
( n=0; while sleep "$SNAP_S"; do n=$((n+1)); name=snap_$(printf %02d $n); f=$RUN/checkpoints/last.ckpt
    [ -f "$f" ] && bring_back "$f" "$name" && echo "snapshot $n at $(( $(date +%s) - t0 )) s" || continue
    parts=$(ls "$OUT/$name".ckpt* | wc -l); keep=$(( (6 - parts) / parts ))
    ls "$OUT"/snap_*.ckpt* | sed 's/\.ckpt.*//' | sort -u | head -n -"$keep" | while read -r old; do rm -f "$old".ckpt*; done
  done ) &
snap=$!
$PY -m crpse train crp "${init_options[@]}" --data-dir "$DATA" --batch-size "$BATCH" --num-frames 256 \
  --num-workers "$WORKERS" --val-loss-batches 2 --val-every 400 --num-eval-files 0 --checkpoint-every 100 \
  --val-sampler model --lr 3e-4 --ema-decay 0.99 --run-dir "$RUN" --max-time "$TRAIN_TIME" \
  --steps 1..5 --t-start 0.3 --grad-step last --steps-weighting cost --inference-steps 1 --inference-t-start 0.3 \
  --accelerator "$ACCEL" --devices 1 --precision 32-true --log-every 20 --seed 17
rc=$?
kill $snap
echo "train rc=$rc after $(( $(date +%s) - t0 )) s"
bring_back "$RUN/checkpoints/last.ckpt" final
cp "$(ls "$RUN"/logs/*/*/metrics.csv | head -1)" "$OUT/metrics.csv"
date -u
