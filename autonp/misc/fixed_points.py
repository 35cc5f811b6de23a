"""Differentiating through a fixed point: ``fixed_point(f, a, x0, distance, tol)`` iterates x ← f(a)(x)
from ``x0`` until ``distance(x, x_prev) <= tol``, and its gradient with respect to ``a`` (an array or a
pytree) comes from the implicit function theorem: for x* = f(a)(x*), ḡ_a = (∂f/∂a)ᵀ w where w = ḡ + (∂f/∂x)ᵀ w
is itself a fixed point, found by this same function — so the rule applies again at every order, and the
forward iterates are never stored. Tensors ``f`` reads from outside (its closure) are differentiated too, as
parts of ``a``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..functional import run_reading, substituted, vjp
from ..pytree import flatten, unflatten
from ..tensor import Primitive, Tensor, is_grad_enabled, no_grad

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
    if isinstance(x0, Tensor) and x0.requires_grad:
        raise NotImplementedError("fixed_point is not differentiable in its starting point x0 (the fixed point "
                                  "does not depend on it)")
    leaves, tree = flatten(a)
    constants = unflatten(tree, [Tensor(v.data) if isinstance(v, Tensor) else v for v in leaves])
    hidden = run_reading(lambda: f(constants)(x0.data if isinstance(x0, Tensor) else x0))[1] \
        if is_grad_enabled() else []
    if hidden:  # Tensors f reads from outside (its closure, a Module): differentiated as parts of a of their own
        f, a = _reading_as_parameters(f, hidden), (a, tuple(hidden))
        leaves, tree = flatten(a)
    return _fixed_point(f, tree, x0, distance, tol, *leaves)


def _reading_as_parameters(f: Callable, hidden: list) -> Callable:
    """f of (a, h): where its ops meet one of the Tensors it read from outside they take h's part instead."""
    def with_parameters(a_and_h):
        a, h = a_and_h
        step = f(a)

        def reading(x):
            with substituted(hidden, h):
                return step(x)
        return reading
    return with_parameters
