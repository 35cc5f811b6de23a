"""How primitives are made: the user's ``@primitive`` and the one-line elementwise form."""
from __future__ import annotations

from typing import Callable

from ..tensor import Primitive
from .shape import unbroadcast


def primitive(forward=None, *, name: str | None = None):
    """Make a user primitive: ``@primitive`` on a NumPy function, then ``f.defvjp(vjp_x, vjp_y, ...)``.

    It behaves exactly like the built-in ones: it is recorded on the tape, checked by
    ``gradcheck``/``check_ops``, drawn by ``viz``, and usable under ``create_graph``
    (if its VJPs are written with autonp ops).
    """
    if forward is None:
        return lambda f: Primitive(name or f.__name__, f)
    return Primitive(name or forward.__name__, forward)


def unary(name: str, forward: Callable, derivative: Callable | None, rule: str = "",
          complex_ok: bool = False) -> Primitive:
    """An elementwise primitive from its derivative: ∂ = g ⊙ derivative(x, ans). ``derivative``
    must use operators and autonp ops, so that it is itself differentiable. ``None``: the
    derivative is 0 everywhere it exists (floor, sign, ...), the gradient is zeros. ``complex_ok``: the op is
    holomorphic and ``derivative`` is f′(z) for complex z too (see ``Primitive.complex_ok``)."""
    if derivative is None:
        vjp = _zero_vjp
    else:
        def vjp(g, ans, x):
            return g * derivative(x, ans)
    prim = Primitive(name, forward, (vjp,))
    prim.rule = rule or ("gradient 0 (piecewise constant)" if derivative is None else "")
    prim.complex_ok = complex_ok
    return prim


def _zero_vjp(g, ans, x):
    return g * 0.0


def binary(name: str, forward: Callable, dx: Callable | None, dy: Callable | None, rule: str = "",
           complex_ok: bool = False) -> Primitive:
    """A broadcasting binary primitive from its partial derivatives: ∂x = Σ_broadcast g ⊙ dx(x, y, ans).
    ``None``: the partial derivative is 0 everywhere it exists."""
    def vjp_x(g, ans, x, y):
        return unbroadcast(g * dx(x, y, ans), x) if dx is not None else _zero_of(g, x)

    def vjp_y(g, ans, x, y):
        return unbroadcast(g * dy(x, y, ans), y) if dy is not None else _zero_of(g, y)

    prim = Primitive(name, forward, (vjp_x, vjp_y))
    prim.rule = rule
    prim.complex_ok = complex_ok
    return prim


def _zero_of(g, x):
    return unbroadcast(g * 0.0, x)
