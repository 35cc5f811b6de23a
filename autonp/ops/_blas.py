"""NumPy's own BLAS, called for what NumPy's functions cannot say: a product added straight into a strided
view (``out += a @ b``, BLAS's beta = 1), and a scaled array subtracted in one pass (``w -= c·d``, axpy).

- A convolution on the padded grid (``conv.py``) is a sum of products, one per kernel offset, each into a
  shifted view of the same output; with ``np.matmul`` each would be a fresh array and an addition.
- An SGD step ``w -= lr·g`` is, in NumPy, a scaled copy of g and a second pass; axpy reads g and w once.
  (``anp.compile`` goes further where g is a product nothing else reads: ``subtract_scaled_product``.)

The library is the OpenBLAS that NumPy's wheels bundle and that ``np.matmul`` itself calls (same threads,
same kernels), found next to NumPy and checked against NumPy on first use. Where it is not there (NumPy
built against another BLAS), where ``AUTONP_BLAS=0``, and for anything but aligned native float32/float64
arrays that share no memory, each function does the same with NumPy calls. A compile stand-in among the
arguments takes the call as it takes NumPy's functions (``__array_function__``), so a replay makes it too.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

ENABLED = os.environ.get("AUTONP_BLAS", "1") != "0"
AXPY_MIN = 1 << 14  # elements: below this a NumPy pass is quicker than a foreign call (measured: 256×256)
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_NAMES = (  # how each packaging of NumPy names CBLAS's functions: (prefix, suffix, integer type)
    ("scipy_cblas_", "64_", ctypes.c_int64),  # NumPy ≥ 2.0 wheels (scipy-openblas64)
    ("cblas_", "64_", ctypes.c_int64),        # NumPy 1.22-1.26 wheels (openblas64_)
    ("scipy_cblas_", "", ctypes.c_int),       # 32-bit integer builds
    ("cblas_", "", ctypes.c_int),
)
_kernels: dict | None = None  # (name, dtype) -> function; {} when no library was found


def _bundled_libraries() -> list[str]:
    """The BLAS libraries NumPy's wheel ships beside it (Linux, macOS, Windows layouts)."""
    here = os.path.dirname(np.__file__)
    found: list[str] = []
    for pattern in ("*openblas*.so*", "*openblas*.dylib", "*openblas*.dll"):
        for d in (os.path.join(os.path.dirname(here), "numpy.libs"), os.path.join(here, ".dylibs"), here):
            found += glob.glob(os.path.join(d, pattern))
    return found


def _bind(lib, prefix: str, suffix: str, integer) -> dict:
    """{(name, dtype): function} for gemm and axpy under one naming scheme, or {} if the library lacks them."""
    fns = {}
    for dtype, letter, real in (("float32", "s", ctypes.c_float), ("float64", "d", ctypes.c_double)):
        dtype = np.dtype(dtype)
        gemm = getattr(lib, f"{prefix}{letter}gemm{suffix}", None)
        axpy = getattr(lib, f"{prefix}{letter}axpy{suffix}", None)
        if gemm is None or axpy is None:
            return {}
        gemm.argtypes = [ctypes.c_int] * 3 + [integer] * 3 + [real, ctypes.c_void_p, integer, ctypes.c_void_p, integer,
                                                              real, ctypes.c_void_p, integer]
        axpy.argtypes = [integer, real, ctypes.c_void_p, integer, ctypes.c_void_p, integer]
        gemm.restype = axpy.restype = None
        fns["gemm", dtype], fns["axpy", dtype] = gemm, axpy
    return fns


def opened_libraries():
    """Each of ``_bundled_libraries`` that loads, as a ``ctypes.CDLL``."""
    for path in _bundled_libraries():
        try:
            yield ctypes.CDLL(path)
        except OSError:
            continue


