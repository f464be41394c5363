"""Freed memory kept for the next step: the C library's ``malloc`` asked not to give it back.

Each training step of the NumPy reference makes its arrays afresh: activations, the im2col
pieces of each thread, gradients. On Linux, glibc's ``malloc`` hands a large freed block back to
the operating system (``munmap``, or trimming the top of its heap) and asks for new pages at the
next step; the kernel then maps and zeroes every page again, one page fault per 4 KiB. Measured on
the benchmark machine (2-core Xeon, ``/proc`` fault counts, ``ru_minflt``): ~3,000 faults (12 MB) a
training step at small_cnn@256 and 1,400-2,600 at batch 32, costing 12-17% of the step (small_cnn@32
10.6 -> 8.8 ms, rps_cnn@32 41.7 -> 35.8 ms, small_cnn@256 56.2 -> 49.5 ms, rps_cnn@256 288 -> 275 ms)
with peak memory within 10 MB either way (the NumPy backend chosen before import, as the
benchmark's workers do; after Numba has loaded, glibc has often raised its thresholds by itself
and the faults are fewer either way). TensorFlow's steps measured ~0-100 faults with or without
these settings, at the same speed; the Numba kernels measured no faults and no change.

So at import, on glibc, scratchnet sets two of ``malloc``'s knobs (``mallopt``; ``man mallopt``):

- ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's largest on 64-bit): blocks below it come from the heap,
  where a freed block is reused, instead of their own ``mmap``;
- ``M_TRIM_THRESHOLD`` = 256 MiB: free memory at the top of the heap is kept up to that much.

Both knobs together: either alone measured *worse* (it turns off glibc's own adjustment of the
other). They are process-wide settings of the C library; ``SCRATCHNET_KEEP_FREED_MEMORY=0`` leaves
``malloc`` as it was, and so does a ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` (or
``GLIBC_TUNABLES``) of the user's own. Elsewhere (macOS, Windows, musl) nothing is done.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
TRIM_BYTES = 256 << 20
MMAP_BYTES = 32 << 20  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: mallopt refuses more
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Set the two thresholds above; True when both were set."""
    if os.environ.get("SCRATCHNET_KEEP_FREED_MEMORY", "1").strip() == "0":
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False  # the user tuned malloc: theirs stands
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018  (glibc only; musl's mallopt does nothing)
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))


KEEPS_FREED_MEMORY = keep_freed_memory()
