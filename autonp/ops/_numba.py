"""Compiled kernels, for the places where plain NumPy measurably cannot keep up (``pip install 'autonp[fast]'``).

Chosen when numba is installed and the environment variable ``AUTONP_NUMBA`` is not ``0``; compiled at
first use. The NumPy code each one replaces stays: it is the default install's path, and the tests compare
the two.
Each kernel is compiled once per machine (``cache=True``), does the NumPy path's arithmetic in its order
(no ``fastmath``), and runs on the calling thread: with ``parallel=True`` numba's threads fought OpenBLAS's,
which keep spinning after a product (the CNN step measured 59-65 ms against 40-55 ms single-threaded).

Measured before each went in (``python benchmarks/kernels.py`` times each kernel against the NumPy code it
replaces): max-pool's backward over 2×2 tiling windows (a CNN's pools), one pass with the four comparisons
of a window together instead of a comparison, a count and a write per window offset: 2.6-3.0x faster;
its forward, one pass instead of three strided maxima: 2.1-2.8x; ReLU's backward, g · (x > 0) in one
pass without the mask array: 2.1-2.7x.
Tried and left out, because NumPy with OpenBLAS was as fast or faster: col2im (the kh·kw contiguous additions of the
convolution's backward; numba 1.5x slower, and one pass over the kh·kw streams level with NumPy, 1.51 vs
1.48 ms: memory-bound either way), direct convolution loops, NCHW and channels-last (1.5-2x
slower than the one product on the padded grid), and a max-pool kernel for any window (0.8x NumPy on one
thread; 1.9x on two, but then its threads fought OpenBLAS's and the whole CNN step got slower), and a one-pass
Adam update (0.54-0.61 vs 0.44-0.49 ms: its float64 division per element is slower than NumPy's passes).
Also left out: a direct 3×3 correlation for the convolution's forward and input gradient (four output
channels per pass over nine shifted reads, vectorised across grid positions; ~85% of one core's
multiply-add rate), its images split with a helper thread, and the weight gradient as BLAS products per
kernel offset on the two threads. The 8->16 layer's forward and backward took 9.1-10.4 ms against the
BLAS path's 12.9-14.8 ms when run back to back, but right after another OpenBLAS product (whose worker
spins ~0.1 s, as in any training step) 15.2-20.2 against 13.9-18.6 ms: the helper thread shares a core
with that spinning worker. In ``benchmarks/run.py --only conv`` its variants measured 1.76-2.27x PyTorch
against 2.03-2.29x for the BLAS path. ``python benchmarks/kernels.py`` repeats the forward's part of this.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

# numba is imported at the first call that needs a kernel, not with autonp: importing it takes ~0.3 s and
# triples the objects on Python's heap, which every cyclic GC collection then walks
ENABLED = os.environ.get("AUTONP_NUMBA", "1") != "0" and importlib.util.find_spec("numba") is not None
_compiled: dict = {}


def _kernel(python_function):
    """``python_function`` compiled by numba (once per process; ``cache=True``: once per machine), or None if
    numba fails to import."""
    global ENABLED
    kernel = _compiled.get(python_function)
    if kernel is None:
        try:
            import numba
        except ImportError:  # found but broken: the NumPy path, from now on
            ENABLED = False
            return None
        kernel = _compiled[python_function] = numba.njit(cache=True)(python_function)
    return kernel


def _max_pool_2x2_backward(x, ans, g, counts, gx):  # counts[k] = k in x's dtype: g / k in that dtype
    n_, c_, ho, wo = ans.shape
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                r0, r1 = x[n, c, 2 * i], x[n, c, 2 * i + 1]
                o0, o1 = gx[n, c, 2 * i], gx[n, c, 2 * i + 1]
                top, gi = ans[n, c, i], g[n, c, i]
                for j in range(wo):
                    m = top[j]
                    h0, h1 = r0[2 * j] == m, r0[2 * j + 1] == m
                    h2, h3 = r1[2 * j] == m, r1[2 * j + 1] == m
                    share = gi[j] / counts[h0 + h1 + h2 + h3]
                    o0[2 * j], o0[2 * j + 1] = share * h0, share * h1
                    o1[2 * j], o1[2 * j + 1] = share * h2, share * h3


def _max_pool_2x2(x, out):
    n_, c_, ho, wo = out.shape
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                r0, r1, o = x[n, c, 2 * i], x[n, c, 2 * i + 1], out[n, c, i]
                for j in range(wo):  # NumPy's order, ((a ∨ b) ∨ c) ∨ d, and its rules: a NaN wins, a tie
                    m = r0[2 * j]     # takes the later value (+0 after −0)
                    for v in (r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]):
                        if v >= m or v != v:
                            m = v
                    o[j] = m


def _relu_backward(g, x, out):  # g · (x > 0), as NumPy computes it: a NaN or −0 in g stays what it was
    for i in range(g.size):
        out[i] = g[i] * (x[i] > 0)


def _applies(*arrays) -> bool:
    """The kernels are on and the arrays are plain float32 or float64 arrays of one dtype (any layout: a
    convolution's input gradient, say, arrives as a transposed view)."""
    first = arrays[0]
    return ENABLED and all(type(a) is np.ndarray and a.dtype == first.dtype for a in arrays) \
        and first.dtype.char in "fd"


def _tiles_2x2(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> bool:
    """``x`` is NCHW and 2×2 windows at stride 2 tile it (even height and width)."""
    return (x.ndim == 4 and tuple(kernel) == (2, 2) and tuple(stride) == (2, 2) and x.shape[2] % 2 == 0
            and x.shape[3] % 2 == 0)


def max_pool_2x2(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray | None:
    """The max of each 2×2 window that tiles ``x`` (NCHW, stride 2, even height and width), in one pass;
    ``None`` when the kernel is off or does not apply."""
    if not (_applies(x) and _tiles_2x2(x, kernel, stride)):
        return None
    kernel_ = _kernel(_max_pool_2x2)
    if kernel_ is None:
        return None
    out = np.empty(x.shape[:2] + (x.shape[2] // 2, x.shape[3] // 2), x.dtype)
    kernel_(x, out)
    return out


def relu_backward(g: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """``g · (x > 0)`` in one pass, without the mask array; ``None`` when the kernel is off or does not apply."""
    if (not _applies(g, x) or g.shape != x.shape or g.size < 1 << 16 or not g.flags.c_contiguous
            or not x.flags.c_contiguous):  # the kernel reads both as flat vectors
        return None
    kernel = _kernel(_relu_backward)
    if kernel is None:
        return None
    out = np.empty_like(g)
    kernel(g.reshape(-1), x.reshape(-1), out.reshape(-1))
    return out


def max_pool_backward(x: np.ndarray, ans: np.ndarray, g: np.ndarray, kernel: tuple[int, int],
                      stride: tuple[int, int]) -> np.ndarray | None:
    """Max-pool's gradient for 2×2 windows that tile ``x`` (stride 2, even height and width), ties sharing
    it equally; ``None`` when the kernel is off or does not apply (the caller's NumPy path runs)."""
    if not (_applies(x, ans, g) and _tiles_2x2(x, kernel, stride)):
        return None
    kernel = _kernel(_max_pool_2x2_backward)
    if kernel is None:
        return None
    gx = np.empty_like(x)
    kernel(x, ans, g, np.arange(5, dtype=x.dtype), gx)
    return gx
