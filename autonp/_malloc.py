"""Keep freed memory for the next step instead of handing it back to the OS (glibc only).

A training step frees and re-allocates the same few-megabyte arrays every time (activations, their
gradients, the convolution's im2col). With glibc's defaults, the top of the heap is trimmed whenever
more than twice the largest freed block lies free there, so the next step's arrays fault their pages
in again: the CNN step of ``benchmarks/run.py`` (batch 128) took **~2,300-3,100 minor page faults per
step** and 36-43 ms; with the two settings below, 0.2 faults per step and 28-34 ms (same peak RSS, 250
vs 258 MB: the memory is reused, not added). Arrays up to 32 MiB then come from the heap, and up to
128 MiB of freed memory stays in the process between steps.

This is process-wide (glibc's ``mallopt``), so it is said here and in the performance docs; set
``AUTONP_MALLOC=0`` before importing autonp to keep glibc's defaults. Other C libraries (musl, macOS,
Windows) are left alone.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20   # glibc's largest dynamic threshold: bigger arrays are mapped and unmapped as before
TRIM_THRESHOLD = 128 << 20  # free memory kept at the heap's top before it is returned

applied = False


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (above); True if they were set."""
    global applied
    if os.environ.get("AUTONP_MALLOC", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return applied
