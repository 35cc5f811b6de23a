"""Differentiating through a fixed point: ``fixed_point(f, a, x0, distance, tol)`` iterates x ← f(a)(x)
from ``x0`` until ``distance(x, x_prev) <= tol``, and its gradient with respect to ``a`` comes from the
implicit function theorem: for x* = f(a)(x*), ḡ_a = (∂f/∂a)ᵀ w with w = ḡ + (∂f/∂x)ᵀ w, itself found by
iteration — the forward iterates are never stored.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..functional import vjp
from ..tensor import Primitive, Tensor, no_grad

__all__ = ["fixed_point"]


def _iterate(step: Callable, x: Any, distance: Callable, tol: float) -> Any:
    x, x_prev = step(x), x
    while distance(x, x_prev) > tol:
        x, x_prev = step(x), x
    return x


def _forward(f, a, x0, distance, tol):
    with no_grad():
        x = _iterate(f(a), x0, distance, tol)
    return x._arr if isinstance(x, Tensor) else np.asarray(x)


def _vjp_a(g, ans, f, a, x0, distance, tol):
    _, pull_x = vjp(lambda x: f(a)(x), ans)
    w = _iterate(lambda w: pull_x(w) + g, g * 0.0, distance, tol)
    _, pull_a = vjp(lambda a_: f(a_)(ans), a)
    return pull_a(w)


fixed_point = Primitive("fixed_point", _forward).defvjp(None, _vjp_a, None, None, None)
