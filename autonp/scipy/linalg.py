"""``scipy.linalg`` with gradients for ``solve_triangular``, ``solve_banded``, ``sqrtm``, ``solve_sylvester``,
``cholesky`` (``lower=False`` gives the upper factor from a's upper triangle, as SciPy) and ``solve`` (its
``assume_a`` structures read part of a, and so does the gradient); ``inv`` and ``det`` are autonp's; the matrices
built from entries (``toeplitz``, ``hankel``, ``circulant``, ``block_diag``) gather them. Everything else is SciPy's
own: on a Tensor that requires grad it refuses rather than drop the gradient.

    solve_triangular: x = op(A)⁻¹ b;  ḡ_b = op(A)⁻ᵀ ḡ,  ḡ_A = −tri(ḡ_b xᵀ) (or its transpose for op = ᵀ)
    solve_sylvester:  A X + X B = Q;  Y = solve_sylvester(Aᵀ, Bᵀ, ḡ): ḡ_Q = Y, ḡ_A = −Y Xᵀ, ḡ_B = −Xᵀ Y
    sqrtm:            S² = A, so S dS + dS S = dA:  ḡ_A = solve_sylvester(Sᵀ, Sᵀ, ḡ)
"""
from __future__ import annotations

import functools
import sys

import numpy as np
import scipy.linalg as _sl
from scipy.linalg import *  # noqa: F403

from ..ops import cholesky as _cholesky
from ..ops import concatenate, conj, det, getitem, inv, reshape, swapaxes, tril, triu, where  # noqa: F401 - det, inv
from ..ops import solve as _solve
from ..ops.shape import unbroadcast
from ..tensor import Primitive, Tensor

_TRANS = {0: 0, "N": 0, 1: 1, "T": 1, 2: 1, "C": 1}


def _traceable(fn):
    """A SciPy function as a primitive's forward. SciPy converts its arguments with np.asarray, which anp.compile's
    trace cannot follow: on a trace's stand-ins the call is recorded whole, and every replay makes it again on its
    own values. (The compiler is loaded only when asked for: until then nothing can be traced.)"""
    @functools.wraps(fn)
    def forward(*args, **kwargs):
        trace = sys.modules.get("autonp.compiler._trace")
        if trace is not None and trace._state.program is not None and any(isinstance(a, trace.Sym) for a in args):
            return trace.record("call", fn, args, kwargs)
        return fn(*args, **kwargs)
    return forward


_st, _sylvester, _banded, _sqrt, _solve_scipy = map(_traceable, (_sl.solve_triangular, _sl.solve_sylvester,
                                                                 _sl.solve_banded, _sl.sqrtm, _sl.solve))


def _solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, **kwargs):
    return _st(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal, **kwargs)


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


solve_sylvester = Primitive("solve_sylvester", _sylvester).defvjp(*(_sylvester_vjps(i) for i in range(3)))


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
    return _banded(tuple(l_and_u), ab, b, **kwargs)


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
    return _sqrt(a)


sqrtm = Primitive("sqrtm", _sqrtm).defvjp(
    lambda g, ans, a: solve_sylvester(swapaxes(ans, 0, 1), swapaxes(ans, 0, 1), g))
