"""Reductions and scans: sum, mean, max, min, prod, var, std, cumsum, cumprod, diff, sort.

Tie rule: elements equal to the max (min) share its gradient equally. ``prod``'s gradient is
the product of the other elements and ``cumprod``'s is exact at zeros and infinities too.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Primitive, Tensor, _data
from ._kernels import columnwise, fast_sum
from .elementwise import conj, real
from .shape import (
    _axes,
    _no_out,
    as_dtype,
    astype,
    axes_to_last,
    broadcast_to,
    concatenate,
    flip,
    getitem,
    moveaxis,
    ravel,
    reshape,
    stack,
    take_along_axis,
    where,
)


def _reduced_axes(axis, ndim: int) -> tuple[int, ...]:
    """The axes a reduction over ``axis`` removes. A 0-d array is reduced over axis 0 or −1 as over none, as
    NumPy allows (``np.sum(np.float64(2), axis=0)`` is 2.0); every other axis out of range is NumPy's AxisError."""
    if ndim == 0 and isinstance(axis, (int, np.integer)) and axis in (0, -1):
        return ()
    return _axes(axis, ndim)


def _keepdims_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    axes = _reduced_axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def expand(g, x, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against ``x``."""
    return g if keepdims else reshape(g, _keepdims_shape(np.shape(x), axis))


def _count(x, axis) -> int:
    shape = np.shape(x)
    return int(np.prod(shape)) if axis is None else int(np.prod([shape[a] for a in _reduced_axes(axis, len(shape))]))


def _sum(x, axis=None, keepdims=False):
    return fast_sum(x, axis=axis, keepdims=keepdims)


def _mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=axis, keepdims=keepdims)


sum = Primitive("sum", _sum).defvjp(  # noqa: A001
    lambda g, ans, x, axis=None, keepdims=False: broadcast_to(expand(g, x, axis, keepdims), np.shape(x)))
mean = Primitive("mean", _mean).defvjp(
    lambda g, ans, x, axis=None, keepdims=False:
        broadcast_to(expand(g, x, axis, keepdims) / _count(x, axis), np.shape(x)))


def _max(x, axis=None, keepdims=False):
    return columnwise(np.maximum, x, axis, keepdims)


def _min(x, axis=None, keepdims=False):
    return columnwise(np.minimum, x, axis, keepdims)


def _extremum_vjp(g, ans, x, axis=None, keepdims=False):
    """Tie rule: elements equal to the max (min) share the gradient equally."""
    hit = _data(x) == _data(expand(ans, x, axis, keepdims))
    share = hit / np.sum(hit, axis=axis, keepdims=True)
    return expand(g, x, axis, keepdims) * share


max = Primitive("max", _max).defvjp(_extremum_vjp)  # noqa: A001
min = Primitive("min", _min).defvjp(_extremum_vjp)  # noqa: A001
max.rule = min.rule = "ties share the gradient equally"
max.complex_ok = min.complex_ok = True  # (NumPy orders complex numbers lexicographically)

# --------------------------------------------------------------------------- scans


def _cumsum(x, axis=None):
    return np.cumsum(x, axis=axis)


def _reverse_cumsum(g, axis):
    return flip(cumsum(flip(g, axis), axis), axis)


cumsum = Primitive("cumsum", _cumsum).defvjp(
    lambda g, ans, x, axis=None: reshape(_reverse_cumsum(g, 0 if axis is None else axis), np.shape(x)))


def _cumprod(x, axis=None):
    return np.cumprod(x, axis=axis)


def _cumprod_vjp(g, ans, x, axis=None):
    """∂xᵢ = Σ_{k≥i} gₖ·ansₖ / xᵢ where every x is finite and not zero; otherwise without dividing (ansₖ/xᵢ
    would be 0/0 or ∞/∞ where the product of the others is a number): ∂xᵢ = (∏_{j<i} xⱼ)·hᵢ with
    hᵢ = gᵢ + xᵢ₊₁·hᵢ₊₁ (a reverse scan, one op per position)."""
    shape = np.shape(x)
    if axis is None or not shape:  # NumPy's cumprod of a 0-d array (along 0 or −1) is its ravel's
        x, axis = ravel(x), 0
    axis = _axes(axis, np.ndim(x))[0]
    xd = _data(x)
    if np.all(np.isfinite(xd)) and not np.any(xd == 0):
        gx = _reverse_cumsum(g * ans, axis) / x
    else:
        xs, gs = moveaxis(x, axis, 0), moveaxis(g, axis, 0)
        h = [getitem(gs, -1)]
        for i in range(np.shape(xs)[0] - 2, -1, -1):
            h.append(getitem(gs, i) + getitem(xs, i + 1) * h[-1])
        gx = _exclusive_cumprod(x, axis) * moveaxis(stack(h[::-1]), 0, axis)
    return reshape(gx, shape)


cumprod = Primitive("cumprod", _cumprod).defvjp(_cumprod_vjp)
cumprod.rule = "exact at zeros and infinities (a reverse scan there instead of a division)"
sum.complex_ok = mean.complex_ok = cumsum.complex_ok = cumprod.complex_ok = True


def _exclusive_cumprod(x, axis):
    """[1, x₀, x₀x₁, ...] along ``axis``: the product of the elements before each one."""
    n = np.shape(x)[axis]
    index = [slice(None)] * np.ndim(x)
    index[axis] = slice(0, n - 1)
    ones_shape = list(np.shape(x))
    ones_shape[axis] = 1
    ones = np.ones(ones_shape, dtype=_data(x).dtype)
    if n <= 1:
        return broadcast_to(ones, np.shape(x)) if n else x
    return concatenate([ones, cumprod(getitem(x, tuple(index)), axis)], axis=axis)


def _others_product(x, axis):
    """∏_{j≠i} x_j along ``axis`` for every i (exact at zeros: no division)."""
    return _exclusive_cumprod(x, axis) * flip(_exclusive_cumprod(flip(x, axis), axis), axis)


def _prod(x, axis=None, keepdims=False):
    return np.prod(x, axis=axis, keepdims=keepdims)


def _prod_vjp(g, ans, x, axis=None, keepdims=False):
    if axis is None:
        others = reshape(_others_product(ravel(x), 0), np.shape(x))
    else:
        axes = _reduced_axes(axis, np.ndim(x))
        if not axes:  # a 0-d x: the product of no others is 1
            return expand(g, x, axis, keepdims)
        if len(axes) != 1:  # several axes: the product of the others along them, via one flattened axis
            others = _prod_many_axes(x, axes)
        else:
            others = _others_product(x, axes[0])
    return expand(g, x, axis, keepdims) * others


def _prod_many_axes(x, axes):
    nd = np.ndim(x)
    flat, _ = axes_to_last(x, axes)
    moved = tuple(np.shape(x)[a] for a in range(nd) if a not in axes) + tuple(np.shape(x)[a] for a in axes)
    return moveaxis(reshape(_others_product(flat, -1), moved), tuple(range(nd - len(axes), nd)), axes)


prod = Primitive("prod", _prod).defvjp(_prod_vjp)
prod.rule = "∂ = product of the other elements (exact at zeros)"
prod.complex_ok = True


def var(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **options):
    """Σ(x − mean x)² / max(n − ddof, 0), as NumPy: ∞ or NaN where ddof ≥ n, never a number of the wrong sign
    (NumPy's ``correction=`` is ``ddof``; ``where=`` is refused)."""
    _no_out("var", out)
    if options.get("where") is not None or options.get("mean") is not None:
        raise TypeError(f"var/std: {sorted(options)} are not supported by autonp")
    ddof = options.get("correction", ddof)
    n = _count(x, axis)
    if dtype is not None and not np.iscomplexobj(_data(x)):
        return _var_in(x, np.dtype(dtype), axis, n - ddof if n > ddof else 0, keepdims)
    d = x - mean(x, axis=axis, keepdims=True)
    d2 = real(d * conj(d)) if np.iscomplexobj(_data(x)) else d * d  # |x − μ|², as NumPy's var of complex x
    v = sum(d2, axis=axis, keepdims=keepdims) / (n - ddof if n > ddof else 0)
    return v if dtype is None else v.astype(dtype)


def _var_in(x, dtype, axis, divisor, keepdims):
    """NumPy's var with ``dtype=``: the mean is a sum of entries cast to dtype, its quotient cast to dtype; the squared
    deviations (in x's and dtype's common type) are cast to dtype, summed, and that quotient cast too. (autonp cast
    the float variance: np.var([1.5, 1.5, 3.9], dtype=int) is 2 in NumPy, the cast 1.28 is 1.)"""
    m = astype(sum(astype(x, dtype), axis=axis, keepdims=True) / _count(x, axis), dtype)
    d = x - m
    return astype(sum(astype(d * d, dtype), axis=axis, keepdims=keepdims) / divisor, dtype)


def _root_vjp(g, ans, v):
    """g/(2√v), and 0 where v = 0."""
    positive = _data(ans) > 0
    return g * where(positive, 0.5 / where(positive, ans, 1.0), 0.0)


_root_of_var = Primitive("sqrt", np.sqrt).defvjp(_root_vjp)
_root_of_var.rule = "std's square root: ∂ = 0 where the variance is 0"


def std(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **options):
    """√var. Where the variance is 0 the gradient is 0: exact over a length-1 axis (std ≡ 0 there), and
    the smallest subgradient where all values are equal (as HIPS autograd)."""
    root = _root_of_var(var(x, axis, dtype, out, ddof, keepdims, **options))
    if dtype is None or root.dtype == dtype:
        return root
    if np.ndim(root):  # NumPy takes the root into the variance's own array: a float root into integers
        raise TypeError(f"std: the square root of a variance computed in {np.dtype(dtype)} cannot be stored in "
                        f"{np.dtype(dtype)} (NumPy refuses it too); compute in a float dtype and cast the result")
    return astype(root, dtype)  # NumPy's scalar: dtype.type(√var)


def ptp(x, axis=None, out=None, keepdims=False):
    """max − min ("peak to peak"); ties share each end's gradient, as ``max`` and ``min``."""
    _no_out("ptp", out)
    return max(x, axis=axis, keepdims=keepdims) - min(x, axis=axis, keepdims=keepdims)


def average(x, axis=None, weights=None, returned=False, keepdims=False):
    """Weighted mean Σ x·w / Σ w; ``weights`` 1-D along ``axis`` or shaped like ``x``."""
    if weights is None:
        res, total = mean(x, axis=axis, keepdims=keepdims), _count(x, axis)
    else:
        w = weights if np.ndim(weights) == np.ndim(x) else _weights_along(weights, x, axis)
        total = sum(broadcast_to(w, np.shape(x)), axis=axis, keepdims=keepdims)
        res = sum(x * w, axis=axis, keepdims=keepdims) / total
    return (res, total) if returned else res


def _weights_along(w, x, axis):
    shape = [1] * np.ndim(x)
    shape[axis] = np.shape(x)[axis]
    return reshape(w, tuple(shape))


def diff(x, n=1, axis=-1, prepend=None, append=None):
    if n < 0:
        raise ValueError(f"diff: order must be non-negative but got {n!r}")
    if prepend is not None or append is not None:
        parts = ([prepend] if prepend is not None else []) + [x] + ([append] if append is not None else [])
        x = concatenate([_along(p, x, axis) for p in parts], axis=axis)
    nd = np.ndim(x)
    axis = _axes(axis, nd)[0]
    for _ in range(n):
        hi = [slice(None)] * nd
        lo = [slice(None)] * nd
        hi[axis], lo[axis] = slice(1, None), slice(None, -1)
        x = getitem(x, tuple(hi)) - getitem(x, tuple(lo))
    return x


def _along(p, x, axis):
    if np.ndim(p) == np.ndim(x):
        return p
    shape = list(np.shape(x))
    shape[axis] = 1
    return broadcast_to(p, tuple(shape))


def gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient`` with uniform spacing: central differences (f[i+1] − f[i−1])/2h inside, one-sided
    (f[1] − f[0])/h and (f[-1] − f[-2])/h at the edges (``edge_order=1``); one result per axis."""
    nd = np.ndim(f)
    axes = list(range(nd)) if axis is None else list(_axes(axis, nd))
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        varargs = varargs * len(axes)
    if edge_order != 1 or len(varargs) not in (0, len(axes)) or any(np.ndim(h) for h in varargs):
        raise TypeError("gradient: autonp supports uniform spacing (scalars) with edge_order=1")
    steps = [h if isinstance(h, Tensor) else float(h) for h in varargs] or [1.0] * len(axes)  # (a Tensor h: ∂/∂h)
    dtype = _data(f).dtype if np.issubdtype(_data(f).dtype, np.inexact) else np.dtype(float)  # NumPy's result's
    out = []
    for ax, h in zip(axes, steps):
        if np.shape(f)[ax] < 2:
            raise ValueError("gradient: shape of the array too small to calculate a numerical gradient "
                             f"along axis {ax} (at least 2 elements needed)")
        def part(sl):
            index = [slice(None)] * nd
            index[ax] = sl
            return getitem(f, tuple(index))
        pieces = [(part(slice(1, 2)) - part(slice(0, 1))) / h]
        if np.shape(f)[ax] > 2:
            pieces.append((part(slice(2, None)) - part(slice(None, -2))) / (2.0 * h))
        pieces.append((part(slice(-1, None)) - part(slice(-2, -1))) / h)
        out.append(as_dtype(concatenate(pieces, axis=ax), dtype))
    return out[0] if len(out) == 1 else tuple(out)


def partition(x, kth, axis=-1, kind="introselect", order=None):
    """Values partitioned around ``kth`` (a gather by ``argpartition``: each element's gradient follows
    it; the order within each side is argpartition's)."""
    if axis is None:
        x, axis = ravel(x), 0
    idx = np.argpartition(_data(x), kth, axis=axis)
    return take_along_axis(x, idx, axis)


def sort(x, axis=-1, kind=None, order=None, *, stable=None):
    """Sorted values (a gather by ``argsort``: each element's gradient follows it; ``stable=True`` or
    ``kind='stable'``: tied elements keep their order, and so their gradients)."""
    if axis is None:
        x, axis = ravel(x), 0
    idx = np.argsort(_data(x), axis=axis, kind="stable" if stable else kind)  # (NumPy < 2 has no stable=)
    return take_along_axis(x, idx, axis)
