"""Elementwise functions: one row each, the NumPy forward and ∂ans/∂x written with autonp ops
(so that every derivative is itself differentiable: second order comes free).

Kinks: ``abs``/``fabs`` have gradient 0 at 0; ``maximum``/``minimum`` give ½ to each side of a
tie; ``clip`` passes the gradient through at its bounds; ``hypot`` is 0 at (0, 0); sign, floor,
ceil, rint, trunc and round have gradient 0.
"""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Primitive, _data
from ._define import binary, unary
from .shape import unbroadcast, where


def _sign(x):
    return np.sign(_data(x))


def _const(c):
    return lambda x, ans: c


LN2, LN10 = math.log(2.0), math.log(10.0)

# --------------------------------------------------------------------------- exponentials and logarithms

exp = unary("exp", np.exp, lambda x, ans: ans, complex_ok=True)
exp2 = unary("exp2", np.exp2, lambda x, ans: ans * LN2, complex_ok=True)
expm1 = unary("expm1", np.expm1, lambda x, ans: exp(x), complex_ok=True)  # (ans + 1 is 0 at x = −40, where it is 4e-18)
log_ = unary("log", np.log, lambda x, ans: 1.0 / x, complex_ok=True)  # autonp.log (nn.py) adds the log(softmax) rewrite
log2 = unary("log2", np.log2, lambda x, ans: 1.0 / (x * LN2), complex_ok=True)
log10 = unary("log10", np.log10, lambda x, ans: 1.0 / (x * LN10), complex_ok=True)
log1p = unary("log1p", np.log1p, lambda x, ans: 1.0 / (x + 1.0), complex_ok=True)
sqrt = unary("sqrt", np.sqrt, lambda x, ans: 0.5 / ans, rule="∂ = ∞ at 0", complex_ok=True)
cbrt = unary("cbrt", np.cbrt, lambda x, ans: 1.0 / (3.0 * ans * ans), rule="∂ = ∞ at 0")
square = unary("square", np.square, lambda x, ans: 2.0 * x, complex_ok=True)
reciprocal = unary("reciprocal", np.reciprocal, lambda x, ans: -(ans * ans), complex_ok=True)

# --------------------------------------------------------------------------- trigonometric and hyperbolic


def _hypot_1(x):
    """√(x² + 1): hypot(x, 1) for real x (no overflow of x²), the principal root for complex x."""
    return sqrt(x * x + 1.0) if _data(x).dtype.kind == "c" else hypot(x, 1.0)


sin = unary("sin", np.sin, lambda x, ans: cos(x), complex_ok=True)
cos = unary("cos", np.cos, lambda x, ans: -sin(x), complex_ok=True)
tan = unary("tan", np.tan, lambda x, ans: 1.0 + ans * ans, complex_ok=True)
# 1 − x², x² − 1 and x² + 1 as (1 − x)(1 + x), √(x − 1)·√(x + 1) and hypot(x, 1): no cancellation near |x| = 1
# (1 − x·x lost 10 of 16 digits at x = 1 − 1e-9), no overflow of x² for large x (arcsinh's was 0 past 1e154)
arcsin = unary("arcsin", np.arcsin, lambda x, ans: 1.0 / sqrt((1.0 - x) * (1.0 + x)), complex_ok=True)
arccos = unary("arccos", np.arccos, lambda x, ans: -1.0 / sqrt((1.0 - x) * (1.0 + x)), complex_ok=True)
arctan = unary("arctan", np.arctan, lambda x, ans: 1.0 / (1.0 + x * x), complex_ok=True)
sinh = unary("sinh", np.sinh, lambda x, ans: cosh(x), complex_ok=True)
cosh = unary("cosh", np.cosh, lambda x, ans: sinh(x), complex_ok=True)
tanh = unary("tanh", np.tanh, lambda x, ans: 1.0 - ans * ans, complex_ok=True)
arcsinh = unary("arcsinh", np.arcsinh, lambda x, ans: 1.0 / _hypot_1(x), complex_ok=True)
arccosh = unary("arccosh", np.arccosh, lambda x, ans: 1.0 / (sqrt(x - 1.0) * sqrt(x + 1.0)),
                complex_ok=True)
arctanh = unary("arctanh", np.arctanh, lambda x, ans: 1.0 / ((1.0 - x) * (1.0 + x)), complex_ok=True)
deg2rad = unary("deg2rad", np.deg2rad, _const(math.pi / 180))
rad2deg = unary("rad2deg", np.rad2deg, _const(180 / math.pi))


