#!/bin/bash
# `crpse enhance` of a folder, whole command: one process at 2 threads (--jobs 1) against two worker processes at
# one thread each (--jobs 2), interleaved; then how many outputs differ between the two (bf16 on a CPU rounds
# differently at another thread count). Run from the repository root with PYTHONPATH=src (or crpse installed).
# Usage: benchmarks/folder_jobs.sh FOLDER [ROUNDS] [OUT]
set -u
IN=$1; ROUNDS=${2:-2}; OUT=${3:-/tmp/jobs_bench}
mkdir -p $OUT
for r in $(seq $ROUNDS); do
  for j in 1 2; do
    s=$(date +%s%N)
    OMP_NUM_THREADS=2 /usr/bin/time -f "%M" -o $OUT/rss_$j python -m crpse enhance $IN -o $OUT/out$j -q --overwrite --jobs $j
    e=$(date +%s%N)
    # GNU time's peak RSS of the command covers its reaped children: the largest of the parent and its workers
    echo "round $r jobs $j wall $(awk "BEGIN{printf \"%.2f\", ($e - $s) / 1e9}") s, peak RSS $(cat $OUT/rss_$j) KiB"
  done
done
n=0; for f in $OUT/out1/*; do cmp -s $f $OUT/out2/$(basename $f) || n=$((n+1)); done; echo "files differing between jobs 1 and 2: $n of $(ls $OUT/out1 | wc -l)"
