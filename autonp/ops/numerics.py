"""NumPy's functions of sampled data and polynomials, as compositions of the primitives (their gradients, to any
order, are those of the slices, products and sums they are written with):

    trapezoid(y, x):   Σ (x_{i+1} − x_i)·(y_i + y_{i+1})/2 along ``axis``
    interp(x, xp, fp): fp_j + (fp_{j+1} − fp_j)/(xp_{j+1} − xp_j)·(x − xp_j) on the interval of x (ends held)
    polyval(p, x):     Horner's rule, p₀ first
    convolve(a, v):    Σ_j a_{k−j} v_j (the windows of a times v reversed); correlate: Σ_n a_{n+k} conj(v_n)
    meshgrid, ediff1d: reshapes and broadcasts; differences of the flattened array
    bincount(x, w):    Σ of the weights w_i with x_i = k, for each k (a scatter-add: ∂/∂w_i = g[x_i])
    delete, resize:    takes of the positions NumPy's own function keeps (computed on the positions' numbers)
    vander(x, N):      the powers x^k as NumPy makes them, by running products
"""
from __future__ import annotations

import functools
import operator
from typing import Any

import numpy as np

from ..tensor import Tensor, _data, as_array
from . import elementwise as ew
from . import linalg as la
from . import reductions as rd
from . import shape as sh

__all__ = ["trapezoid", "interp", "polyval", "convolve", "correlate", "meshgrid", "ediff1d", "bincount", "delete",
           "resize", "vander"]


def trapezoid(y: Any, x: Any = None, dx: float = 1.0, axis: int = -1) -> Any:
    nd = np.ndim(y)
    axis = sh._axes(axis, nd)[0]
    first = [slice(None)] * nd
    rest = [slice(None)] * nd
    first[axis], rest[axis] = slice(None, -1), slice(1, None)
    if x is None:
        d = dx
    elif np.ndim(x) == 1:
        shape = [1] * nd
        shape[axis] = np.shape(x)[0] - 1
        d = sh.reshape(rd.diff(x), tuple(shape))
    else:
        d = rd.diff(x, axis=axis)
    return rd.sum(d * (sh.getitem(y, tuple(rest)) + sh.getitem(y, tuple(first))) / 2.0, axis=axis)


def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None, period: Any = None) -> Any:
    if period is not None:
        raise TypeError("interp: period= is not supported by autonp")
    xv, xpv = as_array(_data(x)), as_array(_data(xp))
    if np.iscomplexobj(xv) or np.iscomplexobj(xpv):  # (NumPy refuses them too; fp may be complex)
        raise TypeError("interp: x and xp must be real (NumPy cannot cast complex x or xp to float64)")
    # NumPy computes in float64 (complex128 for a complex fp), whatever the inputs' precision
    x, xp = sh.as_dtype(x, np.float64), sh.as_dtype(xp, np.float64)
    fp = sh.as_dtype(fp, np.complex128 if np.iscomplexobj(_data(fp)) else np.float64)
    xv, xpv = as_array(_data(x)), as_array(_data(xp))
    if xpv.ndim != 1 or np.ndim(fp) != 1 or xpv.shape[0] != np.shape(fp)[0]:
        raise ValueError("fp and xp are not of the same length, or not 1-D")
    if xpv.shape[0] == 0:
        raise ValueError("array of sample points is empty")
    n = xpv.shape[0]
    if n == 1:
        res = sh.copy(sh.broadcast_to(sh.getitem(fp, 0), np.shape(xv))) if isinstance(fp, Tensor) else np.full(
            np.shape(xv), _data(fp)[0])
    else:
        j = np.clip(np.searchsorted(xpv, xv, side="right") - 1, 0, n - 2)
        x0, x1 = _pick(xp, j), _pick(xp, j + 1)
        y0, y1 = _pick(fp, j), _pick(fp, j + 1)
        slope = (y1 - y0) / (x1 - x0)
        res = slope * (x - x0) + y0
        undefined = np.isnan(_data(res)) & ~np.isnan(xv)  # (a NaN x stays NaN)
        if np.any(undefined):  # NumPy's: a NaN from one end (an infinite fp) is tried from the other end, and
            res = sh.where(undefined, slope * (x - x1) + y1, res)  # between equal values is that value
            res = sh.where(undefined & np.isnan(_data(res)) & (_data(y0) == _data(y1)), y0, res)
        res = sh.where(xv == _data(x0), y0, res)  # on a sample point exactly its value (no ∞·0 there), as NumPy
        res = sh.where(xv == xpv[-1], sh.take(fp, np.full(np.shape(xv), n - 1)), res)  # the last point exactly
    below = sh.take(fp, np.zeros(np.shape(xv), np.intp)) if left is None else left
    above = sh.take(fp, np.full(np.shape(xv), n - 1)) if right is None else right
    res = sh.where(xv < xpv[0], below, res)
    res = sh.where(xv > xpv[-1], above, res)
    return res