def _sinc_derivative(x, ans):
    """(cos πx − sinc x)/x; near 0 its Taylor series −π²x/3 + π⁴x³/30 − π⁶x⁵/840 (differentiable there too)."""
    small = np.abs(_data(x)) < 1e-3
    safe_x = where(small, 1.0, x)
    exact = (cos(math.pi * x) - ans) / safe_x
    x2 = x * x
    series = x * (-math.pi ** 2 / 3 + x2 * (math.pi ** 4 / 30 - x2 * (math.pi ** 6 / 840)))
    return where(small, series, exact)


sinc = unary("sinc", np.sinc, _sinc_derivative)

# --------------------------------------------------------------------------- signs and rounding

def _abs_derivative(x, ans):
    """sign(x); of complex z (|z| is not holomorphic; HIPS's convention) conj(z)/|z|. 0 at 0."""
    return _safe_ratio(conj(x), ans) if _data(x).dtype.kind == "c" else _sign(x)


abs = unary("abs", np.abs, _abs_derivative, rule="subgradient 0 at 0", complex_ok=True)  # noqa: A001
fabs = unary("fabs", np.fabs, lambda x, ans: _sign(x), rule="subgradient 0 at 0")
positive = unary("positive", np.positive, _const(1.0), complex_ok=True)
sign = unary("sign", np.sign, None)


def _angle_vjp(g, ans, z, deg=False):
    """Of complex z = x + iy, arg z = atan2(y, x): ∂x − i·∂y = −i·conj(z)/|z|² (0 at 0); of a real number
    (0 or π) 0."""
    if _data(z).dtype.kind != "c":
        return g * 0.0
    r2 = real(z * conj(z))
    zero = _data(r2) == 0
    d = where(zero, 0.0, -1j * conj(z) / where(zero, 1.0, r2))
    return g * (d * (180 / math.pi) if deg else d)


angle = Primitive("angle", lambda z, deg=False: np.angle(z, deg)).defvjp(_angle_vjp)
angle.rule = "of a real number: 0 or π, gradient 0; of complex z: 0 at 0"
angle.complex_ok = True

# --------------------------------------------------------------------------- complex parts (HIPS's convention)
# real(z) = x passes g back as it is; imag(z) = y passes −i·g (∂u/∂x − i·∂u/∂y with u = g·y); conj(z) = x − iy
# passes conj(g). Of real values: x itself, 0·x and x, as NumPy's.

real_ = Primitive("real", np.real).defvjp(lambda g, ans, z: g * 1.0)
imag_ = Primitive("imag", np.imag).defvjp(lambda g, ans, z: g * -1j)
conj_ = Primitive("conj", np.conjugate)
conj_.defvjp(lambda g, ans, z: conj_(g))
real_if_close_ = Primitive("real_if_close", lambda z, tol=100: np.real_if_close(z, tol)).defvjp(
    lambda g, ans, z, tol=100: g * 1.0)
for _p in (real_, imag_, conj_, real_if_close_):
    _p.complex_ok = True


def _is_complex(x) -> bool:
    return np.iscomplexobj(_data(x))


def real(x):
    """``np.real``: Re z; a real x itself."""
    return real_(x) if _is_complex(x) else x


def imag(x):
    """``np.imag``: Im z; of a real x, 0·x."""
    return imag_(x) if _is_complex(x) else 0.0 * x


def conj(x):
    """``np.conj``: x − iy; a real x itself (``positive``)."""
    return conj_(x) if _is_complex(x) else positive(x)


def real_if_close(x, tol=100):
    """``np.real_if_close``: Re z when every imaginary part is within ``tol`` machine epsilons of 0."""
    return real_if_close_(x, tol) if _is_complex(x) else x


real.primitive, imag.primitive, conj.primitive, real_if_close.primitive = real_, imag_, conj_, real_if_close_

# --------------------------------------------------------------------------- rounding

floor = unary("floor", np.floor, None)
ceil = unary("ceil", np.ceil, None)
rint = unary("rint", np.rint, None)
trunc = unary("trunc", np.trunc, None)


def _round(x, decimals=0):
    return np.round(x, decimals)


round = Primitive("round", _round).defvjp(lambda g, ans, x, decimals=0: g * 0.0)  # noqa: A001
round.rule = "gradient 0 (piecewise constant)"


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """Finite entries pass their gradient through; replaced NaN/±Inf entries get 0."""
    arr = _data(x)
    return where(np.isfinite(arr), x, np.nan_to_num(arr, nan=nan, posinf=posinf, neginf=neginf))

