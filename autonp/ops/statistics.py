"""NumPy's statistics that skip NaNs or rank values, as compositions of the primitives (so their gradients, to any
order, are those of sort, where, sum and the arithmetic):

    nansum, nanmean, nanvar, nanstd, nanmax, nanmin, nanprod, nancumsum, nancumprod:
        a NaN counts as the reduction's identity (0, 1, ±∞) and not in the count; its gradient is 0
    quantile, percentile, median: the sorted values at q·(n − 1), linearly interpolated (NumPy's default
        method); a slice holding a NaN gives NaN, as NumPy; ties share nothing (sort routes each value to one entry)
    cov, corrcoef: (X − mean)(X − mean)ᴴ / (n − ddof), and that scaled by the standard deviations
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, _data, as_array
from . import elementwise as ew
from . import linalg as la
from . import reductions as rd
from . import shape as sh

__all__ = ["nansum", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nanprod", "nancumsum", "nancumprod",
           "quantile", "percentile", "median", "cov", "corrcoef"]


def _nan_mask(x: Any) -> Any:
    values = _data(x)
    return np.isnan(values) if np.issubdtype(values.dtype, np.inexact) else np.zeros(np.shape(values), bool)


def _filled(x: Any, fill: float) -> Any:
    mask = _nan_mask(x)
    return sh.where(mask, np.asarray(fill, dtype=as_array(_data(x)).dtype), x), mask


def _no_out(name: str, out: Any, **unsupported: Any) -> None:
    sh._no_out(name, out)
    extra = sorted(k for k, v in unsupported.items() if v is not np._NoValue and v is not None)
    if extra:
        raise TypeError(f"{name}: autonp does not support the arguments {extra}")


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    _no_out("nansum", out, initial=initial, where=where)
    return sh.in_dtype(rd.sum, _filled(a, 0.0)[0], dtype, axis=axis, keepdims=bool(keepdims))


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    _no_out("nanprod", out, initial=initial, where=where)
    return sh.in_dtype(rd.prod, _filled(a, 1.0)[0], dtype, axis=axis, keepdims=bool(keepdims))


def _count(mask: Any, axis: Any, keepdims: bool, like: Any) -> Any:
    """How many entries are not NaN, in the dtype of the sum it divides (NumPy keeps float32 float32)."""
    dtype = _data(like).dtype
    return np.sum(~mask, axis=axis, keepdims=keepdims).astype(dtype if np.issubdtype(dtype, np.inexact) else float)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=np._NoValue):
    _no_out("nanmean", out, where=where)
    kept, mask = _filled(a, 0.0)
    total = sh.in_dtype(rd.sum, kept, dtype, axis=axis, keepdims=bool(keepdims))
    with np.errstate(invalid="ignore", divide="ignore"):  # an all-NaN slice: NaN, as NumPy (which warns)
        return total / _count(mask, axis, bool(keepdims), total)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue, mean=np._NoValue,
           correction=np._NoValue):
    _no_out("nanvar", out, where=where, mean=mean)
    ddof = ddof if correction is np._NoValue else correction
    kept, mask = _filled(a, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):  # an all-NaN slice, or ddof ≥ its count: NaN or ∞
        total = rd.sum(kept, axis=axis, keepdims=True)
        centred = sh.where(mask, 0.0, a - total / _count(mask, axis, True, total))
        squares = ew.real(centred * ew.conj(centred)) if np.iscomplexobj(_data(a)) else centred * centred
        summed = rd.sum(squares, axis=axis, keepdims=bool(keepdims))
        res = summed / np.maximum(_count(mask, axis, bool(keepdims), summed) - ddof, 0)
    return res if dtype is None else sh.astype(res, dtype)


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue, mean=np._NoValue,
           correction=np._NoValue):
    return rd._root_of_var(nanvar(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean,
                                  correction=correction))


def _nan_extreme(name: str, reduce, fill: float):
    def extreme(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
        _no_out(name, out, initial=initial, where=where)
        if not np.issubdtype(_data(a).dtype, np.inexact):  # integers hold no NaN (and no ±∞ to fill with)
            return reduce(a, axis=axis, keepdims=bool(keepdims))
        kept, mask = _filled(a, fill)
        res = reduce(kept, axis=axis, keepdims=bool(keepdims))
        all_nan = np.all(mask, axis=axis, keepdims=bool(keepdims))
        return sh.where(all_nan, np.nan, res) if np.any(all_nan) else res  # an all-NaN slice: NaN, as NumPy
    extreme.__name__ = name
    return extreme


nanmax = _nan_extreme("nanmax", rd.max, -np.inf)
nanmin = _nan_extreme("nanmin", rd.min, np.inf)


def nancumsum(a, axis=None, dtype=None, out=None):
    _no_out("nancumsum", out)
    return sh.in_dtype(rd.cumsum, _filled(a, 0.0)[0], dtype, axis=axis)


def nancumprod(a, axis=None, dtype=None, out=None):
    _no_out("nancumprod", out)
    return sh.in_dtype(rd.cumprod, _filled(a, 1.0)[0], dtype, axis=axis)


def _q_constant(name: str, q) -> None:
    """q is read as numbers: a q that requires grad is refused rather than silently left without its gradient."""
    if isinstance(q, Tensor) and q.requires_grad:
        raise TypeError(f"{name}: q that requires grad is not supported by autonp (the gradient with respect to "
                        "the quantile levels is not implemented; pass q as numbers)")


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None,
             interpolation=None):
    """The q-th quantiles (q in [0, 1]) along ``axis``: the sorted values at q·(n − 1), linearly interpolated."""
    _no_out("quantile", out, weights=weights, interpolation=interpolation)
    if method != "linear":
        raise TypeError(f"quantile: method={method!r} is not differentiated by autonp (only the default 'linear')")
    _q_constant("quantile", q)
    if np.iscomplexobj(_data(a)) or _data(a).dtype == bool:
        raise TypeError(f"quantile: a must be an array of real numbers, not {_data(a).dtype}")  # (NumPy refuses too)
    qs = np.asarray(_data(q), dtype=float)
    if np.any((qs < 0) | (qs > 1)) or np.any(np.isnan(qs)):
        raise ValueError("Quantiles must be in the range [0, 1]")
    # NumPy's result type: a's and q's (a Python number is weak: float32 stays float32; a list of q is float64)
    result = np.result_type(_data(a).dtype, q if isinstance(q, (int, float)) else np.asarray(_data(q)))
    if not np.issubdtype(result, np.inexact):
        result = np.dtype(float)
    flat, kept = sh.axes_to_last(a, axis)
    n = np.shape(flat)[-1]
    ordered = rd.sort(flat, axis=-1)
    # NumPy's arithmetic, to the last bit: the virtual index (n − 1)·q in q's own dtype, its floor and fraction
    # (past the last point NumPy's "previous" index is −1, and the fraction is taken from it), the neighbours'
    # difference in a's dtype, the lerp from below, or from above where the fraction is ≥ ½
    virtual = (n - 1) * np.asanyarray(_data(q))
    if virtual.dtype.kind in "iub":  # whole-number indices (q of 0s and 1s as integers): the points, no lerp
        res = sh.take(ordered, virtual.astype(np.intp), axis=-1)  # (in a's dtype, integers too, as NumPy's)
    else:
        last = virtual >= n - 1
        lo = np.where(last, n - 1, np.floor(virtual)).astype(np.intp)
        hi = np.minimum(lo + 1, n - 1)
        t = (virtual - np.where(last, -1, lo)).astype(virtual.dtype)
        below, above = sh.take(ordered, lo, axis=-1), sh.take(ordered, hi, axis=-1)  # (…, *q.shape)
        diff = above - below  # NumPy's lerp: from below, and from above where t ≥ ½ (a −∞ at an end stays −∞)
        if isinstance(q, (int, float)):  # NumPy's weak q: the fraction a Python float, the lerp in a's dtype
            t = float(t)
        else:  # an array q: its dtype and a's promote
            lerp = np.result_type(_data(diff).dtype, t.dtype)
            below, above, diff, t = (sh.as_dtype(v, lerp) for v in (below, above, diff, t))
        res = sh.as_dtype(sh.where(t >= 0.5, above - diff * (1 - t), below + diff * t), result)
    has_nan = np.any(_nan_mask(flat), axis=-1)
    if np.any(has_nan):
        res = sh.where(np.reshape(has_nan, np.shape(has_nan) + (1,) * qs.ndim), np.nan, res)
    res = sh.moveaxis(res, tuple(range(np.ndim(res) - qs.ndim, np.ndim(res))), tuple(range(qs.ndim))) \
        if qs.ndim else res
    if keepdims:
        res = sh.reshape(res, qs.shape + kept)
    return sh.laid_out(res, "C")  # (NumPy's result is a new C-ordered array; the moves above left a transposed one)


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None,
               interpolation=None):
    _q_constant("percentile", q)  # (before q / 100 below reads its numbers: the gradient would be lost)
    qs = np.asarray(_data(q), dtype=float)
    if np.any((qs < 0) | (qs > 100)):
        raise ValueError("Percentiles must be in the range [0, 100]")
    fraction = np.true_divide(np.asanyarray(_data(q)), 100)  # (NumPy's q / 100, in q's dtype)
    return quantile(a, float(fraction) if isinstance(q, (int, float)) else fraction, axis, out, overwrite_input,
                    method, keepdims, weights=weights, interpolation=interpolation)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The middle value along ``axis``, the mean of the two middle ones for an even count (as NumPy)."""
    _no_out("median", out)
    if not np.issubdtype(_data(a).dtype, np.inexact):  # NumPy's median of integers is a float (a mean)
        a = sh.as_dtype(a, np.float64)
    flat, kept = sh.axes_to_last(a, axis)
    n = np.shape(flat)[-1]
    if n == 0:  # NumPy's: the mean of nothing, NaN (with its warning)
        res = rd.mean(flat, axis=-1)
        return sh.reshape(res, kept) if keepdims else res
    ordered = rd.sort(flat, axis=-1)
    middle = sh.getitem(ordered, (Ellipsis, n // 2))
    res = middle if n % 2 else (sh.getitem(ordered, (Ellipsis, n // 2 - 1)) + middle) / 2
    has_nan = np.any(_nan_mask(flat), axis=-1)
    if np.any(has_nan):
        res = sh.where(has_nan, np.nan, res)
    return sh.reshape(res, kept) if keepdims else res


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """(X − X̄)(X − X̄)ᴴ / (n − ddof), the variables in rows (``rowvar``) or columns."""
    if fweights is not None or aweights is not None:
        raise TypeError("cov: fweights and aweights are not supported by autonp")
    if np.ndim(m) > 2:
        raise ValueError("m has more than 2 dimensions")
    X = sh.atleast_2d(m)
    if not rowvar and np.shape(X)[0] != 1:
        X = sh.swapaxes(X, 0, 1)
    if y is not None:
        Y = sh.atleast_2d(y)
        if not rowvar and np.shape(Y)[0] != 1:
            Y = sh.swapaxes(Y, 0, 1)
        X = sh.concatenate([X, Y], axis=0)
    computed = np.dtype(dtype) if dtype is not None else np.result_type(_data(X).dtype, np.float64)  # (NumPy's)
    if _data(X).dtype != computed:
        X = sh.astype(X, computed)
    ddof = (0 if bias else 1) if ddof is None else ddof
    n = np.shape(X)[1]
    centred = X - rd.mean(X, axis=1, keepdims=True)
    conj = ew.conj(centred) if np.iscomplexobj(_data(centred)) else centred
    with np.errstate(divide="ignore", invalid="ignore"):  # n ≤ ddof: ∞ or NaN, as NumPy (which warns)
        c = la.matmul(centred, sh.swapaxes(conj, 0, 1)) / max(n - ddof, 0)
    return sh.squeeze(c)


def corrcoef(x, y=None, rowvar=True, bias=np._NoValue, ddof=np._NoValue, *, dtype=None):
    """cov scaled by the standard deviations: c_ij / √(c_ii c_jj), clipped to [−1, 1] as NumPy."""
    c = cov(x, y, rowvar, dtype=dtype)
    if np.ndim(c) == 0:
        return c / c
    d = ew.sqrt(ew.real(sh.diagonal(c)) if np.iscomplexobj(_data(c)) else sh.diagonal(c))
    c = c / sh.expand_dims(d, 1) / sh.expand_dims(d, 0)
    return ew.clip(c, -1, 1) if not np.iscomplexobj(_data(c)) else c
