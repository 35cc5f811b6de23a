"""OpenBLAS's idle threads go to sleep ~0.4 ms after a product instead of ~0.1 s (with autonp[fast]).

NumPy's OpenBLAS keeps its worker threads spinning for 2^28 clock ticks after every threaded product,
waiting for the next one: ~0.1 s at 2.6 GHz. Measured on this project's 2-core machine: 0.10-0.11 s of
CPU time in the 0.5 s after one 512×512 float32 product, and none with ``OPENBLAS_THREAD_TIMEOUT=20``.
A thread of autonp's own, the compiled convolution's helper (``_numba.correlate_3x3``), shares its core
with that spinning worker: the 8->16 layer's forward and backward, each right after a product, took
17.5-19.1 ms on two threads with OpenBLAS's default against 13.0-13.7 ms with the spin at 2^18-2^22 ticks.

So when the compiled kernels are on (numba installed, ``AUTONP_NUMBA`` not ``0``) and the environment does
not set ``OPENBLAS_THREAD_TIMEOUT``, importing autonp sets the spin to 2^20 ticks (~0.4 ms: the products of a
training step follow each other more closely than that and still find the threads awake) and stops
OpenBLAS's threads, which read the setting when they start again, at the next threaded product. This is
process-wide, as ``OPENBLAS_THREAD_TIMEOUT`` itself is, so it is said here and in the performance docs; set
the variable yourself to choose (28 is OpenBLAS's default: the compiled convolution then stays off, and the
BLAS path runs). Only the OpenBLAS that NumPy's wheels bundle is touched; anything else is left alone.

The price: a product that comes more than ~0.4 ms after the last one wakes sleeping threads. On this
project's VM a 128×1568 by 1568×128 float32 product every 2 ms took 336-597 µs against NumPy's own 305-346,
and right after 0.2 s of idleness the second to fourth such products took milliseconds (up to 30 ms) while
the VM brought the sleeping core back. The setting is made at import, before any product of the program:
stopping OpenBLAS's threads later could meet another thread's product in flight, whose slot OpenBLAS's
shutdown overwrites.

The helper thread lives here too (``on_two_threads``): the compiled correlation splits its images with it,
and the weight gradient's small products (``_kernels.shifted_long_products``) their pieces.
"""
from __future__ import annotations

import ctypes
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from ._blas import opened_libraries

VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
SHORT = 20          # log2 of the ticks autonp sets
SHORT_ENOUGH = 22   # the most at which the compiled convolution's helper thread was measured to win (~1.6 ms)
DEFAULT = 28        # OpenBLAS's own
_FUNCTIONS = ("openblas_thread_timeout", "openblas_read_env", "blas_thread_shutdown_")
_spin: int | None = None


@functools.cache
def _openblas() -> ctypes.CDLL | None:
    """NumPy's bundled OpenBLAS, if it has the functions this module calls."""
    return next((lib for lib in opened_libraries() if all(hasattr(lib, name) for name in _FUNCTIONS)), None)


def spin() -> int | None:
    """log2 of the clock ticks OpenBLAS's idle threads spin before they sleep (OpenBLAS clamps the setting to
    4-30; unset, 28); None when NumPy's bundled OpenBLAS is not there."""
    global _spin
    if _spin is None:
        lib = _openblas()
        if lib is None:
            return None
        setting = lib.openblas_thread_timeout()
        _spin = DEFAULT if setting <= 0 else min(max(setting, 4), 30)
    return _spin


def short_spin() -> bool:
    """OpenBLAS's idle threads sleep within ~1.6 ms of a product (at most 2^22 ticks), so that a thread of
    ours gets the core they were on."""
    s = spin()
    return s is not None and s <= SHORT_ENOUGH


def shorten_spin(exponent: int = SHORT) -> bool:
    """Set OpenBLAS's spin to 2^``exponent`` ticks, unless the environment sets it; True if it was set.
    OpenBLAS reads the setting when its threads start, so they are stopped here; the next threaded product
    starts them again (as after a ``fork``, where OpenBLAS stops them itself)."""
    global _spin
    lib = _openblas()
    if lib is None or os.environ.get(VARIABLE):
        return False
    os.environ[VARIABLE] = str(exponent)
    try:
        lib.openblas_read_env()
    finally:
        del os.environ[VARIABLE]  # not inherited: a child process decides for itself, as this one did
    lib.blas_thread_shutdown_()
    _spin = None
    return spin() == exponent


_helper: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _forget_helper() -> None:
    """In a forked child: the helper thread did not come along, but its executor, which counts it as idle,
    did; work handed to it would wait forever. The child starts its own on first use."""
    global _helper, _helper_lock
    _helper, _helper_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helper)


def on_two_threads(work: Callable[[int, int], object], n: int) -> list:
    """``[work(0, n // 2), work(n // 2, n)]``, the second on a helper thread (one for the process, asleep
    between calls) while the calling thread does the first; ``[work(0, n)]`` where there is one CPU or
    n < 2. For work that releases the GIL (a numba kernel, small BLAS products that OpenBLAS runs on one
    thread), and only while OpenBLAS's idle threads leave the second core soon after a product
    (``short_spin``): the callers check that."""
    global _helper
    if CPUS < 2 or n < 2:
        return [work(0, n)]
    with _helper_lock:
        if _helper is None:
            _helper = ThreadPoolExecutor(1, thread_name_prefix="autonp-helper")
    other = _helper.submit(work, n // 2, n)
    try:
        mine = work(0, n // 2)
    finally:
        theirs = other.result()
    return [mine, theirs]