def _pick(a: Any, index: Any) -> Any:
    """a[index] for a 1-D a: a Tensor's gather, or for an array NumPy's take_along_axis (which dispatches on the
    index: a compiled trace records it when the index is computed from traced values, as here from x)."""
    if isinstance(a, Tensor):
        return sh.take(a, index)
    return np.reshape(np.take_along_axis(a, np.ravel(index), axis=0), np.shape(index))


def polyval(p: Any, x: Any) -> Any:
    if np.ndim(p) != 1:
        raise TypeError("polyval: p must be 1-D coefficients (a poly1d is not supported by autonp)")
    y: Any = np.zeros_like(as_array(_data(x)))  # NumPy's start: zeros of x's dtype (so 0·x, then + p₀)
    for i in range(np.shape(p)[0]):
        y = y * x + (sh.getitem(p, i) if isinstance(p, Tensor) else _data(p)[i])
    return y


def _full_convolution(a: Any, v: Any) -> Any:
    """Σ_j a_{k−j} v_j for every k (length M + N − 1): the windows of a padded with N − 1 zeros on each side,
    times v reversed."""
    n = np.shape(v)[0]
    if not np.all(np.isfinite(_data(v))):  # a padded zero times an infinite v_j is NaN where NumPy adds no term:
        terms = (sh.pad(a * sh.getitem(v, j), (j, n - 1 - j)) for j in range(n))  # each shifted a·v_j instead
        return functools.reduce(operator.add, terms)
    padded = sh.pad(a, (n - 1, n - 1)) if n > 1 else a
    windows = sh.sliding(padded, (0,), (n,)) if isinstance(padded, Tensor) else sh._sliding(padded, (0,), (n,))
    return la.matmul(windows, sh.getitem(v, slice(None, None, -1)))


def _mode_slice(mode: str, m: int, n: int) -> slice:
    """The part of the full convolution (m ≥ n) that ``mode`` keeps, as NumPy's."""
    if mode in ("full", 2):
        return slice(0, m + n - 1)
    if mode in ("same", 1):
        start = (n - 1) // 2
        return slice(start, start + m)
    if mode in ("valid", 0):
        return slice(n - 1, m)
    raise ValueError(f"mode must be one of 'valid', 'same', or 'full' (got {mode!r})")


def convolve(a: Any, v: Any, mode: str = "full") -> Any:
    a, v = (sh.reshape(x, (1,)) if np.ndim(x) == 0 else x for x in (a, v))  # a number is one sample, as in NumPy
    if np.ndim(a) != 1 or np.ndim(v) != 1:
        raise ValueError("convolve: a and v must be 1-D")
    if np.shape(a)[0] == 0 or np.shape(v)[0] == 0:
        raise ValueError("a cannot be empty" if np.shape(a)[0] == 0 else "v cannot be empty")
    if np.shape(v)[0] > np.shape(a)[0]:  # convolution commutes; NumPy slides the shorter one
        a, v = v, a
    m, n = np.shape(a)[0], np.shape(v)[0]
    return sh.getitem(_full_convolution(a, v), _mode_slice(mode, m, n))


def correlate(a: Any, v: Any, mode: str = "valid") -> Any:
    """c_k = Σ_n a_{n+k} conj(v_n), as NumPy (whose result for a shorter a is the swapped one, reversed)."""
    if np.ndim(a) != 1 or np.ndim(v) != 1:
        raise ValueError("correlate: a and v must be 1-D")
    conj_v = ew.conj(v) if np.iscomplexobj(_data(v)) else v
    reversed_v = sh.getitem(conj_v, slice(None, None, -1))
    if np.shape(v)[0] <= np.shape(a)[0]:
        return convolve(a, reversed_v, mode)
    conj_a = ew.conj(a) if np.iscomplexobj(_data(a)) else a
    swapped = convolve(v, sh.getitem(conj_a, slice(None, None, -1)), mode)
    out = sh.getitem(swapped, slice(None, None, -1))
    return ew.conj(out) if np.iscomplexobj(_data(out)) else out


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> tuple:
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    nd = len(xi)
    shapes = [[1] * nd for _ in xi]
    for i in range(nd):
        shapes[i][i] = -1
    if indexing == "xy" and nd > 1:
        for s in shapes[:2]:
            s[0], s[1] = s[1], s[0]
    grids = [sh.reshape(sh.ravel(x), tuple(s)) if isinstance(x, Tensor) else np.reshape(x, tuple(s))
             for x, s in zip(xi, shapes)]
    if not sparse:
        grids = sh.broadcast_arrays(*grids)
    if copy:  # NumPy's default: new arrays, not views of the inputs
        grids = [sh.copy(g) if isinstance(g, Tensor) else np.copy(g) for g in grids]
    return tuple(grids)


