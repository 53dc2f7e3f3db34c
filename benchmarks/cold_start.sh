#!/bin/bash
# Cold start and memory of `crpse enhance` on a 60 s file (issue 12 item 7), optionally interleaved with another
# crpse source tree so that the before/after ratio holds on a shared machine.
#
# usage: [BACKENDS="eager onnxruntime"] benchmarks/cold_start.sh OUT [BEFORE_SRC]
#   BEFORE_SRC: e.g. a `git archive REV src | tar -x` copy (run with its defaults);
#   BACKENDS: the --backend values of this tree to interleave (default: auto). `onnxruntime` runs the bundled
#   model's shipped graph (crpse/assets/default.onnx) without importing torch.
# Prints, per run: whole-process wall/user/sys/peak RSS of `crpse enhance` (start-up included), then import+load
# (and whether torch was imported) and the warm time of the same 60 s signal in one process (after an 8 s warm-up
# call).
set -euo pipefail
out=$1; before=${2:-}; backends=${BACKENDS:-auto}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
python - "$out/in60.wav" <<'PY'
import sys, numpy as np, soundfile as sf
rng = np.random.default_rng(0); sr = 16000; t = np.arange(60 * sr) / sr
x = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0) + 0.05 * rng.standard_normal(t.size)
sf.write(sys.argv[1], x.astype(np.float32), sr, subtype="PCM_16")
PY
warm=$(cat <<'PY'
import resource, sys, time
t0 = time.perf_counter(); r0 = resource.getrusage(resource.RUSAGE_SELF)
try:  # the settings `crpse enhance` applies (absent in older trees)
    from crpse.commands.process import prepare_cpu_inference_process
    prepare_cpu_inference_process()
except ImportError:
    pass
import soundfile as sf
from crpse.enhancer import Enhancer
enhancer = Enhancer(device="cpu", **({"backend": sys.argv[3]} if len(sys.argv) > 3 else {}))
r1 = resource.getrusage(resource.RUSAGE_SELF); t1 = time.perf_counter()
torch_loaded = "torch" in sys.modules
audio, rate = sf.read(sys.argv[2], dtype="float32")
enhancer(audio[: 8 * rate], rate)
r2 = resource.getrusage(resource.RUSAGE_SELF); t2 = time.perf_counter()
enhancer(audio, rate)
r3 = resource.getrusage(resource.RUSAGE_SELF); t3 = time.perf_counter()
cpu = lambda a, b: b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime
print(f"{sys.argv[1]} import+load wall {t1 - t0:.2f} s cpu {cpu(r0, r1):.2f} s (torch imported: {torch_loaded}) "
      f"| warm 60 s: wall {t3 - t2:.2f} s cpu {cpu(r2, r3):.2f} s (sys {r3.ru_stime - r2.ru_stime:.2f}) "
      f"| {enhancer.describe()}")
PY
)
trees=(); [ -n "$before" ] && trees=("before=$before=")
for backend in $backends; do trees+=("$backend=$here/src=$backend"); done
for rep in 1 2; do
  for tree in "${trees[@]}"; do
    IFS== read -r name src backend <<< "$tree"
    option=(); [ -n "$backend" ] && option=(--backend "$backend")
    /usr/bin/time -f "$name whole-process: wall %e s user %U s sys %S s peak RSS %M KiB" \
      env PYTHONPATH="$src" python -m crpse.cli enhance "$out/in60.wav" -o "$out/out_$name" --overwrite -q \
      "${option[@]}" 2>&1 | tail -1
    PYTHONPATH="$src" python -c "$warm" "$name" "$out/in60.wav" $backend
  done
done
