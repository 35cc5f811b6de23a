"""Differentiating through a fixed point: ``fixed_point(f, a, x0, distance, tol)`` iterates x ← f(a)(x)
from ``x0`` until ``distance(x, x_prev) <= tol``, and its gradient with respect to ``a`` (an array or a
pytree) comes from the implicit function theorem: for x* = f(a)(x*), ḡ_a = (∂f/∂a)ᵀ w where w = ḡ + (∂f/∂x)ᵀ w
is itself a fixed point, found by this same function — so the rule applies again at every order, and the
forward iterates are never stored.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..functional import vjp
from ..pytree import flatten, unflatten
from ..tensor import Primitive, Tensor, no_grad

__all__ = ["fixed_point"]


def _iterate(step: Callable, x: Any, distance: Callable, tol: float) -> Any:
    x, x_prev = step(x), x
    while distance(x, x_prev) > tol:
        x, x_prev = step(x), x
    return x


def _forward(f, tree, x0, distance, tol, *leaves):
    with no_grad():
        x = _iterate(f(unflatten(tree, list(leaves))), x0, distance, tol)
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _adjoint_step(params):
    """w ↦ ḡ + (∂f/∂x)ᵀ w at x* (params: f, a, x*, ḡ)."""
    f, a, x_star, g = params
    _, pull_x = vjp(lambda x: f(a)(x), x_star)
    return lambda w: pull_x(w) + g


def _vjp_all(g, ans, vals, kwargs):
    f, tree, x0, distance, tol, *leaves = vals
    a = unflatten(tree, leaves)
    start = np.zeros(np.shape(ans), dtype=ans.dtype)
    w = fixed_point(lambda p: _adjoint_step((f,) + tuple(p)), (a, ans, g), start, distance, tol)
    _, pull_a = vjp(lambda *lv: f(unflatten(tree, list(lv)))(ans), *leaves)
    grads = pull_a(w)
    return [None] * 5 + (list(grads) if len(leaves) > 1 else [grads])


_fixed_point = Primitive("fixed_point", _forward)
_fixed_point.vjp_all = _vjp_all


def fixed_point(f: Callable[[Any], Callable[[Any], Any]], a: Any, x0: Any, distance: Callable, tol: float) -> Any:
    """The fixed point x* = f(a)(x*) reached from ``x0``; differentiable in ``a`` (not in ``x0``, which
    the fixed point does not depend on)."""
    leaves, tree = flatten(a)
    if isinstance(x0, Tensor) and x0.requires_grad:
        raise NotImplementedError("fixed_point is not differentiable in its starting point x0 (the fixed point "
                                  "does not depend on it)")
    return _fixed_point(f, tree, x0, distance, tol, *leaves)