def _load() -> dict:
    """The library's functions, or {} when none passes the check against NumPy."""
    for lib in opened_libraries():
        for names in _NAMES:
            fns = _bind(lib, *names)
            if fns and _agrees(fns):
                return fns
    return {}


def _agrees(fns: dict) -> bool:
    """The library's results equal NumPy's: products into a strided view, over it and added to it, with a
    strided and a transposed operand, nothing written outside the view; and axpy."""
    def values(*shape):  # not np.random: this can run inside a compile trace, which records its draws
        return np.sin(np.arange(1.0, 1.0 + np.prod(shape))).reshape(shape)

    for dtype, rtol in ((np.float32, 1e-5), (np.float64, 1e-13)):
        a = values(7, 9).astype(dtype)
        b = values(9, 5).astype(dtype)[:, 1:4]  # rows 5 apart
        c = values(3, 9).astype(dtype).T        # column-major
        out = np.full((7, 6), 0.5, dtype)
        w, d = values(5, 3).astype(dtype), values(5, 3).astype(dtype) ** 2
        try:
            _gemm(fns, out[:, 1:4], a, b, 1.0, 0.0, _matrices(out[:, 1:4], a, b))
            _gemm(fns, out[:, 1:4], a, c, 1.0, 1.0, _matrices(out[:, 1:4], a, c))
            fns["axpy", w.dtype](w.size, -0.25, d.ctypes.data, 1, w.ctypes.data, 1)
        except (ctypes.ArgumentError, ValueError):
            return False
        if not np.allclose(out[:, 1:4], a @ b + a @ c, rtol=rtol, atol=rtol) or (out[:, [0, 4, 5]] != 0.5).any() \
                or not np.allclose(w, values(5, 3) - 0.25 * values(5, 3) ** 2, rtol=rtol, atol=rtol):
            return False
    return True


def _ready() -> bool:
    global _kernels
    if _kernels is None:
        _kernels = _load()
    return bool(_kernels)


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


def _plain(*arrays) -> bool:
    """Arrays BLAS can take as they are: ndarrays (no subclass, no stand-in) of one native float dtype,
    aligned, non-empty, the first (the output) writeable and sharing no memory with the others."""
    out = arrays[0]
    if any(type(x) is not np.ndarray for x in arrays):
        return False
    dtype = out.dtype
    if dtype.type not in (np.float32, np.float64) or not dtype.isnative or any(x.dtype != dtype for x in arrays):
        return False
    if not out.flags.writeable or not all(x.flags.aligned and x.size for x in arrays):
        return False
    return not any(np.may_share_memory(out, x) for x in arrays[1:]) and _ready()


def _matrices(out, a, b) -> tuple | None:
    """The layouts (``_layout``) of ``out``, ``a`` and ``b`` as the matrices of a gemm, the output row-major;
    None if BLAS cannot read one of them so."""
    layouts = _layout(out), _layout(a), _layout(b)
    return None if None in layouts or layouts[0][0] != _NO_TRANS else layouts


def _blas_can(out, a, b) -> tuple | None:
    """gemm can write ``a @ b`` into ``out``: their layouts (``_matrices``), else None."""
    if not (_plain(out, a, b) and out.ndim == a.ndim == b.ndim == 2):
        return None
    return _matrices(out, a, b)


def _gemm(fns: dict, out: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float, beta: float,
          layouts: tuple | None) -> None:
    """out ← alpha·(a @ b) + beta·out, each operand read as its layout in ``layouts`` (``_matrices``)."""
    if layouts is None:
        raise ValueError("gemm: an operand is not a strided matrix BLAS can read")
    (_, ldc), (ta, lda), (tb, ldb) = layouts
    (m, k), n = a.shape, b.shape[1]
    fns["gemm", out.dtype](_ROW_MAJOR, ta, tb, m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb, beta,
                           out.ctypes.data, ldc)


_PLAIN = frozenset({np.ndarray, float, int, bool, np.float32, np.float64})  # types that never dispatch


