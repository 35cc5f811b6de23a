"""NumPy's own BLAS, called for the one product ``np.matmul`` cannot express: ``out += a @ b`` written straight
into a strided view (BLAS's ``beta = 1``), with no temporary for the product and no second pass to add it.

A convolution on the padded grid (``conv.py``) is a sum of products, one per kernel offset, each into a
shifted view of the same output. With ``np.matmul`` every one of them is a fresh array and an addition.

The library is the OpenBLAS that NumPy's wheels bundle and that ``np.matmul`` itself calls (same threads,
same kernels). It is found next to NumPy and checked against ``np.matmul`` on first use. Where it is not
there (NumPy built against another BLAS), where ``AUTONP_BLAS=0``, and for anything but aligned native
float32/float64 arrays (a compile stand-in, mixed dtypes, overlapping memory), :func:`gemm` does the same
with NumPy calls.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

ENABLED = os.environ.get("AUTONP_BLAS", "1") != "0"
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SYMBOLS = (  # (single, double, the integer type): how each packaging of NumPy names CBLAS's gemm
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", ctypes.c_int64),  # NumPy ≥ 2.0 wheels (scipy-openblas64)
    ("cblas_sgemm64_", "cblas_dgemm64_", ctypes.c_int64),              # NumPy 1.22-1.26 wheels (openblas64_)
    ("scipy_cblas_sgemm", "scipy_cblas_dgemm", ctypes.c_int),          # 32-bit integer builds
    ("cblas_sgemm", "cblas_dgemm", ctypes.c_int),
)
_kernels: dict | None = None


def _bundled_libraries() -> list[str]:
    """The BLAS libraries NumPy's wheel ships beside it (Linux, macOS, Windows layouts)."""
    here = os.path.dirname(np.__file__)
    found: list[str] = []
    for pattern in ("*openblas*.so*", "*openblas*.dylib", "*openblas*.dll"):
        for d in (os.path.join(os.path.dirname(here), "numpy.libs"), os.path.join(here, ".dylibs"), here):
            found += glob.glob(os.path.join(d, pattern))
    return found


def _load() -> dict:
    """{dtype: the CBLAS gemm for it}, or {} when no library passes the check against np.matmul."""
    for path in _bundled_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for single, double, integer in _SYMBOLS:
            fns = {}
            for dtype, name, scalar in ((np.dtype(np.float32), single, ctypes.c_float),
                                        (np.dtype(np.float64), double, ctypes.c_double)):
                fn = getattr(lib, name, None)
                if fn is None:
                    break
                fn.argtypes = [ctypes.c_int] * 3 + [integer] * 3 + [scalar, ctypes.c_void_p, integer,
                                                                      ctypes.c_void_p, integer, scalar,
                                                                      ctypes.c_void_p, integer]
                fn.restype = None
                fns[dtype] = fn
            if len(fns) == 2 and _agrees(fns):
                return fns
    return {}


def _agrees(fns: dict) -> bool:
    """The library's products equal np.matmul's: into a strided view, over it and added to it, with a
    strided and a transposed operand, and nothing written outside the view."""
    def values(*shape):  # not np.random: this can run inside a compile trace, which records its draws
        return np.sin(np.arange(1.0, 1.0 + np.prod(shape))).reshape(shape)

    for dtype, rtol in ((np.float32, 1e-5), (np.float64, 1e-13)):
        a = values(7, 9).astype(dtype)
        b = values(9, 5).astype(dtype)[:, 1:4]  # rows 5 apart
        c = values(3, 9).astype(dtype).T        # column-major
        out = np.full((7, 6), 0.5, dtype)
        try:
            _call(fns, out[:, 1:4], a, b, 0.0)
            _call(fns, out[:, 1:4], a, c, 1.0)
        except (ctypes.ArgumentError, ValueError):
            return False
        if not np.allclose(out[:, 1:4], a @ b + a @ c, rtol=rtol, atol=rtol) or (out[:, [0, 4, 5]] != 0.5).any():
            return False
    return True