sqrtm.complex_ok = solve_sylvester.complex_ok = True  # transposes, no conjugates: HIPS's complex convention


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor: lower (L Lᵀ = a, from a's lower triangle) or, by default as SciPy, upper (Uᵀ U = a, from
    a's upper triangle)."""
    if not isinstance(a, Tensor):
        return _sl.cholesky(a, lower=lower, overwrite_a=overwrite_a, check_finite=check_finite)
    _check_finite("cholesky", check_finite, a)
    return _cholesky(a) if lower else _cholesky(a, upper=True)


def _check_finite(who: str, check: bool, *arrays) -> None:
    """SciPy's ``check_finite``: its own functions refuse infinities and NaNs; autonp's NumPy paths must too."""
    if check and not all(np.all(np.isfinite(a.data if isinstance(a, Tensor) else a)) for a in arrays):
        raise ValueError(f"scipy.linalg.{who}: array must not contain infs or NaNs (check_finite=True, as SciPy)")


_READS = {"sym": "triangle", "symmetric": "triangle", "pos": "triangle", "positive definite": "triangle",
          "her": "triangle", "hermitian": "triangle",  # (real values: complex ones are refused by scipy_solve)
          "diagonal": "diagonal", "tridiagonal": "tridiagonal",
          "upper triangular": "upper", "lower triangular": "lower"}


def _structured(a, assume_a, lower):
    """The matrix SciPy's solver for ``assume_a`` reads: a symmetric one from one triangle ('sym', 'her', 'pos'), the
    diagonal, the three middle bands, or one triangle ('upper/lower triangular'). Others read all of a."""
    reads = _READS.get(assume_a)
    if reads == "triangle":
        half = tril(a) if lower else triu(a)
        return half + swapaxes(tril(a, -1) if lower else triu(a, 1), -1, -2)
    if reads in ("diagonal", "tridiagonal"):
        n = np.shape(a)[-1]
        band = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= (0 if reads == "diagonal" else 1)
        return where(band, a, 0.0)
    if reads in ("upper", "lower"):
        return triu(a) if reads == "upper" else tril(a)
    return a


def _scipy_solve(m, b, assume_a=None, lower=False, transposed=False):
    return _solve_scipy(m, b, lower=lower, assume_a=assume_a, transposed=transposed)


def _ss_vjp_b(g, ans, m, b, assume_a=None, lower=False, transposed=False):
    return unbroadcast(scipy_solve(m, g, assume_a, lower, not transposed), b)


def _ss_vjp_m(g, ans, m, b, assume_a=None, lower=False, transposed=False):
    gb = scipy_solve(m, g, assume_a, lower, not transposed)
    x, gb = (ans, gb) if np.ndim(b) > 1 else (ans[..., None], gb[..., None])
    outer = -(x @ swapaxes(gb, -1, -2)) if transposed else -(gb @ swapaxes(x, -1, -2))
    return unbroadcast(outer, m)


scipy_solve = Primitive("scipy.linalg.solve", _scipy_solve).defvjp(_ss_vjp_m, _ss_vjp_b)
scipy_solve.rule = "of the matrix SciPy's solver reads (see solve); ḡ_b = op(m)⁻ᵀ ḡ, ḡ_m = −ḡ_b xᵀ"


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
          transposed=False):
    """``scipy.linalg.solve``: x with op(a) x = b (op(a) = aᵀ if ``transposed``). With ``assume_a`` 'sym', 'her', 'pos'
    SciPy reads one triangle of a (``lower``), with 'diagonal'/'tridiagonal' its bands, with 'upper/lower
    triangular' one triangle: the gradient reaches those entries only. SciPy's own values (and its errors: a
    matrix that is not positive definite for 'pos'). Without those arguments it is autonp's ``solve``."""
    if not any(isinstance(v, Tensor) for v in (a, b)):
        return _sl.solve(a, b, lower=lower, overwrite_a=overwrite_a, overwrite_b=overwrite_b,
                         check_finite=check_finite, assume_a=assume_a, transposed=transposed)
    if assume_a in (None, "gen", "general", "banded") and not transposed:
        _check_finite("solve", check_finite, a, b)
        return _solve(a, b)
    return scipy_solve(_structured(a, assume_a, lower), b, assume_a, lower, transposed)


def _placing(fn):
    """A SciPy function that builds a matrix by placing its arguments' entries, on Tensors: SciPy run on the entries'
    positions (1, 2, ... through all arguments) says which goes where, in whatever layout and batching this SciPy
    uses, and the result gathers them (so the gradient adds up what each place received). What SciPy fills in
    itself (hankel's default last row, block_diag's off-diagonal blocks) is position 0, a zero."""
    @functools.wraps(fn)
    def placed(*args):
        if not any(isinstance(a, Tensor) for a in args):
            return fn(*args)
        given = [a for a in args if a is not None]
        dtype = np.result_type(*(a.dtype if isinstance(a, Tensor) else np.asarray(a) for a in given))
        positions, start = [], 1
        for a in args:
            size = int(np.size(a.data if isinstance(a, Tensor) else a)) if a is not None else 0
            positions.append(None if a is None else np.arange(start, start + size).reshape(np.shape(a)))
            start += size
        entries = concatenate([np.zeros(1, dtype)] + [reshape(a, -1) for a in given])
        return getitem(entries, fn(*positions))
    return placed


circulant, hankel, block_diag = _placing(_sl.circulant), _placing(_sl.hankel), _placing(_sl.block_diag)
_toeplitz = _placing(_sl.toeplitz)


@functools.wraps(_sl.toeplitz)
def toeplitz(c, r=None):
    # SciPy's default first row is conj(c): given explicitly, so that the gathered entries are conjugated
    return _toeplitz(c, conj(c) if r is None and isinstance(c, Tensor) else r)


class SciPyFunction(Primitive):
    """A SciPy function autonp has no derivative for, a primitive as HIPS makes every one: SciPy's own call (on a
    Tensor that requires grad it refuses, as NumPy's conversion does) until ``defvjp`` gives it derivatives (ssm
    gives ``cholesky_banded`` and ``solveh_banded`` theirs); then it is recorded and differentiated by them."""

    def __init__(self, fn) -> None:
        super().__init__(fn.__name__, _traceable(fn))
        self.__wrapped__ = fn

    def __call__(self, *args, **kwargs):
        return super().__call__(*args, **kwargs) if self.vjps else self.__wrapped__(*args, **kwargs)


for _name in _sl.__all__:  # SciPy's functions this module does not define itself
    _fn = getattr(_sl, _name)
    if globals().get(_name) is _fn and callable(_fn) and not isinstance(_fn, type):
        globals()[_name] = SciPyFunction(_fn)


def __getattr__(name: str):
    return getattr(_sl, name)
