"""Import + model load of the inference path, in this fresh process: wall and CPU time, peak RSS, and whether torch
was imported (issue 12 item 7; BENCHMARKS.md section 12).

    for i in 1 2 3; do for b in eager onnxruntime; do OMP_WAIT_POLICY=PASSIVE python benchmarks/import_load.py $b; done; done
"""

import resource
import sys
import time

start = time.perf_counter()
before = resource.getrusage(resource.RUSAGE_SELF)
from crpse.enhancer import Enhancer  # noqa: E402

imported = time.perf_counter()
enhancer = Enhancer("default", backend=sys.argv[1] if len(sys.argv) > 1 else "auto")
loaded = time.perf_counter()
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(f"{enhancer.backend.name}: import {imported - start:.3f} s, load {loaded - imported:.3f} s, wall {loaded - start:.3f} s, "
      f"CPU {cpu:.3f} s, peak RSS {after.ru_maxrss / 1024:.0f} MiB, torch imported: {'torch' in sys.modules}")
