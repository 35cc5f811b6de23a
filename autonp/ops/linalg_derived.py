"""``np.linalg`` functions written with the primitives of :mod:`.linalg` (their gradients, to any order, are those
of the SVDs, inverses, solves and reshapes they are made of):

    cond(x, p):            s_max / s_min (p = None, 2; −2 the reciprocal), else ‖x‖_p · ‖x⁻¹‖_p
    lstsq(a, b, rcond):    x = a⁺ b (singular values below rcond · s_max cut), the squared residuals when a has
                           full column rank and more rows, the rank, a's singular values: NumPy's values (LAPACK's
                           gelsd), differentiated as these expressions
    tensorsolve(a, b):     x with tensordot(a, x, x.ndim) = b: a solve of a's matrix form
    tensorinv(a, ind):     the inverse of a's matrix form, shaped a.shape[ind:] + a.shape[:ind]
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Primitive, Tensor, _data
from . import linalg as la
from . import reductions as rd
from . import shape as sh

__all__ = ["cond", "lstsq", "tensorsolve", "tensorinv"]


def cond(x: Any, p: Any = None) -> Any:
    """``np.linalg.cond``. A singular matrix's condition number is ∞ in NumPy; its gradient is not defined, and
    is refused for a Tensor that requires grad."""
    if not getattr(x, "requires_grad", False):  # a constant: NumPy's own (∞ for a singular matrix)
        return Tensor(np.linalg.cond(_data(x), p)) if isinstance(x, Tensor) else np.linalg.cond(x, p)
    if p in (None, 2, -2):
        s = la.svd(x, compute_uv=False)
        values = _data(s)
        if np.any(values[..., -1] == 0):
            raise np.linalg.LinAlgError("cond: the matrix is singular (its condition number is inf), so it has "
                                        "no gradient")
        first, last = sh.getitem(s, (Ellipsis, 0)), sh.getitem(s, (Ellipsis, -1))
        return last / first if p == -2 else first / last
    square = np.shape(x)[-2:]
    if len(square) < 2 or square[0] != square[1]:
        raise np.linalg.LinAlgError(f"cond: p={p!r} needs square matrices, not {np.shape(x)}")
    r = la.norm(x, p, axis=(-2, -1)) * la.norm(la.inv(x), p, axis=(-2, -1))
    undefined = np.isnan(_data(r)) & ~np.isnan(_data(x)).any(axis=(-2, -1))
    return sh.where(undefined, np.inf, r) if np.any(undefined) else r  # NumPy's: NaN from an inf entry is ∞


def lstsq(a: Any, b: Any, rcond: Any = None) -> tuple:
    """``np.linalg.lstsq``: (x, residuals, rank, s). x is a⁺b, differentiable where the rank does not change nearby
    (as ``pinv``'s); the rank is an int."""
    m, n = np.shape(a)[-2:]
    if np.ndim(a) != 2 or np.ndim(b) not in (1, 2) or np.shape(b)[0] != m:
        raise np.linalg.LinAlgError(f"lstsq: a must be a matrix and b a vector or a matrix with as many rows "
                                    f"({m}), not {np.shape(a)} and {np.shape(b)}")
    cut = np.finfo(np.result_type(_data(a).dtype, np.float32)).eps * max(m, n) if rcond is None else rcond
    # NumPy's solution, rank, and whether it has residuals (LAPACK's SVD hangs on an infinite entry: refused first)
    exact, residuals, rank, values = np.linalg.lstsq(la._finite("lstsq", _data(a)), _data(b), rcond=cut)
    x = _as_lapack_gives(la.matmul(la.pinv(a, rcond=cut), b), exact)
    if isinstance(x, Tensor) or np.size(residuals):  # (none, empty: rank-deficient, or not more rows than columns)
        squares = rd.sum(abs(la.matmul(a, x) - b) ** 2, axis=0)
        squares = sh.reshape(squares, (1,)) if np.ndim(b) == 1 else squares
        residuals = _as_lapack_gives(squares, residuals) if np.size(residuals) else sh.getitem(squares, slice(0, 0))
    return x, residuals, int(rank), _as_lapack_gives(la.svd(a, compute_uv=False), values)


# NumPy's values (LAPACK's gelsd, to the last bit), differentiated as the expression (a⁺b, its residuals, the singular
# values) they equal
_as_lapack_gives = Primitive("lstsq", lambda expression, exact: exact).defvjp(lambda g, ans, expr, exact: g, None)


def tensorsolve(a: Any, b: Any, axes: Any = None) -> Any:
    """``np.linalg.tensorsolve``: x with ``tensordot(a, x, x.ndim) == b`` (``axes``: a's axes moved to the end
    first)."""
    nd = np.ndim(a)
    if axes is not None:
        moved = sh._axes(axes, nd)
        a = sh.transpose(a, tuple(k for k in range(nd) if k not in moved) + moved)
    shape = np.shape(a)[np.ndim(b):]
    size = int(np.prod(shape))
    if np.size(a) != size * size:
        raise np.linalg.LinAlgError(f"tensorsolve: a {np.shape(a)} is not square over b's shape {np.shape(b)} and "
                                    f"the rest {shape}")
    return sh.reshape(la.solve(sh.reshape(a, (size, size)), sh.ravel(b)), shape)


def tensorinv(a: Any, ind: int = 2) -> Any:
    """``np.linalg.tensorinv``: the inverse of a's matrix form (the first ``ind`` axes its rows)."""
    if ind <= 0:
        raise ValueError("tensorinv: ind must be a positive integer")
    shape = np.shape(a)
    rows = int(np.prod(shape[ind:]))
    return sh.reshape(la.inv(sh.reshape(a, (rows, -1))), shape[ind:] + shape[:ind])

