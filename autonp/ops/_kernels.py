"""Plain-NumPy kernels behind the primitives where NumPy's obvious call is slow (each measured;
see the README's performance notes). Arrays in, arrays out: nothing here knows about Tensors."""
from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _blas_threads


def oriented_matmul(x, y):
    """``x @ y``; a narrow 2-D product (a p×q operand with p, q ≥ 128 and p·q ≥ 2¹⁸, few output
    columns: the blog's ``X @ W1`` and ``Xᵀ @ dz1``) as ``(yᵀ @ xᵀ)ᵀ`` where OpenBLAS runs that
    orientation 1.2-1.5x faster: float64 up to 64 columns, float32 up to 16 when ``x`` is a
    transposed view (``python benchmarks/matmul_orientation.py`` measures it). Same dot products."""
    if (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == 2 and y.ndim == 2
            and x.shape[0] >= 128 and x.shape[1] >= 128 and x.shape[0] * x.shape[1] >= 1 << 18
            and ((x.dtype == np.float64 and y.shape[1] <= 64)
                 or (x.dtype == np.float32 and y.shape[1] <= 16 and x.flags.f_contiguous))):
        return np.matmul(y.T, x.T).T
    return np.matmul(x, y)


def long_product(a, b, chunk: int = 2048):
    """``a @ b`` for a (K, L) by (L, F) product with a long inner dimension and a small output (a
    convolution's weight gradient: L = N·H·W positions). OpenBLAS runs it as one narrow product at a
    fraction of its speed, so when K·F ≤ 2048 it is a batch of ``chunk``-long products, summed (one
    call; measured on 9×116,352 by 116,352×16, float32: 1.9 ms -> 0.7 ms, and 3x closer to the float64
    result, from the shorter sums; on the 8->16 convolution's three 25×108,489 by 108,489×16 products,
    whose rows are strided views, chunks of 2048 take the layer's fwd+bwd from 14.9 to 13.2 ms against
    4096). Larger outputs, and compile stand-ins: the plain product."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return np.matmul(a, b)
    (k, n), f = a.shape, b.shape[1]
    m = n // chunk * chunk
    if k * f > 2048 or m == 0:
        return np.matmul(a, b)
    out = np.matmul(a[:, :m].reshape(k, -1, chunk).transpose(1, 0, 2), b[:m].reshape(-1, chunk, f)).sum(axis=0)
    if m < n:
        out += np.matmul(a[:, m:], b[m:])
    return out


def shifted_long_products(a, b, length: int, kh: int, kw: int, step: int, chunk: int | None = None):
    """(kh, kw, K, F): ``out[p, q] = a[:, p·step + q:][:, :length] @ b`` for a (K, ≥ (kh−1)·step + kw−1 + length)
    by (length, F), the products a convolution's weight gradient makes at each kernel offset over the grid.
    All of them in one batched product over strided views of ``a`` (no copies), in ``chunk``-long pieces
    summed as ``long_product`` does; the pieces split with a helper thread where OpenBLAS's threads sleep
    soon (``_blas_threads.short_spin``) and the pieces are small enough (K·F·chunk ≤ 2²⁰) that OpenBLAS runs
    each on one thread; larger ones it threads itself, and a second thread of ours made them slower (25×2048
    by 2048×32 pieces: 9.0 ms on one thread, 9.0 on two; 49×2048 by 2048×32: 3.9 against 14.1). Measured on
    the 8->16 layer's nine 9×116,232 by 116,232×16 float32 products, each after a 512×512 product: 4.9-5.7
    ms one by one, 3.4-3.8 in one call, 2.3-3.7 in two halves on two threads. Pieces of 512 rather than 2048
    (interleaved, median of 21, Intel VM): 8->16 on 28×28 2.19 against 2.69 ms, 4->8 0.93 against 1.09,
    16->32 on 14×14 2.15 against 2.21 (1024 before), 32->32 3.22 against 3.10 (512 either way; 256: 3.10).
    Large outputs and compile stand-ins: ``long_product`` per offset."""
    k, f = a.shape[0], b.shape[1]
    if chunk is None:  # pieces OpenBLAS runs on one thread, where it can
        chunk = 512
        while k * f * chunk > 1 << 20 and chunk > 256:
            chunk //= 2
    n = length // chunk
    if (type(a) is not np.ndarray or type(b) is not np.ndarray or k * f > 2048 or a.dtype != b.dtype
            or a.ndim != 2 or a.strides[1] != a.itemsize or a.shape[1] < (kh - 1) * step + kw - 1 + length):
        return np.stack([np.stack([long_product(a[:, p * step + q:p * step + q + length], b) for q in range(kw)])
                         for p in range(kh)])
    s0, s1 = a.strides
    m = n * chunk
    out = np.matmul(as_strided(a[:, m:], (kh, kw, k, length - m), (step * s1, s1, s0, s1)), b[m:])
    if n:
        views = as_strided(a, (kh, kw, n, k, chunk), (step * s1, s1, chunk * s1, s0, s1))
        pieces = b[:m].reshape(n, chunk, f)

        def summed(i0: int, i1: int) -> np.ndarray:
            return np.matmul(views[:, :, i0:i1], pieces[i0:i1]).sum(axis=2)

        split = n >= 8 and k * f * chunk <= 1 << 20 and _blas_threads.short_spin()
        for part in _blas_threads.on_two_threads(summed, n) if split else [summed(0, n)]:
            out += part
    return out


def narrow_rows(x, axis) -> bool:
    """A 2-D float array reduced along a short last axis (softmax over 10 classes): NumPy's
    reduction is slow there (~50 ns/element), a matmul or a loop over columns is not."""
    return (isinstance(x, np.ndarray) and x.ndim == 2 and axis in (1, -1) and 1 < x.shape[1] <= 32
            and x.dtype.kind == "f")


@functools.lru_cache(maxsize=64)
def ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones, made once per length and dtype (the reductions below use it)."""
    v = np.ones(n, dtype=dtype)
    v.flags.writeable = False
    _internal[id(v)] = v
    return v