def ediff1d(ary: Any, to_end: Any = None, to_begin: Any = None) -> Any:
    """The differences of the flattened array, between ``to_begin`` and ``to_end``, in ary's dtype (as NumPy)."""
    kind = as_array(_data(ary)).dtype

    def flat_part(name: str, extra: Any) -> Any:
        if not np.can_cast(as_array(_data(extra)).dtype, kind, "same_kind"):
            raise TypeError(f"dtype of `{name}` must be compatible with input `ary` under the `same_kind` rule.")
        return sh.as_dtype(sh.ravel(extra) if isinstance(extra, Tensor) else np.ravel(extra), kind)
    parts = [flat_part("to_begin", to_begin)] if to_begin is not None else []
    parts.append(rd.diff(sh.ravel(ary)))
    if to_end is not None:
        parts.append(flat_part("to_end", to_end))
    return parts[0] if len(parts) == 1 else sh.concatenate(parts)


def bincount(x: Any, weights: Any = None, minlength: int = 0) -> Any:
    """``np.bincount``: with weights that require grad, their sums per bin (float64, as NumPy's), a scatter-add."""
    counts = np.bincount(_data(x), None if weights is None else _data(weights), minlength)  # NumPy's checks, length
    if not isinstance(weights, Tensor):
        return counts
    if np.iscomplexobj(_data(weights)):
        raise TypeError("bincount: complex weights are cast to float64 by NumPy (dropping their imaginary parts)")
    return sh.untake(sh.as_dtype(weights, np.dtype(np.float64)), (np.asarray(_data(x)),), counts.shape)


def delete(arr: Any, obj: Any, axis: Any = None) -> Any:
    """``np.delete``: the entries (slices along ``axis``) NumPy keeps, found by deleting from their positions, laid
    out as NumPy's: a mask's pick for an array ``obj``, a new array in ``arr``'s order for an index or a slice."""
    if axis is None:
        arr, axis = sh.ravel(arr), 0
    axis = sh._axes(axis, np.ndim(arr))[0]
    obj = _data(obj)
    n = np.shape(arr)[axis]
    kept = np.delete(np.arange(n), obj)
    one = not isinstance(obj, slice) and np.size(obj) == 1 and np.asarray(obj).dtype.kind in "ui"  # (NumPy: an index)
    if isinstance(obj, slice) or one:
        flags = _data(arr).flags
        return sh.laid_out(sh.take(arr, kept, axis=axis), "F" if flags.f_contiguous and not flags.c_contiguous else "C")
    return sh.getitem(arr, (slice(None),) * axis + (np.isin(np.arange(n), kept),))


def resize(a: Any, new_shape: Any) -> Any:
    """``np.resize``: the flattened entries repeated (or cut) to fill ``new_shape``; zeros for an empty ``a``."""
    positions = np.resize(np.arange(np.size(_data(a))), new_shape)
    if np.size(_data(a)) == 0:
        return np.zeros(positions.shape, _data(a).dtype)
    return sh.getitem(sh.ravel(a), positions)


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:
    """``np.vander``: columns x^(N−1) … x⁰ (or increasing), each the running product NumPy computes."""
    if np.ndim(x) != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n = np.shape(x)[0] if N is None else int(N)
    dtype = np.promote_types(_data(x).dtype, int)
    ones = np.ones((np.shape(x)[0], min(n, 1)), dtype)
    columns = sh.broadcast_to(sh.reshape(sh.as_dtype(x, dtype), (-1, 1)), (np.shape(x)[0], max(n - 1, 0)))
    powers = sh.concatenate([ones, rd.cumprod(columns, axis=1)], axis=1)
    return powers if increasing else sh.laid_out(sh.flip(powers, 1), "C")  # (a new C array, as NumPy's)
