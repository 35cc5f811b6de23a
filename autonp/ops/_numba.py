"""Compiled kernels, for the places where plain NumPy measurably cannot keep up (``pip install 'autonp[fast]'``).

Chosen at import when numba is installed and the environment variable ``AUTONP_NUMBA`` is not ``0``. The
NumPy code each one replaces stays: it is the default install's path, and the tests compare the two.
Each kernel is compiled once per machine (``cache=True``), does the NumPy path's arithmetic in its order
(no ``fastmath``), and runs its outer loop on numba's threads over independent rows only (OpenBLAS's
threads are idle meanwhile: no product runs inside a kernel).

Measured before each went in (``python benchmarks/kernels.py`` times each kernel against the NumPy code it
replaces): max-pool's backward over tiling windows (a CNN's 2×2 pools), one pass instead of a comparison,
a count and a write per window offset: 1.8-1.9x faster. Tried and left out, because NumPy with OpenBLAS was
faster: col2im (the kh·kw contiguous additions of the convolution's backward; numba 1.5x slower) and
direct convolution loops, NCHW and channels-last (1.5-2x slower than the one product on the padded grid).
"""
from __future__ import annotations

import os

import numpy as np

ENABLED = False
if os.environ.get("AUTONP_NUMBA", "1") != "0":
    try:
        import numba
        ENABLED = True
    except ImportError:  # the default install: NumPy only
        pass

if ENABLED:
    @numba.njit(cache=True, parallel=True)
    def _max_pool_backward(x, ans, g, kh, kw, counts, gx):  # counts[k] = k in x's dtype: g / k in that dtype
        n_, c_, ho, wo = ans.shape
        for nc in numba.prange(n_ * c_):
            n = nc // c_
            c = nc % c_
            for i in range(ho):
                for j in range(wo):
                    top = ans[n, c, i, j]
                    count = 0
                    for p in range(kh):
                        for q in range(kw):
                            if x[n, c, i * kh + p, j * kw + q] == top:
                                count += 1
                    share = g[n, c, i, j] / counts[count]
                    for p in range(kh):
                        for q in range(kw):
                            gx[n, c, i * kh + p, j * kw + q] = share if x[n, c, i * kh + p, j * kw + q] == top \
                                else 0


def max_pool_backward(x: np.ndarray, ans: np.ndarray, g: np.ndarray, kernel: tuple[int, int]) -> np.ndarray | None:
    """Max-pool's gradient for windows that tile ``x`` (stride = kernel, the shape a multiple of it), ties
    sharing it equally; ``None`` when the kernel is off or does not apply (the caller's NumPy path runs)."""
    kh, kw = kernel
    if (not ENABLED or x.ndim != 4 or x.dtype.char not in "fd" or g.dtype != x.dtype or ans.dtype != x.dtype
            or x.shape[2] % kh or x.shape[3] % kw):
        return None
    gx = np.empty_like(x)
    _max_pool_backward(x, ans, g, kh, kw, np.arange(kh * kw + 1, dtype=x.dtype), gx)
    return gx
