"""Process-wide settings for the command-line tools that run the network on CPU (the CLI layer's business: the
library never changes them).

Two defaults, each measured on a 60 s file with the bundled model (BENCHMARKS.md, section 8):

* ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it: OpenMP threads that spin between parallel regions doubled
  the CPU time of `crpse enhance` on a machine shared with other processes. libgomp reads it when torch loads,
  so it only takes effect if torch has not been imported yet.
* glibc ``malloc`` keeps freed memory instead of returning it to the system after every tensor (``mallopt``
  ``M_MMAP_THRESHOLD``/``M_TRIM_THRESHOLD`` at 256 MiB): with the defaults every feature map larger than the
  dynamic mmap threshold was a fresh ``mmap`` whose pages were faulted in and zeroed again, per layer and per
  window: 10 s of system time for a 60 s file. Other C libraries, and a user's own ``MALLOC_*`` or
  ``GLIBC_TUNABLES`` settings, are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: allocations up to this size come from the heap, and this much free heap is kept (bytes)
MALLOC_KEEP_BYTES = 256 * 1024 * 1024


def prepare_cpu_inference_process() -> dict[str, str]:
    """Apply the defaults above to this process; returns what was set (for ``--verbose`` logs and tests)."""
    applied: dict[str, str] = {}
    if "torch" not in sys.modules and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        applied["OMP_WAIT_POLICY"] = "PASSIVE"
    user_tuned = "GLIBC_TUNABLES" in os.environ or any(key.startswith("MALLOC_") for key in os.environ)
    if sys.platform.startswith("linux") and not user_tuned:
        try:
            libc = ctypes.CDLL(None)
            mallopt = libc.mallopt
            gnu_libc_version = libc.gnu_get_libc_version  # only glibc has it; musl etc. raise AttributeError
        except (OSError, AttributeError):
            return applied
        del gnu_libc_version
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        if mallopt(_M_MMAP_THRESHOLD, MALLOC_KEEP_BYTES) and mallopt(_M_TRIM_THRESHOLD, MALLOC_KEEP_BYTES):
            applied["malloc"] = f"mmap/trim threshold {MALLOC_KEEP_BYTES >> 20} MiB"
    return applied
