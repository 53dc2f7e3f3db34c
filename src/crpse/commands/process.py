"""Process-wide settings for the command-line tools that run the network on CPU (the CLI layer's business: the
library never changes them).

Three defaults, each measured on a 60 s file with the bundled model (BENCHMARKS.md, sections 8 and 29):

* ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it: OpenMP threads that spin between parallel regions doubled
  the CPU time of `crpse enhance` on a machine shared with other processes. libgomp reads it when torch loads,
  so it only takes effect if torch has not been imported yet.
* ``GOMP_SPINCOUNT`` (:data:`SPIN_COUNT`) unless the user set it or the wait policy: a short spin before a thread
  sleeps. With ``PASSIVE`` alone libgomp's threads sleep at once after each of the network's ~2000 parallel regions
  per call, and waking them cost more than a second thread saves: two threads were no faster than one. A short spin
  keeps the CPU time of ``PASSIVE`` and gives back the second thread's speed (libgomp, the OpenMP runtime of
  PyTorch's Linux wheels; other runtimes ignore the variable).
* glibc ``malloc`` keeps freed memory instead of returning it to the system after every tensor (``mallopt``
  ``M_MMAP_THRESHOLD``/``M_TRIM_THRESHOLD`` at 256 MiB): with the defaults every feature map larger than the
  dynamic mmap threshold was a fresh ``mmap`` whose pages were faulted in and zeroed again, per layer and per
  window: 10 s of system time for a 60 s file. Other C libraries, and a user's own ``MALLOC_*`` or
  ``GLIBC_TUNABLES`` settings, are left alone.

And one for the start-up, :func:`start_up`: importing torch and building the model create ~165 000 objects that live
as long as the process, and Python's cyclic garbage collector ran full passes over them while they were created
(0.2-0.3 s of a 4 s command); it is paused during the start-up and what the start-up made is frozen afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
from collections.abc import Iterator

#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: allocations up to this size come from the heap, and this much free heap is kept (bytes)
MALLOC_KEEP_BYTES = 256 * 1024 * 1024
#: libgomp's busy-wait iterations before a thread sleeps (its default is 300000, or 0 with ``PASSIVE``)
SPIN_COUNT = 10000


def prepare_cpu_inference_process() -> dict[str, str]:
    """Apply the defaults above to this process; returns what was set (for ``--verbose`` logs and tests)."""
    applied: dict[str, str] = {}
    if "torch" not in sys.modules and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        applied["OMP_WAIT_POLICY"] = "PASSIVE"
        if "GOMP_SPINCOUNT" not in os.environ:
            os.environ["GOMP_SPINCOUNT"] = applied["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
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


@contextlib.contextmanager
def start_up() -> Iterator[None]:
    """The context of a command's start-up (importing torch, building the model): the cyclic garbage collector is
    paused in it, and afterwards the objects alive are frozen (:func:`gc.freeze`: moved to a generation it never
    scans; they are freed by reference counting as before, only cycles among them stay) and the collector resumes.

    Only the first start-up of a process freezes: a process that calls the CLI repeatedly (tests) does not make the
    garbage of one call permanent in the next. A collector the caller had disabled stays disabled.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
            gc.enable()
