"""NumPy 2's array-API names (``np.linalg.vector_norm``, ``np.vecdot``, ``np.matvec``, ``np.cumulative_sum`` ...),
written with the primitives NumPy's older names already use: same values, dtypes and errors as NumPy's.

    vecdot(a, b):        Σ conj(a)·b along ``axis``        matvec(A, v): (A @ v[..., None])[..., 0]
    vector_norm(x):      the norm of x's entries along ``axis`` (all of them for None, whatever x's rank)
    cumulative_sum(x):   cumsum, with the leading 0 for ``include_initial``
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import _data
from . import elementwise as ew
from . import linalg as la
from . import reductions as rd
from . import shape as sh

__all__ = ["vecdot", "matvec", "vecmat", "matrix_transpose", "vector_norm", "matrix_norm", "svdvals", "unstack",
           "astype", "cumulative_sum", "cumulative_prod", "linalg_outer", "linalg_cross", "linalg_diagonal",
           "linalg_trace"]


def _conj(a: Any) -> Any:
    return ew.conj(a) if np.iscomplexobj(_data(a)) else a


def vecdot(a: Any, b: Any, axis: int = -1, **unsupported: Any) -> Any:
    """Σ conj(a)·b along ``axis`` (the other axes broadcast)."""
    _no_extra("vecdot", unsupported)
    nd = max(np.ndim(a), np.ndim(b))
    axis = sh._axes(axis, nd)[0] - nd  # from the end: the vectors' axis in both
    if min(np.ndim(a), np.ndim(b)) < -axis or np.shape(a)[axis] != np.shape(b)[axis]:
        raise ValueError(f"vecdot: vectors of shapes {np.shape(a)} and {np.shape(b)} do not match along axis {axis}")
    res = rd.sum(_conj(a) * b, axis=axis)
    dtype = np.result_type(_data(a), _data(b))  # (a sum of integers widens; NumPy's vecdot keeps the inputs' type)
    return res if res.dtype == dtype else sh.astype(res, dtype)


def matvec(x1: Any, x2: Any, **unsupported: Any) -> Any:
    """A (…, m, n) times v (…, n): (…, m)."""
    _no_extra("matvec", unsupported)
    return sh.getitem(la.matmul(x1, sh.expand_dims(x2, -1)), (Ellipsis, 0))


def vecmat(x1: Any, x2: Any, **unsupported: Any) -> Any:
    """conj(v) (…, m) times A (…, m, n): (…, n)."""
    _no_extra("vecmat", unsupported)
    return sh.getitem(la.matmul(sh.expand_dims(_conj(x1), -2), x2), (Ellipsis, 0, slice(None)))


def matrix_transpose(x: Any) -> Any:
    if np.ndim(x) < 2:
        raise ValueError(f"matrix_transpose: input must have at least 2 dimensions, got shape {np.shape(x)}")
    return sh.swapaxes(x, -1, -2)


def vector_norm(x: Any, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:  # noqa: A002
    """The vector norm of x's entries along ``axis``: all of them for None (whatever x's rank, unlike
    ``np.linalg.norm``), several axes as one vector."""
    flat, kept = sh.axes_to_last(x, axis)
    res = la.norm(flat, ord, axis=-1)
    return sh.reshape(res, kept) if keepdims else res


def matrix_norm(x: Any, keepdims: bool = False, ord: Any = "fro") -> Any:  # noqa: A002
    return la.norm(x, ord, axis=(-2, -1), keepdims=keepdims)


def svdvals(x: Any) -> Any:
    return la.svd(x, compute_uv=False)


def unstack(x: Any, axis: int = 0) -> tuple:
    axis = sh._axes(axis, np.ndim(x))[0]
    return tuple(sh.getitem(x, (slice(None),) * axis + (i,)) for i in range(np.shape(x)[axis]))


def astype(x: Any, dtype: Any, copy: bool = True, device: Any = None) -> Any:
    return sh.astype(x, dtype, copy=copy)


def _cumulative(prim, name: str, identity: float):
    def cumulative(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, include_initial: bool = False) -> Any:
        sh._no_out(name, out)
        if axis is None:
            if np.ndim(x) > 1:
                raise ValueError(f"{name}: axis must be specified for multi-dimensional arrays")
            axis = 0
        axis = sh._axes(axis, max(np.ndim(x), 1))[0]
        res = sh.in_dtype(prim, x, dtype, axis=axis)
        if include_initial:
            shape = list(np.shape(res))
            shape[axis] = 1
            res = sh.concatenate([np.full(shape, identity, dtype=res.dtype), res], axis=axis)
        return res
    cumulative.__name__ = name
    return cumulative


cumulative_sum = _cumulative(rd.cumsum, "cumulative_sum", 0.0)
cumulative_prod = _cumulative(rd.cumprod, "cumulative_prod", 1.0)


def linalg_outer(x1: Any, x2: Any) -> Any:
    if np.ndim(x1) != 1 or np.ndim(x2) != 1:
        raise ValueError(f"Input arrays must be one-dimensional, but they are {np.ndim(x1)}-D and {np.ndim(x2)}-D")
    return la.outer(x1, x2)


def linalg_cross(x1: Any, x2: Any, axis: int = -1) -> Any:
    if np.shape(x1)[axis] != 3 or np.shape(x2)[axis] != 3:
        raise ValueError(f"Both input arrays must be (arrays of) 3-dimensional vectors, but they are "
                         f"{np.shape(x1)[axis]} and {np.shape(x2)[axis]} dimensional instead.")
    return la.cross(x1, x2, axis=axis)


def linalg_diagonal(x: Any, offset: int = 0) -> Any:
    return sh.diagonal(x, offset, axis1=-2, axis2=-1)


def linalg_trace(x: Any, offset: int = 0, dtype: Any = None) -> Any:
    return la.trace(x, offset, axis1=-2, axis2=-1, dtype=dtype)


def _no_extra(name: str, unsupported: dict) -> None:
    if unsupported:
        raise TypeError(f"{name}: autonp does not support the arguments {sorted(unsupported)}")