# --------------------------------------------------------------------------- two arguments


def _balanced(a, b):
    """Where a > b: 1, where a == b: ½ (ties share the gradient), else 0."""
    a, b = _data(a), _data(b)
    return (a > b) + 0.5 * (a == b)


def _f_balanced(a, b):
    """Like ``_balanced``, and a NaN on the other side counts as losing (fmax/fmin ignore NaN)."""
    a, b = _data(a), _data(b)
    return (a > b) + 0.5 * (a == b) + (np.isnan(b) & ~np.isnan(a))


maximum = binary("maximum", np.maximum, lambda x, y, ans: _balanced(x, y), lambda x, y, ans: _balanced(y, x),
                 rule="ties give ½ to each side")
minimum = binary("minimum", np.minimum, lambda x, y, ans: _balanced(y, x), lambda x, y, ans: _balanced(x, y),
                 rule="ties give ½ to each side")
fmax = binary("fmax", np.fmax, lambda x, y, ans: _f_balanced(x, y), lambda x, y, ans: _f_balanced(y, x),
              rule="ties give ½; a NaN side gets 0")
fmin = binary("fmin", np.fmin, lambda x, y, ans: _f_balanced(-_data(x), -_data(y)),
              lambda x, y, ans: _f_balanced(-_data(y), -_data(x)), rule="ties give ½; a NaN side gets 0")


def _safe_ratio(a, ans):
    """a / ans, 0 where ans is 0 (hypot at the origin)."""
    zero = _data(ans) == 0
    return where(zero, 0.0, a / where(zero, 1.0, ans))


hypot = binary("hypot", np.hypot, lambda x, y, ans: _safe_ratio(x, ans), lambda x, y, ans: _safe_ratio(y, ans),
               rule="gradient 0 at (0, 0)")
# ∂ arctan2(y, x) = (x, −y)/(x² + y²), as (x/r)/r with r = hypot(x, y): x² + y² underflowed to 0 for entries of
# 1e-200 (the gradient was ±∞ for ±4e199) and overflowed for 1e200 (0 for 3e-201)
def _over_r2(a, y, x):
    r = hypot(x, y)
    return a / r / r


arctan2 = binary("arctan2", np.arctan2, lambda y, x, ans: _over_r2(x, y, x), lambda y, x, ans: _over_r2(-y, y, x))
def _share(x, y, scale=1.0):
    """∂/∂x of log(eˣ + eʸ) (``scale`` 1) or log₂(2ˣ + 2ʸ) (ln 2): σ((x − y)·scale). exp(x − ans) would carry ans's
    rounding, an ulp of max(x, y), into the exponent: 0.07% off at x ≈ 5.8e13."""
    from .nn import sigmoid
    return sigmoid((x - y) * scale)


logaddexp = binary("logaddexp", np.logaddexp, lambda x, y, ans: _share(x, y), lambda x, y, ans: _share(y, x))
logaddexp2 = binary("logaddexp2", np.logaddexp2, lambda x, y, ans: _share(x, y, np.log(2.0)),
                    lambda x, y, ans: _share(y, x, np.log(2.0)))


def _clip(x, lo=None, hi=None):
    return np.clip(x, lo, hi)


def _inside(x, lo, hi):
    """Where x lies within the bounds (NaN does not), in the shape x and the bounds broadcast to."""
    x = _data(x)
    m = np.ones_like(x, dtype=bool)
    if lo is not None:
        m = m & (x >= lo)
    if hi is not None:
        m = m & (x <= hi)
    return m


clip_ = Primitive("clip", _clip).defvjp(lambda g, ans, x, lo=None, hi=None: unbroadcast(g * _inside(x, lo, hi), x))
clip_.rule = "gradient passes through at the bounds"


def clip(x, a_min=None, a_max=None, out=None, *, min=None, max=None, lo=None, hi=None):  # noqa: A002
    """``np.clip``; the bounds are constants (a bound that requires grad is refused)."""
    if out is not None:
        raise TypeError("clip: out= is not supported by autonp (it would write outside the tape)")
    lo = next((b for b in (a_min, min, lo) if b is not None), None)
    hi = next((b for b in (a_max, max, hi) if b is not None), None)
    for b in (lo, hi):
        if getattr(b, "requires_grad", False):
            raise TypeError("clip: bounds that require grad are not differentiable here; use "
                            "anp.minimum(anp.maximum(x, lo), hi)")
    return clip_(x, lo=_data(lo), hi=_data(hi))


clip.primitive = clip_

