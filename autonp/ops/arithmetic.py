"""Arithmetic: + − × ÷, negation, powers, remainders. Binary ops broadcast like NumPy and sum
the gradient back to each input's shape.

Rules: ``x ** y`` has ∂x = 0 where y = 0 (also at x = 0, as HIPS autograd and PyTorch), and
∂y = x^y·log x, taken as 0 where x = 0 (NaN where a real x < 0: no real derivative there);
``mod``/``fmod`` have ∂x = 1, ∂y = −floor(x/y) (−trunc(x/y)); ``floor_divide`` has gradient 0.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Primitive, Tensor, _data
from ._define import binary
from .elementwise import floor, log_, trunc
from .shape import unbroadcast, where

add = Primitive("add", np.add).defvjp(
    lambda g, ans, x, y: unbroadcast(g, x),
    lambda g, ans, x, y: unbroadcast(g, y))
sub = Primitive("sub", np.subtract).defvjp(
    lambda g, ans, x, y: unbroadcast(g, x),
    lambda g, ans, x, y: unbroadcast(-g, y))
mul = Primitive("mul", np.multiply).defvjp(
    lambda g, ans, x, y: unbroadcast(g * y, x),
    lambda g, ans, x, y: unbroadcast(g * x, y))
div = Primitive("div", np.true_divide).defvjp(           # d(x/y) = dx/y - ans dy/y
    lambda g, ans, x, y: unbroadcast(g / y, x),
    lambda g, ans, x, y: unbroadcast(-g * ans / y, y))
neg = Primitive("neg", np.negative).defvjp(lambda g, ans, x: -g)
add.complex_ok = sub.complex_ok = mul.complex_ok = div.complex_ok = neg.complex_ok = True  # holomorphic


def _power_vjp_x(g, ans, x, y):
    """g·y·x^(y−1); 0 where y = 0 (x⁰ is constant), so 0⁰ gives no 0·∞."""
    if not isinstance(y, (Tensor, np.ndarray)):  # a number
        if y == 0:
            return unbroadcast(g * 0.0, x)
        return unbroadcast(g * y * x ** (y - 1), x)
    yd = _data(y)
    both_zero = (yd == 0) & (_data(x) == 0)
    exponent = where(both_zero, 1.0, y - 1) if both_zero.any() else y - 1
    return unbroadcast(g * y * x ** exponent, x)


def _zero_to_one(x):
    return where(_data(x) == 0, 1.0, x)


def _power_vjp_y(g, ans, x, y):
    """g·x^y·log x, with log 0 taken as 0 (x^y → 0 there for y > 0); NaN at x < 0, where x^y has no real
    derivative in y (as HIPS autograd and PyTorch); a complex power of a real x < 0 takes log x = log|x| + iπ."""
    if np.iscomplexobj(_data(ans)) and not np.iscomplexobj(_data(x)):
        x = x + 0j
    return unbroadcast(g * ans * log_(_zero_to_one(x)), y)


power = Primitive("pow", np.power).defvjp(_power_vjp_x, _power_vjp_y)
power.rule = "∂x = 0 where y = 0; ∂y = x^y·log x: 0 at x = 0, NaN at real x < 0"
power.complex_ok = True

mod = binary("mod", np.mod, lambda x, y, ans: 1.0, lambda x, y, ans: -floor(x / y),
             rule="∂x = 1, ∂y = −floor(x/y) (jumps where x/y is an integer)")
fmod = binary("fmod", np.fmod, lambda x, y, ans: 1.0, lambda x, y, ans: -trunc(x / y),
              rule="∂x = 1, ∂y = −trunc(x/y)")
floor_divide = binary("floor_divide", np.floor_divide, None, None, rule="gradient 0 (piecewise constant)")


_float_power = Primitive("float_power", np.float_power).defvjp(_power_vjp_x, _power_vjp_y)  # (NumPy's own loop: its
_float_power.rule, _float_power.complex_ok = power.rule, True                             # last bits, not power's)


def float_power(x, y):
    """x ** y computed in float64 (complex128 for complex x), as NumPy's float_power."""
    from .shape import astype
    wide = np.complex128 if np.iscomplexobj(_data(x)) else np.float64
    return _float_power(astype(x, wide) if isinstance(x, Tensor) else np.asarray(x, wide), y)


float_power.primitive = _float_power


def divmod_(x, y):
    return floor_divide(x, y), mod(x, y)
