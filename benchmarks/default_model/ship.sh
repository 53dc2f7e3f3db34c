#!/bin/bash
# Ship a trained checkpoint as the bundled default model (MODEL_CARD.md, training steps 4-5): EMA weights only, its
# validated region from a sweep on valid/ (never a test split), bf16's quality cost recorded in it, the ONNX graph
# rebuilt. Run from the repository root with crpse installed; the current default is kept as $WORK/previous.ckpt for
# `benchmarks/peers.py --compare previous=$WORK/previous.ckpt`.
#
#   CKPT=~/runs/ft21_snaps/snap_03.ckpt CORPUS=~/corpora/corpus20 WORK=~/runs/ship21 \
#       bash benchmarks/default_model/ship.sh
#
# First (a few minutes) both models at the default setting, the way `crpse enhance` runs them: the script stops
# unless the new checkpoint is better on PESQ and no worse on ESTOI and SI-SDR (FORCE=1 overrides; whole-file
# scores of score_checkpoint.py can disagree, BENCHMARKS.md 25.3). Then (about 35 min on 2 CPU cores) the 25-cell
# region sweep (N = 1..5 x t_start = 0.2..0.4, 50 files, fp32) in two processes that share its cell cache, and the
# bf16 measurement on 100 test files; on a CPU without native bf16 it is skipped and the model ships without a
# record, so `--precision auto` runs it at fp32. Cells already in $WORK are reused.
# BLEND=A ships A x the current default + (1 - A) x the checkpoint's EMA weights instead (WiSE-FT; BENCHMARKS.md 26:
# the CPU fine-tunes' ESTOI and SI-SDR losses went away half and half). A new candidate needs a new $WORK.
# What stays manual: the region asserts of tests/test_bundled_model.py, MODEL_CARD.md and BENCHMARKS.md.
set -eu
CKPT=${CKPT:?}; CORPUS=${CORPUS:?}; WORK=${WORK:?}
STEPS=${STEPS:-1}; T_START=${T_START:-0.3}  # the default setting the two models are compared at
T_GRID=0.2,0.25,0.3,0.35,0.4
ASSET=src/crpse/assets/default.ckpt

sweep() {  # sweep NAME CHECKPOINT OUT [crpse bench sweep options]: valid/, 50 files, fp32, one thread
    local name=$1 checkpoint=$2 out=$3
    shift 3
    crpse bench sweep --model "$name=$checkpoint" --corpus "$CORPUS" -o "$out" --splits valid --max-files 50 \
        --schedules uniform --threads 1 --no-dnsmos "$@"
}

mkdir -p "$WORK"
[ -f "$WORK/previous.ckpt" ] || cp "$ASSET" "$WORK/previous.ckpt"
if [ -n "${BLEND:-}" ]; then  # BLEND x the current default + (1 - BLEND) x the new EMA weights (crpse.weight_blend)
    python -c "import sys; from crpse.weight_blend import blend_checkpoints; a = float(sys.argv[3]); \
blend_checkpoints(sys.argv[1:3], [a, 1 - a], sys.argv[4])" "$WORK/previous.ckpt" "$CKPT" "$BLEND" "$WORK/export.ckpt"
else
    python -c "import sys; from crpse.checkpoint import export_model; export_model(sys.argv[1], sys.argv[2])" \
        "$CKPT" "$WORK/export.ckpt"
fi

# the gate: one cell per model, side by side
sweep new "$WORK/export.ckpt" "$WORK/sweep" --steps "$STEPS" --t-start "$T_START" --no-plot \
    > "$WORK/gate_new.log" 2>&1 &
a=$!
sweep previous "$WORK/previous.ckpt" "$WORK/sweep_previous" --steps "$STEPS" --t-start "$T_START" --no-noisy \
    --no-plot > "$WORK/gate_previous.log" 2>&1
wait $a
python benchmarks/default_model/gate.py "$WORK/sweep_previous/cells/valid/previous/reverse_${STEPS}_t${T_START}.csv" \
    "$WORK/sweep/cells/valid/new/reverse_${STEPS}_t${T_START}.csv" || [ "${FORCE:-0}" = 1 ] || \
    { echo "not better than the current default at N=$STEPS, t=$T_START: stopped (FORCE=1 ships it anyway)"; exit 1; }

# the region: N = 2, 5 and N = 1, 3, 4 cost about the same, one process each; then every cell is read back
sweep new "$WORK/export.ckpt" "$WORK/sweep" --steps 2,5 --t-start "$T_GRID" --no-noisy --no-plot \
    > "$WORK/sweep_a.log" 2>&1 &
a=$!
sweep new "$WORK/export.ckpt" "$WORK/sweep" --steps 1,3,4 --t-start "$T_GRID" --no-noisy --no-plot \
    > "$WORK/sweep_b.log" 2>&1
wait $a
sweep new "$WORK/export.ckpt" "$WORK/sweep" --steps 1,2,3,4,5 --t-start "$T_GRID" > "$WORK/sweep.log" 2>&1

if grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
    python benchmarks/bf16_quality.py --corpus "$CORPUS" --split test --out "$WORK/bf16" --model "$WORK/export.ckpt" \
        --threads 1 --record "$WORK/recorded.ckpt" > "$WORK/bf16.log" 2>&1
else
    echo "no native bf16 on this CPU: shipped without a bf16 record (auto runs fp32)"
    cp "$WORK/export.ckpt" "$WORK/recorded.ckpt"
fi
crpse bench region "$WORK/sweep" --name new --checkpoint "$WORK/recorded.ckpt" -o "$ASSET" --no-default
python benchmarks/build_bundled_graph.py default
crpse info default
