"""Compiled kernels, for the places where plain NumPy measurably cannot keep up (``pip install 'autonp[fast]'``).

Chosen when numba is installed and the environment variable ``AUTONP_NUMBA`` is not ``0``; compiled at
first use. The NumPy code each one replaces stays: it is the default install's path, and the tests compare
the two.
Each kernel is compiled once per machine (``cache=True``), does the NumPy path's arithmetic in its order
(no ``fastmath``; the convolution's sums use fused multiply-adds, see below), and runs on the calling thread
(the convolution's: see below): with ``parallel=True``
numba's threads fought OpenBLAS's, which keep spinning after a product (the CNN step measured 59-65 ms
against 40-55 ms single-threaded).

Measured before each went in (``python benchmarks/kernels.py`` times each kernel against the NumPy code it
replaces): max-pool's backward over 2×2 tiling windows (a CNN's pools), one pass with the four comparisons
of a window together instead of a comparison, a count and a write per window offset: 2.6-3.0x faster;
its forward, one pass instead of three strided maxima: 2.1-2.8x; ReLU's backward, g · (x > 0) in one
pass without the mask array: 2.1-2.7x.
Tried and left out, because NumPy with OpenBLAS was as fast or faster: the weight gradient (without
``fastmath`` no sum stays in a register: 20 GFLOP/s on one core at best, against OpenBLAS's 30-40), col2im
(the kh·kw contiguous additions of the convolution's backward; numba 1.5x slower, and one pass over the kh·kw
streams level with NumPy, 1.51 vs 1.48 ms: memory-bound either way), direct convolution loops, NCHW and
channels-last (1.5-2x slower than the one product on the padded grid), and a max-pool kernel for any window
(0.8x NumPy on one thread; 1.9x on two, but then its threads fought OpenBLAS's and the whole CNN step got
slower), and a one-pass Adam update (0.54-0.61 vs 0.44-0.49 ms: its float64 division per element is slower
than NumPy's passes).
The 3×3 convolution's forward and input gradient (``correlate_3x3``: four output channels per pass over
nine shifted reads of an input channel, vectorised across grid positions; each position's nine products
summed in order with fused multiply-adds where the CPU has them (``_fma``, LLVM's fmuladd), which was 10-15%
faster than a multiply and an add each, with the float32 error against float64 a little lower, 1.18e-7
against 1.23e-7 of the largest output, on the 8->16 layer; 66-69 GFLOP/s on one core of the Intel VM, whose
OpenBLAS sgemm reaches 164) run on two threads: the images are split with a helper thread that sleeps
between calls (``_blas_threads.on_two_threads``, which the weight gradient's products share). That only
pays while OpenBLAS's idle threads leave the second core soon after a product (``_blas_threads``, which
autonp arranges at import): with OpenBLAS's default 0.1 s spin, the 8->16 layer's forward and backward,
right after a product as in any training step, took 15.2-20.2 ms against the BLAS path's 13.9-18.6; with
the spin at 2^20 ticks, 11.1 against 14.5-16.4 ms (in process, interleaved), and 1.47x PyTorch in
``benchmarks/run.py --only conv`` against 2.01-2.35x for the BLAS path. Where OpenBLAS spins long (the
user's ``OPENBLAS_THREAD_TIMEOUT`` above 22, or another BLAS), the BLAS path runs.
Its rows are copied element by element (onto the grid, and out of the pass's buffer): numba's slice
assignments there took 40% of the kernel (8->16 forward on one core, 128×28×28: 5.5-5.8 ms with them, 4.3
as loops, 3.1 with no copies at all). Tried on it and left out, each level or slower: 512-bit vectors
(LLVM's ``-prefer-256-bit``, which numba can set only process-wide), the nine products summed as two or
three shorter chains or accumulated straight into the output (shorter dependency chains), and the last
input channel's pass writing the output directly instead of the buffer (1.6x slower: rows of 28 vectorise
badly).
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

from . import _blas_threads

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
        global _fma
        if _fma is None:
            _fma = _define_fma()
        kernel = _compiled[python_function] = numba.njit(cache=True, nogil=True)(python_function)
    return kernel


_fma = None  # a·b + c, compiled: set at numba's import (``_define_fma``); the kernels call it


def _define_fma():
    """LLVM's ``fmuladd`` as a numba function of three floats of one type: a·b + c, computed with one
    rounding where the CPU has fused multiply-adds and as a product and a sum where it has not (it is
    never a library call). Not fastmath: LLVM fuses nothing else, and each sum stays in the order written."""
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def fmuladd(typingctx, a, b, c):
        if not (isinstance(a, types.Float) and a == b == c):
            return None

        def codegen(context, builder, signature, args):
            ty = args[0].type
            name = "llvm.fmuladd.f32" if ty == ir.FloatType() else "llvm.fmuladd.f64"
            return builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty] * 3), name),
                                args)
        return a(a, b, c), codegen
    return fmuladd


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
                    if m == m:
                        h0, h1 = r0[2 * j] == m, r0[2 * j + 1] == m
                        h2, h3 = r1[2 * j] == m, r1[2 * j + 1] == m
                    else:  # a NaN won the window: its NaNs take the gradient
                        h0, h1 = r0[2 * j] != r0[2 * j], r0[2 * j + 1] != r0[2 * j + 1]
                        h2, h3 = r1[2 * j] != r1[2 * j], r1[2 * j + 1] != r1[2 * j + 1]
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
    """The kernels are on and the arrays are plain float32 or float64 arrays of one dtype in the machine's
    byte order (any layout: a convolution's input gradient, say, arrives as a transposed view; numba cannot
    type a byte-swapped array)."""
    first = arrays[0]
    return ENABLED and all(type(a) is np.ndarray and a.dtype == first.dtype for a in arrays) \
        and first.dtype.char in "fd" and first.dtype.isnative


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


# ReLU gradients from this many elements take the kernel (importing numba on the first: ~0.3 s, once). Measured,
# float32, NumPy's g · (x > 0) against the kernel with its output array: 16,384 elements 7.1 against 3.3 µs,
# 32,768 (an MLP's 128×256 layer) 14.1 against 5.7, 65,536 28.1 against 11.4
RELU_KERNEL_MIN = 1 << 15


def relu_backward(g: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """``g · (x > 0)`` in one pass, without the mask array; ``None`` when the kernel is off or does not apply."""
    if (g.size < RELU_KERNEL_MIN or not _applies(g, x) or g.shape != x.shape or not g.flags.c_contiguous
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


def _correlate_3x3(images, top, left, src, w9, bias, offsets, wp, block, out, n0, n1):
    """For images [n0, n1): image n of ``images`` (N, K, rows, cols) placed on the grid ``src`` (K, …) at (top,
    left) of its block, then out[n, f] = bias[f] + Σ_k Σ_o w9[f, k, o] · src[k, n·block + offsets[o] +
    position]: four output channels per pass over nine shifted reads of an input channel, vectorised
    across the grid's positions (each position's sum in the same order; no fastmath). An image's windows
    read no other image's values (the margins between blocks are zeros that nothing writes). w9 and bias
    have their channels padded with zeros to a multiple of four; only out's channels are written."""
    f_all, k_all, ho, wo = out.shape[1], src.shape[0], out.shape[2], out.shape[3]
    rows, cols = images.shape[2], images.shape[3]
    m = (ho - 1) * wp + wo
    buf = np.empty((4, m), out.dtype)
    for n in range(n0, n1):
        s0 = n * block
        for k in range(k_all):
            for i in range(rows):
                to, row = src[k, s0 + (top + i) * wp + left:], images[n, k, i]
                for j in range(cols):  # element by element: a slice assignment here cost 4x as much
                    to[j] = row[j]
        for f in range(0, w9.shape[0], 4):
            o0, o1, o2, o3 = buf[0], buf[1], buf[2], buf[3]
            o0[:], o1[:], o2[:], o3[:] = bias[f], bias[f + 1], bias[f + 2], bias[f + 3]
            for k in range(k_all):
                xs = src[k]
                y0, y1, y2 = xs[s0 + offsets[0]:], xs[s0 + offsets[1]:], xs[s0 + offsets[2]:]
                y3, y4, y5 = xs[s0 + offsets[3]:], xs[s0 + offsets[4]:], xs[s0 + offsets[5]:]
                y6, y7, y8 = xs[s0 + offsets[6]:], xs[s0 + offsets[7]:], xs[s0 + offsets[8]:]
                a, b, c, d = w9[f, k], w9[f + 1, k], w9[f + 2, k], w9[f + 3, k]
                a0, a1, a2, a3, a4, a5, a6, a7, a8 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]
                b0, b1, b2, b3, b4, b5, b6, b7, b8 = b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]
                c0, c1, c2, c3, c4, c5, c6, c7, c8 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
                d0, d1, d2, d3, d4, d5, d6, d7, d8 = d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8]
                for i in range(m):  # the weights in locals: read from w9 here, stores to o0 could alias them
                    x0, x1, x2, x3, x4 = y0[i], y1[i], y2[i], y3[i], y4[i]
                    x5, x6, x7, x8 = y5[i], y6[i], y7[i], y8[i]
                    o0[i] += _fma(a8, x8, _fma(a7, x7, _fma(a6, x6, _fma(a5, x5, _fma(a4, x4, _fma(a3, x3, _fma(
                        a2, x2, _fma(a1, x1, a0 * x0))))))))
                    o1[i] += _fma(b8, x8, _fma(b7, x7, _fma(b6, x6, _fma(b5, x5, _fma(b4, x4, _fma(b3, x3, _fma(
                        b2, x2, _fma(b1, x1, b0 * x0))))))))
                    o2[i] += _fma(c8, x8, _fma(c7, x7, _fma(c6, x6, _fma(c5, x5, _fma(c4, x4, _fma(c3, x3, _fma(
                        c2, x2, _fma(c1, x1, c0 * x0))))))))
                    o3[i] += _fma(d8, x8, _fma(d7, x7, _fma(d6, x6, _fma(d5, x5, _fma(d4, x4, _fma(d3, x3, _fma(
                        d2, x2, _fma(d1, x1, d0 * x0))))))))
            for r in range(min(4, f_all - f)):
                for i in range(ho):
                    to, row = out[n, f + r, i], buf[r, i * wp:]
                    for j in range(wo):
                        to[j] = row[j]