_internal: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id -> a constant made by ones()


@functools.lru_cache(maxsize=64)
def ones_row(n: int, dtype) -> np.ndarray:
    """``ones(n, dtype)`` as a (1, n) row (a view of it), made once: a product with it is a (1, F) array."""
    return ones(n, dtype)[None, :]


def internal_constant(a) -> bool:
    """Is ``a`` one of the read-only vectors ``ones`` made (which no Tensor of the user's holds)?"""
    return _internal.get(id(a)) is a


def fast_sum(x, axis=None, keepdims=False):
    """``np.sum``. On a 2-D float32/64 array a sum over rows (axis 0: a bias gradient) or over a
    short last axis is a matrix-vector product with ones: 4-8x faster there than NumPy's reduction,
    which adds rows of a few elements one at a time."""
    if isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype.char in "fd":
        if type(axis) is tuple and len(axis) == 1:
            axis = axis[0]
        if axis in (0, -2) and x.shape[0] > 1:  # (a (1, n) row of ones: the (1, F) sum is an array of its own)
            return (ones_row if keepdims else ones)(x.shape[0], x.dtype) @ x
        if narrow_rows(x, axis):
            s = x @ ones(x.shape[1], x.dtype)
            return s[:, None] if keepdims else s
    return np.sum(x, axis=axis, keepdims=keepdims)


def columnwise(ufunc, x, axis, keepdims):
    """``ufunc.reduce`` (maximum, minimum) over a short last axis as a loop over columns."""
    if not narrow_rows(x, axis):
        return ufunc.reduce(x, axis=axis, keepdims=keepdims)
    m = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        ufunc(m, x[:, j], out=m)
    return m[:, None] if keepdims else m


_SAFE_SUM: dict = {}  # dtype -> smallest row sum of exponentials that keeps full precision
_INF = float("inf")


def exp_rows(x, axis):
    """(x − c, exp(x − c), Σ exp(x − c) along ``axis``) for a softmax. c = 0 when the sums neither
    overflow nor come near the subnormal range (checked on the sums, one value per row): the
    post's own formula, a max and a subtraction cheaper. Otherwise c = the max along ``axis``."""
    if isinstance(x, np.ndarray) and x.dtype.char in "fd":
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowed row is expected here, and checked below:
            e = np.exp(x)                                    # OpenBLAS's vector kernels may also raise 'invalid'
            s = fast_sum(e, axis=axis, keepdims=True)        # on inf (seen once in CI, on padding lanes)
        safe = _SAFE_SUM.get(x.dtype)
        if safe is None:
            fi = np.finfo(x.dtype)
            safe = _SAFE_SUM[x.dtype] = float(fi.tiny) * 2.0 ** (fi.nmant + 8)
        if not x.size or (safe < np.minimum.reduce(s, axis=None) and np.maximum.reduce(s, axis=None) < _INF):
            return x, e, s
    shifted = x - columnwise(np.maximum, x, axis, True)
    e = np.exp(shifted)
    return shifted, e, fast_sum(e, axis=axis, keepdims=True)


def dot_all(a, b):
    """Σ a ⊙ b without the product array when both are plain same-shape float arrays."""
    if isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype and a.dtype.char in "fd":
        return np.vdot(a, b)  # (one BLAS dot over both as vectors; a copy first only where one is not contiguous)
    return np.sum(a * b)


_workspaces = threading.local()


def workspace(tag: str, shape: tuple, dtype) -> np.ndarray:
    """A zero-initialised array kept for this thread and reused by later calls with the same tag, shape and
    dtype (the 16 most recent). For temporaries that never leave the op: a fresh 30 MB array each step
    costs its page faults again (measured: the 8->16 convolution took 40 ms interleaved with other
    work against 20 ms alone). Whatever the caller does not write keeps the value it had: zeros, if the
    caller only ever writes the same region."""
    cache = _workspaces.__dict__.setdefault("arrays", OrderedDict())
    key = (tag, shape, np.dtype(dtype))
    a = cache.get(key)
    if a is None:
        a = cache[key] = np.zeros(shape, dtype)
        if len(cache) > 16:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return a
