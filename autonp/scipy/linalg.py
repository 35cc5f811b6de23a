"""``scipy.linalg`` with gradients for ``solve_triangular``, ``solve_banded``, ``sqrtm``, ``solve_sylvester`` and
``cholesky``
(``lower=False`` gives the upper factor, as SciPy); ``inv``, ``det`` and ``solve`` are autonp's. Everything
else is SciPy's own: on a Tensor that requires grad it refuses rather than drop the gradient.

    solve_triangular: x = op(A)⁻¹ b;  ḡ_b = op(A)⁻ᵀ ḡ,  ḡ_A = −tri(ḡ_b xᵀ) (or its transpose for op = ᵀ)
    solve_sylvester:  A X + X B = Q;  Y = solve_sylvester(Aᵀ, Bᵀ, ḡ): ḡ_Q = Y, ḡ_A = −Y Xᵀ, ḡ_B = −Xᵀ Y
    sqrtm:            S² = A, so S dS + dS S = dA:  ḡ_A = solve_sylvester(Sᵀ, Sᵀ, ḡ)
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as _sl
from scipy.linalg import *  # noqa: F403

from ..ops import cholesky as _cholesky
from ..ops import det, getitem, inv, reshape, solve, swapaxes, tril, triu, where  # noqa: F401 - det, inv, solve
from ..tensor import Primitive, Tensor

_TRANS = {0: 0, "N": 0, 1: 1, "T": 1, 2: 1, "C": 1}


def _solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, **kwargs):
    return _sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal, **kwargs)


def _st_vjp_b(g, ans, a, b, trans=0, lower=False, unit_diagonal=False, **kwargs):
    return solve_triangular(a, g, trans=1 - _TRANS[trans], lower=lower, unit_diagonal=unit_diagonal)


def _st_vjp_a(g, ans, a, b, trans=0, lower=False, unit_diagonal=False, **kwargs):
    gb = _st_vjp_b(g, ans, a, b, trans, lower, unit_diagonal)
    x, gb = (ans, gb) if ans.ndim == 2 else (ans[:, None], gb[:, None])
    outer = -(gb @ swapaxes(x, -1, -2)) if _TRANS[trans] == 0 else -(x @ swapaxes(gb, -1, -2))
    tri = tril(outer, -1 if unit_diagonal else 0) if lower else triu(outer, 1 if unit_diagonal else 0)
    return tri


solve_triangular = Primitive("solve_triangular", _solve_triangular).defvjp(_st_vjp_a, _st_vjp_b)
solve_triangular.rule = "reads one triangle of a; its gradient stays in that triangle"


def _sylvester_vjps(i):
    def vjp(g, ans, a, b, q):
        y = solve_sylvester(swapaxes(a, 0, 1), swapaxes(b, 0, 1), g)
        return [lambda: -(y @ swapaxes(ans, 0, 1)), lambda: -(swapaxes(ans, 0, 1) @ y), lambda: y][i]()
    return vjp


solve_sylvester = Primitive("solve_sylvester", _sl.solve_sylvester).defvjp(*(_sylvester_vjps(i) for i in range(3)))


def _band_transpose_index(l_and_u, n):
    """Where Aᵀ's band storage (bands (u, l)) takes each entry of A's (bands (l, u)), and which are inside:
    abᵀ[r, j] = ab[u + l − r, j + r − l]."""
    lo, up = l_and_u
    r, j = np.meshgrid(np.arange(lo + up + 1), np.arange(n), indexing="ij")
    cols = j + r - lo
    inside = (cols >= 0) & (cols < n)
    return (up + lo - r, np.clip(cols, 0, n - 1)), inside


def _band_of(full, l_and_u):
    """The band storage of a full matrix's bands: ab[u + i − j, j] = A[i, j]."""
    n, up = np.shape(full)[-1], l_and_u[1]
    r, j = np.meshgrid(np.arange(sum(l_and_u) + 1), np.arange(n), indexing="ij")
    rows = r - up + j
    inside = (rows >= 0) & (rows < n)
    return where(inside, getitem(full, (np.clip(rows, 0, n - 1), j)), 0.0)


def _solve_banded(l_and_u, ab, b, **kwargs):
    return _sl.solve_banded(tuple(l_and_u), ab, b, **kwargs)


def _sb_transposed(l_and_u, ab, g):
    index, inside = _band_transpose_index(l_and_u, np.shape(ab)[-1])
    ab_t = where(inside, getitem(ab, index), 0.0)
    return solve_banded((l_and_u[1], l_and_u[0]), ab_t, g)


def _sb_vjp_ab(g, ans, l_and_u, ab, b, **kwargs):
    y = _sb_transposed(l_and_u, ab, g)
    y2, x2 = (y, ans) if np.ndim(ans) == 2 else (reshape(y, (-1, 1)), reshape(ans, (-1, 1)))
    return _band_of(-(y2 @ swapaxes(x2, 0, 1)), l_and_u)


solve_banded = Primitive("solve_banded", _solve_banded).defvjp(
    None, _sb_vjp_ab, lambda g, ans, l_and_u, ab, b, **kwargs: _sb_transposed(l_and_u, ab, g))
solve_banded.rule = "ab in band storage; its gradient stays in the band"


def _sqrtm(a):
    return _sl.sqrtm(a)


sqrtm = Primitive("sqrtm", _sqrtm).defvjp(
    lambda g, ans, a: solve_sylvester(swapaxes(ans, 0, 1), swapaxes(ans, 0, 1), g))
sqrtm.complex_ok = solve_sylvester.complex_ok = True  # transposes, no conjugates: HIPS's complex convention


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor: lower (L Lᵀ = a) or, by default as SciPy, upper (Uᵀ U = a)."""
    if not isinstance(a, Tensor):
        return _sl.cholesky(a, lower=lower, overwrite_a=overwrite_a, check_finite=check_finite)
    factor = _cholesky(a)
    return factor if lower else swapaxes(factor, -1, -2)


def __getattr__(name: str):
    return getattr(_sl, name)
