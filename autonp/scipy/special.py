"""``scipy.special`` with gradients: each function's SciPy forward and its derivative, written with these
functions and autonp ops (so second derivatives come free). One row per function.

Orders and other integer parameters (``n`` of ``polygamma``/``yn``, ``d`` of ``multigammaln``) carry no
gradient. Where a derivative has no closed form here — the real order ``v`` of ``iv``/``ive`` and ``jn`` (SciPy's
``jn`` is ``jv``: a fractional order is taken as it is), the shape
parameters of ``betainc``/``gammainc``/``gammaincc`` — differentiating in it is refused (an error naming the op),
never a silent zero. The ufuncs among these also differentiate when SciPy's own are called on a Tensor.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

from ..ops import exp, expm1, log, log1p, sign, trunc
from ..ops import log_softmax as _log_softmax
from ..ops import softmax as _softmax
from ..ops._define import binary, unary
from ..ops.nn import _finite_max
from ..ops.numpy_api import UFUNCS
from ..ops.reductions import _keepdims_shape
from ..ops.reductions import sum as sum_
from ..ops.shape import broadcast_to, reshape, unbroadcast, where
from ..tensor import Primitive, Tensor, _data, _is_stand_in, as_array

SQRT_PI, SQRT_2PI = math.sqrt(math.pi), math.sqrt(2 * math.pi)


def _wrt_x(name: str, forward, dx, nargs: int, rule: str) -> Primitive:
    """A primitive differentiable in its last argument only (the others: refused if they require grad)."""
    def vjp_x(g, ans, *args):
        return unbroadcast(g * dx(*args, ans), args[-1])
    prim = Primitive(name, forward, (None,) * (nargs - 1) + (vjp_x,))
    prim.rule = rule
    return prim


# --------------------------------------------------------------------------- gamma and beta functions

def _polygamma(n, x):
    """ψ⁽ⁿ⁾(x) = (−1)ⁿ⁺¹ n! ζ(n+1, x) (ψ for n = 0), as SciPy computes it — from ufuncs only, so that
    anp.compile's tracer can follow it (SciPy's polygamma converts its arguments with asarray)."""
    return np.where(n == 0, sc.psi(x), (-1.0) ** (n + 1) * sc.gamma(n + 1.0) * sc.zeta(n + 1.0, x))


polygamma = binary("polygamma", _polygamma, None, lambda n, x, ans: polygamma(n + 1, x),
                   rule="n: integer order, no gradient")
psi = unary("psi", sc.psi, lambda x, ans: polygamma(1, x))
digamma = unary("digamma", sc.digamma, lambda x, ans: polygamma(1, x))
gammaln = unary("gammaln", sc.gammaln, lambda x, ans: digamma(x))
gamma = unary("gamma", sc.gamma, lambda x, ans: ans * digamma(x))
rgamma = unary("rgamma", sc.rgamma, lambda x, ans: -ans * digamma(x))
gammasgn = unary("gammasgn", sc.gammasgn, None)
_PSI_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)  # B₂ₖ/(2k), k = 1..7


def _psi_gap(x, d):
    """ψ(x + d) − ψ(x). Where x and x + d are both ≥ 10, from ψ's asymptotic series ln x − 1/(2x) − Σ B₂ₖ/(2k x²ᵏ)
    term by term, each difference without cancellation: log1p(d/x), d/(2x(x + d)), x⁻²ᵏ·(−expm1(−2k·log1p(d/x)))
    (seven terms: below 1e-16 relative from 10 on). The plain difference of two ψ's cancels as they grow: the
    gradient of betaln(a, 2) was 9e-8 off relative at a = 1e8 and 0 at 1e15 (−2e-15)."""
    xd, dd = _data(x), _data(d)
    far = (xd >= 10.0) & (xd + dd >= 10.0)
    xs, ds = where(far, x, 10.0), where(far, d, 1.0)
    r = log1p(ds / xs)
    gap = r + ds / (2.0 * xs * (xs + ds))
    for k, c in enumerate(_PSI_SERIES, start=1):
        gap = gap - c * xs ** (-2.0 * k) * expm1(-2.0 * k * r)
    return where(far, gap, digamma(x + d) - digamma(x))


_LGAMMA_SERIES = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)  # B₂ₖ/(2k(2k − 1))


def _lgamma_gap_value(x, d):
    """log Γ(x + d) − log Γ(x): where both are ≥ 10, Stirling's series term by term, (x − ½)·log1p(d/x)
    + d·log(x + d) − d + Σ cₖ·x^(1−2k)·expm1((1 − 2k)·log1p(d/x)); the plain difference of two log Γ of ~x·log x
    lost 9 digits at x = 5e7 (Student's t with 1e8 degrees of freedom)."""
    far = (x >= 10.0) & (x + d >= 10.0)
    xs, ds = np.where(far, x, 10.0), np.where(far, d, 1.0)
    r = np.log1p(ds / xs)
    gap = (xs - 0.5) * r + ds * np.log(xs + ds) - ds
    for k, c in enumerate(_LGAMMA_SERIES, start=1):
        gap = gap + c * xs ** (1.0 - 2.0 * k) * np.expm1((1.0 - 2.0 * k) * r)
    return np.where(far, gap, sc.gammaln(x + d) - sc.gammaln(x))


_lgamma_gap = Primitive("lgamma_gap", _lgamma_gap_value).defvjp(
    lambda g, ans, x, d: unbroadcast(g * _psi_gap(x, d), x), lambda g, ans, x, d: unbroadcast(g * digamma(x + d), d))
_lgamma_gap.rule = "log Γ(x + d) − log Γ(x), accurate for large x (Student's t); ∂x = ψ(x + d) − ψ(x) (_psi_gap)"


beta = binary("beta", sc.beta, lambda a, b, ans: -ans * _psi_gap(a, b), lambda a, b, ans: -ans * _psi_gap(b, a))
betaln = binary("betaln", sc.betaln, lambda a, b, ans: -_psi_gap(a, b), lambda a, b, ans: -_psi_gap(b, a))


def _multigammaln(a, d):
    """SciPy's; on a compile stand-in (which SciPy would convert with asarray) its definition,
    d(d−1)/4 · log π + Σⱼ gammaln(a + (1 − j)/2), after SciPy's check of the domain a > (d − 1)/2."""
    if not _is_stand_in(a):
        return sc.multigammaln(a, d)
    if np.any(a <= 0.5 * (d - 1)):
        raise ValueError(f"multigammaln: a must be greater than (d - 1)/2 = {0.5 * (d - 1)}, as SciPy requires")
    return d * (d - 1) * 0.25 * np.log(np.pi) + sum(sc.gammaln(a + (1.0 - j) / 2.0) for j in range(1, int(d) + 1))


def _multigammaln_vjp(g, ans, a, d):
    return g * sum(digamma(a + (1.0 - j) / 2.0) for j in range(1, int(d) + 1))


multigammaln = Primitive("multigammaln", _multigammaln).defvjp(_multigammaln_vjp, None)
multigammaln.rule = "d: integer dimension, no gradient"




def _stirlerr(n):
    """log n! − (n + ½)·log n + n − ½·log 2π for n > 15: Stirling's series Σ cₖ·n^(1−2k) (Loader, "Fast and accurate
    computation of binomial probabilities", 2000), by Horner's rule in 1/n²."""
    nn, total = n * n, 0.0
    for c in reversed(_LGAMMA_SERIES):
        total = c + total / nn
    return total / n


def _bd0(k, lam):
    """k·log(k/λ) + λ − k (Loader's bd0), where |k − λ| < 0.1(k + λ) as the series 2k·Σ v^(2j+1)/(2j + 1) − (k − λ)v
    with v = (k − λ)/(k + λ) (ten terms: |v| < 0.1), whose terms do not cancel."""
    near = np.abs(_data(k) - _data(lam)) < 0.1 * (_data(k) + _data(lam))
    ln = where(near, lam, k)
    v = (k - ln) / (k + ln)
    total, term, v2 = (k - ln) * v, 2.0 * k * v, v * v
    for j in range(1, 11):
        term = term * v2
        total = total + term / (2 * j + 1)
    return where(near, total, k * log(k / lam) + lam - k)


def _gamma_density(a, x):
    """x^(a−1)·e^(−x)/Γ(a), the derivative of gammainc in x. For a > 16 as exp(−stirlerr(a − 1) − bd0(a − 1, x))
    /√(2π(a − 1)) (Loader's Poisson density at k = a − 1, λ = x): exp((a − 1)·log x − x − log Γ(a)) subtracts
    numbers of ~a·log a, and lost digits as a·ε (7e-11 relative at a = 1e5, 1e-6 at 1e9)."""
    k = _data(a) - 1.0
    big = k > 15.0
    kb = np.where(big, k, 16.0)
    loader = exp(-_stirlerr(kb) - _bd0(kb, x)) / np.sqrt(2 * np.pi * kb)
    return where(big, loader, exp((a - 1.0) * log(x) - x - gammaln(a)))


def _beta_density(a, b, x):
    """x^(a−1)(1 − x)^(b−1)/B(a, b), the derivative of betainc in x. For a, b > 16 as Loader's binomial density
    (k = a − 1 of n = a + b − 2 at p = x) times a + b − 1; the exponent (a − 1)·log x + (b − 1)·log(1 − x) − log B
    subtracts numbers of ~(a + b)·log(a + b), and lost digits as (a + b)·ε (6e-10 relative at a = b = 1e5)."""
    k, m = _data(a) - 1.0, _data(b) - 1.0
    big = (k > 15.0) & (m > 15.0)
    kb, mb = np.where(big, k, 16.0), np.where(big, m, 16.0)
    n = kb + mb
    lc = _stirlerr(n) - _stirlerr(kb) - _stirlerr(mb) - _bd0(kb, n * x) - _bd0(mb, n * (1.0 - x))
    loader = (n + 1.0) * exp(lc) / np.sqrt(2 * np.pi * kb * mb / n)
    return where(big, loader, exp((a - 1.0) * log(x) + (b - 1.0) * log1p(-x) - betaln(a, b)))


betainc = _wrt_x("betainc", sc.betainc, lambda a, b, x, ans: _beta_density(a, b, x), 3,
                 "gradient in x only (a, b refused)")
gammainc = _wrt_x("gammainc", sc.gammainc, lambda a, x, ans: _gamma_density(a, x), 2, "gradient in x only (a refused)")
gammaincc = _wrt_x("gammaincc", sc.gammaincc, lambda a, x, ans: -_gamma_density(a, x), 2,
                   "gradient in x only (a refused)")

# --------------------------------------------------------------------------- error function and normal CDF

erf = unary("erf", sc.erf, lambda x, ans: (2.0 / SQRT_PI) * exp(-x * x), complex_ok=True)
erfc = unary("erfc", sc.erfc, lambda x, ans: (-2.0 / SQRT_PI) * exp(-x * x), complex_ok=True)
erfinv = unary("erfinv", sc.erfinv, lambda x, ans: (SQRT_PI / 2.0) * exp(ans * ans))
erfcinv = unary("erfcinv", sc.erfcinv, lambda x, ans: (-SQRT_PI / 2.0) * exp(ans * ans))
ndtr = unary("ndtr", sc.ndtr, lambda x, ans: exp(-0.5 * x * x) / SQRT_2PI)


def _erfcx_derivative(x, ans):
    """2x·erfcx(x) − 2/√π; past x = 50, where that difference cancels (its error grows as 4e-16·x²), the asymptotic
    series −(x⁻² − 3/2·x⁻⁴ + 15/4·x⁻⁶ − 105/8·x⁻⁸ + 945/16·x⁻¹⁰)/√π (truncated below 3e-15 relative there)."""
    far = _data(x) > 50.0
    z2 = 1.0 / (where(far, x, 50.0) ** 2)
    series = -z2 * (1.0 - z2 * (1.5 - z2 * (3.75 - z2 * (13.125 - z2 * 59.0625)))) / SQRT_PI
    return where(far, series, 2.0 * x * ans - 2.0 / SQRT_PI)


def _log_ndtr_derivative(x, ans):
    """φ(x)/Φ(x). Below 0 as √(2/π)/erfcx(−x/√2) (Φ(x) = ½e^(−x²/2)·erfcx(−x/√2)): exp(−x²/2 − log Φ(x)) subtracts
    two numbers of ~x²/2 there, and was 1% off at x = −1e7 and 0.4 for 1e9 at x = −1e9. From 0 up as that, where
    log Φ is ~0 (and erfcx(−x/√2) overflows past x = 37)."""
    below = _data(x) < 0
    xb, xa = where(below, x, 0.0), where(below, 0.0, x)
    return where(below, math.sqrt(2.0 / math.pi) / erfcx(-xb / math.sqrt(2.0)),
                 exp(-0.5 * xa * xa - where(below, 0.0, ans)) / SQRT_2PI)


erfcx = unary("erfcx", sc.erfcx, _erfcx_derivative)
log_ndtr = unary("log_ndtr", sc.log_ndtr, _log_ndtr_derivative)
ndtri = unary("ndtri", sc.ndtri, lambda x, ans: SQRT_2PI * exp(0.5 * ans * ans))

# --------------------------------------------------------------------------- logistic and logs

expit = unary("expit", sc.expit, lambda x, ans: ans * (1.0 - ans))
logit = unary("logit", sc.logit, lambda x, ans: 1.0 / (x * (1.0 - x)))


def _x_over(x, d):
    """x/d, and 0 where x = d = 0: x·log y is 0 all along x = 0, so its y-derivative there is 0, at y = 0 too
    (x/y was 0/0 = NaN). Elsewhere x/d as it is, so ∂x of it stays 1/d at x = 0, y ≠ 0."""
    both = (_data(x) == 0) & (_data(d) == 0)
    return where(both, 0.0, x / where(both, 1.0, d))


xlogy = binary("xlogy", sc.xlogy, lambda x, y, ans: log(y), lambda x, y, ans: _x_over(x, y),
               rule="∂y = x/y, 0 at x = y = 0 (x·log y is 0 along x = 0)")
xlog1py = binary("xlog1py", sc.xlog1py, lambda x, y, ans: log1p(y), lambda x, y, ans: _x_over(x, 1.0 + y),
                 rule="∂y = x/(1 + y), 0 at x = 0, y = −1")

# --------------------------------------------------------------------------- Bessel functions

j0 = unary("j0", sc.j0, lambda x, ans: -j1(x))
j1 = unary("j1", sc.j1, lambda x, ans: (j0(x) - jn(2, x)) / 2.0)
y0 = unary("y0", sc.y0, lambda x, ans: -y1(x))
y1 = unary("y1", sc.y1, lambda x, ans: (y0(x) - yn(2, x)) / 2.0)
jn = _wrt_x("jn", sc.jn, lambda n, x, ans: (jn(n - 1, x) - jn(n + 1, x)) / 2.0, 2,
            rule="n: refused (SciPy's jn is jv, of any real order)")
yn = binary("yn", sc.yn, None, lambda n, x, ans: (yn(trunc(n) - 1, x) - yn(trunc(n) + 1, x)) / 2.0,
            rule="n: integer order (SciPy truncates a fraction), no gradient")
i0 = unary("i0", sc.i0, lambda x, ans: i1(x))
i1 = unary("i1", sc.i1, lambda x, ans: (i0(x) + iv(2, x)) / 2.0)
i0e = unary("i0e", sc.i0e, lambda x, ans: i1e(x) - sign(x) * ans)
i1e = unary("i1e", sc.i1e, lambda x, ans: (i0e(x) + ive(2, x)) / 2.0 - sign(x) * ans)
iv = _wrt_x("iv", sc.iv, lambda v, x, ans: (iv(v - 1, x) + iv(v + 1, x)) / 2.0, 2,
            "gradient in x only (the order v refused)")
ive = _wrt_x("ive", sc.ive, lambda v, x, ans: (ive(v - 1, x) + ive(v + 1, x)) / 2.0 - sign(x) * ans, 2,
             "gradient in x only (the order v refused)")

# --------------------------------------------------------------------------- reductions (not ufuncs)


def _logsumexp_b(a, b, axis=None, keepdims=False):
    return _logsumexp_b_saving(a, b, axis, keepdims)[0]


def _logsumexp_b_saving(a, b, axis=None, keepdims=False):
    """log Σ b·exp(a), as SciPy: a term whose weight b is 0 is left out (its a may be +∞, or far above the
    others), the largest a among the rest (m) taken out for stability; a negative sum is NaN. Kept for the
    backward: (m, log Σ b·exp(a − m))."""
    live = b != 0
    a_live = np.where(live, a, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):  # log 0 = −∞, log of a negative sum NaN: SciPy's values
        if a_live.size == 0:  # a sum over no terms
            return np.log(np.sum(a_live * 0.0, axis=axis, keepdims=keepdims)), None
        m = _finite_max(a_live, axis)
        r = np.log(np.sum(np.where(live, b * np.exp(a_live - m), 0.0), axis=axis, keepdims=True))
        out = r + m
    return (out if keepdims else np.squeeze(out, axis=axis)), (m, r)


def _exp_less_lse(a, b, zero, axis, saved, every_term=False):
    """exp(a − logsumexp) for each term — 0 for a term of weight 0 unless ``every_term`` (its exp is not taken:
    0·∞ would be NaN) — as exp((a − m) − log Σ b·exp(a − m)): exp(a − ans) would carry ans's rounding, an ulp of
    the largest a, into the exponent (0.1% of the gradient where a is ~6e13: the fuzzer's long run, seed
    1831439223)."""
    if saved is None:  # recompute, from Tensors under create_graph (m a constant: the weights do not depend on it)
        m = _finite_max(np.where(zero, -np.inf, _data(a)), axis)
        live = exp(where(zero, -np.inf, a) - m)
        total = sum_(b * live, axis=axis, keepdims=True)
        return (live + exp(where(zero, a, -np.inf) - m)) / total if every_term else live / total
    m, r = saved
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp((a - m) - r) if every_term else np.exp(np.where(zero, -np.inf, (a - m) - r))


def _weighted_term(ans, a, b, axis, keepdims):
    """(the result shaped to broadcast against the terms, the terms' shape, each term's weight zero)."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    return reshape(ans, _keepdims_shape(shape, axis)) if not keepdims else ans, shape, _data(b) == 0


def _logsumexp_b_vjp_a(g, ans, a, b, axis=None, keepdims=False, saved=None):
    """∂a = g·b·exp(a − ans); 0 for a term of weight 0."""
    full, _, zero = _weighted_term(ans, a, b, axis, keepdims)
    return unbroadcast(reshape(g, full.shape) * b * _exp_less_lse(a, b, zero, axis, saved), a)


def _logsumexp_b_vjp_b(g, ans, a, b, axis=None, keepdims=False, saved=None):
    """∂b = g·exp(a − ans), for a term of weight 0 too."""
    full, shape, zero = _weighted_term(ans, a, b, axis, keepdims)
    weights = _exp_less_lse(a, b, zero, axis, saved, every_term=True)
    return unbroadcast(broadcast_to(reshape(g, full.shape) * weights, shape), b)


_weighted_logsumexp = Primitive("logsumexp", _logsumexp_b, forward_saving=_logsumexp_b_saving).defvjp(
    _logsumexp_b_vjp_a, _logsumexp_b_vjp_b)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log Σ b·exp(a) over ``axis``, as ``scipy.special.logsumexp`` (the maximum taken out for stability;
    terms of weight ``b`` = 0 left out, whatever their ``a``)."""
    if return_sign:
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            raise TypeError("logsumexp(return_sign=True) is not differentiable in autonp")
        return sc.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)
    if _scipys(a, b):
        return sc.logsumexp(a, axis=axis, b=b, keepdims=keepdims)
    if b is None:
        from ..ops import logsumexp as _lse
        return _lse(a, axis=axis, keepdims=keepdims)
    a, b = (x if isinstance(x, Tensor) else as_array(x) for x in (a, b))
    return _weighted_logsumexp(a, b, axis=axis, keepdims=keepdims)


