#!/bin/bash
# CPU continuation of the bundled default model (BENCHMARKS.md 23.4; the shipped default since section 24): multi-N
# CRP as in train_gpu.sh (N = 1..5, t = 0.3, cost weighting, gradient through the last step), at a lower learning
# rate and a longer EMA, on the whole train split of the 20-hour corpus (`crpse data synth CORPUS --hours 20
# --jobs 2`), batch 8 x 256 frames, 2 threads.
# run/checkpoints/last.ckpt is copied to $SNAPS every SNAP_S seconds and at the end (final.ckpt) for the choice on
# valid/ (benchmarks/score_checkpoint.py). Resume a stopped run with the same command plus --resume.
# BENCHMARKS.md 25.3: the shipped default has reached a plateau at this recipe (more steps at lr 1e-4, snapshot
# averages); at --lr 3e-5 it improved only at N >= 2. Compare candidates with ship.sh's gate, not whole-file scores.
# Section 26: a snapshot alone (a fresh EMA: the default holds EMA weights only) trades ESTOI and SI-SDR for PESQ;
# blended half and half with the model it started from (ship.sh BLEND=0.5) it did not. That default came from
# `--num-frames 512 --batch-size 4 --lr 5e-5 --seed 23`, snapshot 3. Adding --no-ema-warmup (26.4) anchors the EMA at
# the start during training instead (smaller gain in 275 steps, no trade).
# Section 27: from the current default, 6.1 s crops (--num-frames 768 --batch-size 3 --ema-decay 0.998
# --no-ema-warmup) and then only the pairs below 5 dB SNR gained nothing on valid/ in 225 steps each, blended or not:
# the `tiny` network has plateaued here; train_gpu.sh DSM_TIME=... trains a wider one on a GPU.
# Section 28: widened first (crpse.widen, ch_mult 1,2,2,4,4,4,4, the same outputs), one hour of the same recipe at
# --lr 1e-4 passed the gate with every metric rising at each snapshot (INIT=wide4.ckpt ... --num-frames 768
# --batch-size 3 --lr 1e-4 --seed 41 --no-ema-warmup --ema-decay 0.998); that is the shipped default since then.
#
#   CORPUS=~/corpora/corpus20 RUN=~/runs/ft18 SNAPS=~/runs/ft18_snaps TRAIN_TIME=00:01:05:00 \
#       bash benchmarks/default_model/finetune_cpu.sh [extra crpse train options]
set -u
CORPUS=${CORPUS:?}; RUN=${RUN:?}; SNAPS=${SNAPS:?}; TRAIN_TIME=${TRAIN_TIME:-00:01:05:00}; SNAP_S=${SNAP_S:-900}
INIT=${INIT:-$(dirname "$0")/../../src/crpse/assets/default.ckpt}
mkdir -p "$SNAPS"
( n=0; while sleep "$SNAP_S"; do n=$((n+1)); f=$RUN/checkpoints/last.ckpt
    [ -f "$f" ] && cp "$f" "$SNAPS/snap_$(printf %02d $n).ckpt" && echo "snapshot $n $(date -u +%T)"; done ) &
snap=$!
OMP_NUM_THREADS=2 python -m crpse train crp --init "$INIT" --data-dir "$CORPUS" \
  --batch-size 8 --num-frames 256 --num-workers 1 --val-every 0 --num-eval-files 0 --checkpoint-every 25 \
  --val-sampler model --lr 1e-4 --ema-decay 0.999 --run-dir "$RUN" --max-time "$TRAIN_TIME" \
  --steps 1..5 --t-start 0.3 --grad-step last --steps-weighting cost --inference-steps 1 --inference-t-start 0.3 \
  --accelerator cpu --devices 1 --threads 2 --log-every 10 --seed 18 "$@"
rc=$?
kill $snap
cp "$RUN/checkpoints/last.ckpt" "$SNAPS/final.ckpt"
date -u
exit $rc
