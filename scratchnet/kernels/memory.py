"""Freed memory kept for the next step: the C library's ``malloc`` asked not to give it back.

Every training step frees and re-allocates arrays of the same sizes (activations, im2col pieces,
gradients). By default glibc's ``malloc`` hands a freed block over 128 KiB back to the operating
system (``munmap``, or trimming the top of its heap), and the next step pays a page fault for
every 4 KiB it touches again: the kernel maps and zeroes each page anew, which on a virtual
machine can cost more than the arithmetic. TensorFlow keeps its memory in its own allocator and
pays none of this.

So when a CPU backend is selected (:func:`scratchnet.kernels.set_backend`, at import too), on
glibc, scratchnet sets three of ``malloc``'s knobs (``mallopt``; ``man mallopt``), what the
environment variables ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` and
``MALLOC_MMAP_MAX_=0`` would do at start-up:

- ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's largest on 64-bit) and ``M_MMAP_MAX`` = 0: every block
  comes from the heap, where a freed block is reused, none from a mapping of its own (talk_cnn's
  activations at batch 32 are up to 180 MiB each, past any threshold);
- ``M_TRIM_THRESHOLD`` = 1 GiB: free memory at the top of the heap is kept up to that much.

Measured on the benchmark machines: talk_cnn on the Numba backend (batch 32, 2 shared cores), a
training step took 0.70 s of CPU time instead of 2.2 s (1.5 s of it page faults), peak RSS over
12 steps 1267 -> 1445 MiB (heap blocks of different sizes do not always fit the holes freed
earlier; 1208 MiB once Conv2D stopped keeping its pre-ReLU values). The NumPy reference, which
had run without it, page-faulted 1,400-3,400 fresh pages a training step (``ru_minflt``): with it,
small_cnn@32 10.6 -> 8.8 ms, rps_cnn@32 41.7 -> 35.8, small_cnn@256 56.2 -> 49.5, rps_cnn@256 288 ->
275 (the mapping threshold and trim threshold alone, without ``M_MMAP_MAX``). Setting only one of
the thresholds measured *worse* than none: it turns off glibc's own adjustment of the other.

They are process-wide settings of the C library. ``SCRATCHNET_KEEP_FREED_MEMORY=0`` leaves
``malloc`` as it was, and so do ``MALLOC_*`` or ``GLIBC_TUNABLES`` variables of the user's own
(the benchmark's TensorFlow workers run with ``=0``: tfnet imports scratchnet). Elsewhere (macOS,
Windows, musl) nothing is done.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4  # glibc's <malloc.h>
TRIM_BYTES = 1024 * 2**20
MMAP_BYTES = 32 * 2**20  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: mallopt refuses more
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_",
                  "GLIBC_TUNABLES")

KEEPS_FREED_MEMORY = False  # whether the settings are in force (set by keep_freed_memory)


def keep_freed_memory() -> bool:
    """Set the three knobs above (once is enough; again changes nothing). True when they are set."""
    global KEEPS_FREED_MEMORY
    if KEEPS_FREED_MEMORY:
        return True
    if os.environ.get("SCRATCHNET_KEEP_FREED_MEMORY", "1").strip() == "0":
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False  # the user tuned malloc: theirs stands
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc; musl has no such file
    except OSError:
        return False
    KEEPS_FREED_MEMORY = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) \
        and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_BYTES)) and bool(libc.mallopt(M_MMAP_MAX, 0))
    return KEEPS_FREED_MEMORY
