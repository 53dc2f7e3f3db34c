#!/usr/bin/env bash
# Peak memory and wall time of `crpse enhance` on a long file (default: 10 minutes, 16 kHz, mono, 16-bit).
#
# Usage: benchmarks/long_file_memory.sh [MINUTES] [RATE] [CHANNELS] [-- extra `crpse enhance` options]
#   MODEL=path.ckpt  use this checkpoint (default: a randomly initialised `tiny` model written to the work folder)
#   WORK=dir         keep the generated files there (default: a temporary folder, removed at the end)
#   PYTHON=python    the interpreter that has crpse installed
#
# Prints GNU time's "Maximum resident set size" and "Elapsed (wall clock) time" lines, and the real-time factor.
# Peak memory must not grow with the file length: compare e.g. 1 and 10 minutes.
set -euo pipefail

MINUTES=${1:-10}
RATE=${2:-16000}
CHANNELS=${3:-1}
shift $(( $# < 3 ? $# : 3 ))
[[ ${1:-} == "--" ]] && shift
PYTHON=${PYTHON:-python}
CRPSE=("$PYTHON" -m crpse)

if [[ -n ${WORK:-} ]]; then
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
if [[ ! -x /usr/bin/time ]]; then
    echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2
    exit 2
fi

INPUT="$WORK/long_${MINUTES}min_${RATE}Hz_${CHANNELS}ch.wav"
MODEL=${MODEL:-$WORK/tiny.ckpt}

"$PYTHON" - "$INPUT" "$MINUTES" "$RATE" "$CHANNELS" "$MODEL" <<'EOF'
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

path, minutes, rate, channels, model = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if not Path(model).exists():
    from crpse.checkpoint import save_model
    from crpse.score_model import build_model

    save_model(model, build_model("tiny", seed=0))
rng = np.random.default_rng(0)
# written minute by minute: generating the input does not need the whole signal in memory either
with sf.SoundFile(path, "w", samplerate=rate, channels=channels, subtype="PCM_16") as handle:
    t0 = 0
    for _ in range(int(np.ceil(minutes))):
        n = min(60 * rate, int(minutes * 60 * rate) - t0)
        t = (t0 + np.arange(n)) / rate
        voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
        block = 0.2 * (0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t)) * voiced
        block = block[:, None] + 0.05 * rng.standard_normal((n, channels))
        handle.write(block.astype(np.float32))
        t0 += n
print(f"input: {path} ({minutes:g} min, {rate} Hz, {channels} ch)")
EOF

LOG="$WORK/time.log"
/usr/bin/time -v "${CRPSE[@]}" enhance "$INPUT" -o "$WORK/out" --model "$MODEL" --overwrite -q "$@" 2> "$LOG" || {
    cat "$LOG" >&2
    exit 1
}
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$LOG"
"$PYTHON" - "$LOG" "$MINUTES" <<'EOF'
import re
import sys

text = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
print(f"peak RSS {rss_kib / 1024:.0f} MiB, wall {seconds:.1f} s, real-time factor {seconds / (float(sys.argv[2]) * 60):.3f}")
EOF