def correlates(*arrays, kernel: tuple[int, int], channels: int) -> bool:
    """The compiled 3×3 correlation applies: the kernels are on, the arrays are plain float arrays of one
    dtype, the kernel is 3×3, it makes at least 4 output ``channels`` (it makes them four at a time: for
    one, the BLAS path measured faster), and OpenBLAS's idle threads sleep soon after a product
    (``_blas_threads.short_spin``; otherwise its spinning worker takes the core the helper thread needs,
    and the BLAS path is faster)."""
    return tuple(kernel) == (3, 3) and channels >= 4 and _applies(*arrays) and _blas_threads.short_spin()


def correlate_3x3(a: np.ndarray, top: int, left: int, flat: np.ndarray, weights: np.ndarray,
                  bias: np.ndarray | None, wp: int, block: int, out_shape: tuple) -> np.ndarray | None:
    """out[n, f, i, j] = bias[f] + Σ_{k,p,q} weights[f, k, p, q] · flat[k, n·block + (i+p)·wp + j + q], where
    ``flat`` is a zero grid (``conv._grid``) onto which ``a`` (N, K, rows, cols) is placed at (top, left)
    of each block first, image by image: a 3×3 correlation on two threads; None if numba fails to import."""
    kernel = _kernel(_correlate_3x3)
    if kernel is None:
        return None
    f, k = weights.shape[:2]
    padded = -(-f // 4) * 4
    w9 = np.zeros((padded, k, 9), flat.dtype)
    w9[:f] = weights.reshape(f, k, 9)
    b = np.zeros(padded, flat.dtype)
    if bias is not None:
        b[:f] = bias
    offsets = np.array([p * wp + q for p in range(3) for q in range(3)], np.int64)
    out = np.empty(out_shape, flat.dtype)
    _blas_threads.on_two_threads(functools.partial(kernel, a, top, left, flat, w9, b, offsets, wp, block, out),
                                 out_shape[0])
    return out