def _layout(a: np.ndarray) -> tuple[int, int] | None:
    """(CBLAS transpose flag, leading dimension) of a 2-D array stored row- or column-major with any
    row (or column) stride, or None. A dimension of length one has no meaningful stride: its leading
    dimension is the smallest BLAS accepts."""
    (m, n), (s0, s1), size = a.shape, a.strides, a.itemsize
    if (s1 == size or n == 1) and s0 % size == 0 and (m == 1 or s0 >= n * size):
        return _NO_TRANS, (s0 // size if m > 1 else max(n, 1))
    if (s0 == size or m == 1) and s1 % size == 0 and (n == 1 or s1 >= m * size):
        return _TRANS, (s1 // size if n > 1 else max(m, 1))
    return None


def _call(fns: dict, out: np.ndarray, a: np.ndarray, b: np.ndarray, beta: float) -> None:
    ta, tb, tc = _layout(a), _layout(b), _layout(out)
    if ta is None or tb is None or tc is None or tc[0] != _NO_TRANS:
        raise ValueError("gemm: an operand is not a strided matrix BLAS can read")
    (m, k), n = a.shape, b.shape[1]
    fns[out.dtype](_ROW_MAJOR, ta[0], tb[0], m, n, k, 1.0, a.ctypes.data, ta[1], b.ctypes.data, tb[1], beta,
                   out.ctypes.data, tc[1])


def _blas_can(out, a, b) -> bool:
    global _kernels
    if type(out) is not np.ndarray or type(a) is not np.ndarray or type(b) is not np.ndarray:
        return False
    dtype = out.dtype
    if a.dtype != dtype or b.dtype != dtype or dtype.type not in (np.float32, np.float64) or not dtype.isnative:
        return False
    if out.ndim != 2 or a.ndim != 2 or b.ndim != 2 or not (out.size and a.size and b.size):
        return False
    if not (out.flags.writeable and out.flags.aligned and a.flags.aligned and b.flags.aligned):
        return False
    if np.may_share_memory(out, a) or np.may_share_memory(out, b):
        return False
    if _kernels is None:
        _kernels = _load()
    return bool(_kernels) and _layout(out) is not None and _layout(out)[0] == _NO_TRANS \
        and _layout(a) is not None and _layout(b) is not None


def gemm(a, b, *, out, accumulate: bool = False) -> None:
    """``out[...] = a @ b``, or ``out += a @ b``: ``out`` (m, n) may be a strided view (rows apart by any
    stride), ``a`` (m, k) and ``b`` (k, n) strided or transposed views. One BLAS call where it can be;
    otherwise NumPy's, with the same result. A compile stand-in among the arguments takes the call as it
    takes NumPy's functions (``__array_function__``), so a compiled replay makes the same call."""
    if a.shape[1] != b.shape[0] or out.shape != (a.shape[0], b.shape[1]):
        raise ValueError(f"gemm: cannot write a {a.shape} @ {b.shape} product into {out.shape}")
    if ENABLED and _blas_can(out, a, b):
        _call(_kernels, out, a, b, 1.0 if accumulate else 0.0)
        return
    others = [x for x in (out, a, b) if not issubclass(type(x), np.ndarray) and hasattr(type(x), "__array_function__")]
    if others:
        types = tuple({type(x): None for x in others})
        for x in others:
            done = type(x).__array_function__(x, gemm, types, (a, b), {"out": out, "accumulate": accumulate})
            if done is not NotImplemented:
                return
        raise TypeError(f"gemm: no implementation for arguments of types {[t.__name__ for t in types]}")
    if accumulate:
        out += np.matmul(a, b)
    else:
        np.matmul(a, b, out=out)


def subtract_scaled_product(c, a, b, *, out) -> None:
    """``out -= c · (a @ b)``: a parameter's SGD step from the product its gradient is, as one BLAS call
    (alpha = −c, beta = 1) with no gradient array, no scaled copy and no third pass over ``out``. Written by
    ``anp.compile`` where the traced step computed exactly that and used the product for nothing else.
    Where BLAS cannot take the arrays: ``out -= c * (a @ b)``, the traced calls themselves."""
    if ENABLED and isinstance(c, (float, int, np.floating)) and _blas_can(out, a, b) \
            and out.shape == (a.shape[0], b.shape[1]) and a.shape[1] == b.shape[0]:
        ta, tb, tc = _layout(a), _layout(b), _layout(out)
        (m, k), n = a.shape, b.shape[1]
        _kernels[out.dtype](_ROW_MAJOR, ta[0], tb[0], m, n, k, -float(c), a.ctypes.data, ta[1], b.ctypes.data,
                            tb[1], 1.0, out.ctypes.data, tc[1])
    else:
        out -= c * np.matmul(a, b)