def _scipys(*xs) -> bool:
    """No Tensor and no compile stand-in among ``xs`` (SciPy's function would convert a stand-in with asarray,
    which a replay cannot follow): SciPy's own function gives the value."""
    return not any(isinstance(x, Tensor) or _is_stand_in(x) for x in xs)


def softmax(x, axis=None):
    """exp(x) / Σ exp(x) over ``axis`` (all elements for ``None``, as SciPy)."""
    if _scipys(x):
        return sc.softmax(x, axis=axis)
    return _softmax(x, axis=axis) if axis is not None else _softmax(x.reshape(-1), axis=0).reshape(x.shape)


def log_softmax(x, axis=None):
    """x − logsumexp(x) over ``axis``."""
    if _scipys(x):
        return sc.log_softmax(x, axis=axis)
    return _log_softmax(x, axis=axis) if axis is not None else _log_softmax(x.reshape(-1), axis=0).reshape(x.shape)


# SciPy's ufuncs called on Tensors (``scipy.special.gammaln(t)``) reach these through __array_ufunc__
PRIMITIVES = {name: value for name, value in globals().items()
              if isinstance(value, Primitive) and value.name == name and name not in ("exp", "log1p", "sign")}
UFUNCS.update({getattr(sc, name): prim for name, prim in PRIMITIVES.items()
               if isinstance(getattr(sc, name, None), np.ufunc)})