def _dispatched(fn, args: tuple, kwargs: dict) -> bool:
    """Hand the call to a stand-in among the arguments (NEP 18), as NumPy's own functions do; False if none."""
    values = (*args, *kwargs.values())
    if _PLAIN.issuperset(map(type, values)):  # the common case (an SGD step's small parameters): no search
        return False
    others = [x for x in values if not issubclass(type(x), np.ndarray) and hasattr(type(x), "__array_function__")]
    if not others:
        return False
    types = tuple({type(x): None for x in others})
    for x in others:
        if type(x).__array_function__(x, fn, types, args, kwargs) is not NotImplemented:
            return True
    raise TypeError(f"{fn.__name__}: no implementation for arguments of types {[t.__name__ for t in types]}")


def gemm(a, b, *, out, accumulate: bool = False) -> None:
    """``out[...] = a @ b``, or ``out += a @ b``: ``out`` (m, n) may be a strided view (rows apart by any
    stride), ``a`` (m, k) and ``b`` (k, n) strided or transposed views. One BLAS call where it can be;
    otherwise NumPy's, with the same result."""
    if a.shape[1] != b.shape[0] or out.shape != (a.shape[0], b.shape[1]):
        raise ValueError(f"gemm: cannot write a {a.shape} @ {b.shape} product into {out.shape}")
    layouts = _blas_can(out, a, b) if ENABLED else None
    if layouts:
        _gemm(_kernels, out, a, b, 1.0, 1.0 if accumulate else 0.0, layouts)
    elif not _dispatched(gemm, (a, b), {"out": out, "accumulate": accumulate}):
        if accumulate:
            out += np.matmul(a, b)
        else:
            np.matmul(a, b, out=out)


def subtract_scaled(c, d, *, out) -> None:
    """``out -= c · d`` (an SGD step) in one pass over each array (axpy) where they are large and C-ordered
    alike; otherwise ``out -= c * d``. ``c`` is rounded to the arrays' dtype either way, as NumPy does."""
    if type(out) is np.ndarray and out.size >= AXPY_MIN and ENABLED and _same_kind_scalar(c, out) \
            and _plain(out, d) and out.shape == d.shape and out.flags.c_contiguous and d.flags.c_contiguous:
        _kernels["axpy", out.dtype](out.size, -float(out.dtype.type(c)), d.ctypes.data, 1, out.ctypes.data, 1)
    elif not _dispatched(subtract_scaled, (c, d), {"out": out}):
        out -= c * d


def _same_kind_scalar(c, out) -> bool:
    """A Python number, or a NumPy float of ``out``'s dtype: NumPy computes c·d in that dtype then (a float64
    scalar would make c·d float64)."""
    return type(c) in (float, int) or (isinstance(c, np.floating) and getattr(out, "dtype", None) == c.dtype)


def subtract_scaled_product(c, a, b, *, out) -> None:
    """``out -= c · (a @ b)``: a parameter's SGD step from the product its gradient is, as one BLAS call
    (alpha = −c, beta = 1) with no gradient array, no scaled copy and no third pass over ``out``. Written by
    ``anp.compile`` where the traced step computed exactly that and used the product for nothing else.
    Where BLAS cannot take the arrays, and below AXPY_MIN elements of ``out`` (where the foreign call costs more
    than the passes it saves: 256×10 from a 128-long product took 25 µs against NumPy's 12; 256×128, 61 against
    67): ``out -= c * (a @ b)``, the traced calls themselves."""
    ok = ENABLED and out.size >= AXPY_MIN and _same_kind_scalar(c, out) and out.shape == (a.shape[0], b.shape[1]) \
        and a.shape[1] == b.shape[0]
    layouts = _blas_can(out, a, b) if ok else None
    if layouts:
        _gemm(_kernels, out, a, b, -float(out.dtype.type(c)), 1.0, layouts)
    else:
        out -= c * np.matmul(a, b)
