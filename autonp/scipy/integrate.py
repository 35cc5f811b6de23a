"""``odeint(func, y0, t, args=())`` — SciPy's ODE solver, differentiable in ``y0``, ``t`` and ``args`` by the
adjoint method (Froehlich, Loos & Hasenauer 2017, sec. 2.4.2): the forward trajectory is SciPy's; the backward
pass integrates, from each output time to the previous one, the augmented system
    d/dt [y, a_y, a_t, a_θ] = [f, −a_yᵀ∂f/∂y, −a_yᵀ∂f/∂t, −a_yᵀ∂f/∂θ]
with the VJPs of ``func`` taken by autonp at each solver step (itself differentiable: second derivatives
too). ``args`` may hold pytrees of arrays. Tensors ``func`` reads from outside (its closure, a Module's
parameters) are differentiated too, as if passed in ``args``.
The gradient's accuracy is the solver's (pass ``rtol``/``atol``; they are used both ways).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.integrate

from ..functional import run_reading, substituted, vjp
from ..misc.flatten import flatten
from ..ops import concatenate, dot, reshape, stack
from ..pytree import flatten as tree_flatten
from ..pytree import unflatten as tree_unflatten
from ..tensor import Primitive, Tensor, is_grad_enabled, no_grad

__all__ = ["odeint"]


def _plain(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _forward(func, y0, t, flat_args, unflatten, **kwargs):
    def f(y, tt):
        with no_grad():
            out = func(y, tt, *unflatten(flat_args))
        return np.asarray(_plain(out), dtype=float)
    return scipy.integrate.odeint(f, y0, t, **kwargs)


def _adjoint(g, ans, func, y0, t, flat_args, unflatten, **kwargs):
    """[None, ∂y0, ∂t, ∂flat_args, None]: one backward sweep gives them all. Written in differentiable ops
    (its solves are this module's odeint), so under create_graph the sweep is itself recorded: second
    derivatives come from the same method, one order up."""
    T, D = np.shape(ans)
    P = int(np.size(flat_args))

    def flat_func(y, tt, fa):
        return func(y, tt, *unflatten(fa))

    def augmented(state, tt, fa):
        y, a_y = state[:D], state[D:2 * D]
        dy, pullback = vjp(flat_func, y, tt, fa)
        v_y, v_t, v_args = pullback(-a_y)
        return concatenate([dy, v_y, reshape(v_t, (1,)), reshape(v_args, (-1,))])

    a_y, a_t0, a_args = g[-1], 0.0, np.zeros(P)
    time_vjps = []
    for i in range(T - 1, 0, -1):
        moved = dot(func(ans[i], t[i], *unflatten(flat_args)), g[i])
        time_vjps.append(moved)
        a_t0 = a_t0 - moved
        state = concatenate([ans[i], a_y, reshape(a_t0, (1,)), a_args])
        state = odeint(augmented, state, stack([t[i], t[i - 1]]), (flat_args,), **kwargs)[1]
        a_y, a_t0, a_args = state[D:2 * D], state[2 * D], state[2 * D + 1:]
        a_y = a_y + g[i - 1]
    time_vjps.append(a_t0)
    return [None, a_y, stack(time_vjps[::-1]), a_args, None]


_odeint = Primitive("odeint", _forward)
_odeint.vjp_all = lambda g, ans, vals, kwargs: _adjoint(g, ans, *vals, **kwargs)


def odeint(func: Callable, y0: Any, t: Any, args: tuple = (), **kwargs: Any) -> Any:
    """The solution of dy/dt = func(y, t, *args) at the times ``t`` (rows), as ``scipy.integrate.odeint``
    (``tfirst=True``: func(t, y, *args)). The Tensors and floats among ``args`` (at any depth) join the adjoint
    sweep's state (as in HIPS autograd, so its solver takes the same steps); the other values (integers,
    strings, flags) reach ``func`` as they are."""
    if kwargs.pop("tfirst", False):
        func = _y_first(func)
    if kwargs.get("full_output"):
        if any(isinstance(x, Tensor) for x in [y0, t, *tree_flatten(list(args))[0]]):
            raise TypeError("odeint(full_output=True) is not differentiable in autonp: its result is a pair with "
                            "the solver's diagnostics. Call it without full_output for gradients, or "
                            "scipy.integrate.odeint on plain arrays for the diagnostics")
        return scipy.integrate.odeint(func, y0, t, args, **kwargs)
    hidden = _read_from_closure(func, y0, t, args)
    if hidden:  # Tensors func reads from its closure (a Module's parameters): passed as arguments of their own
        func, args = _reading_as_args(func, hidden, len(args)), tuple(args) + tuple(hidden)
    leaves, tree = tree_flatten(list(args))
    where = [i for i, leaf in enumerate(leaves) if _floats(leaf)]
    flat_args, unflatten_tensors = flatten([leaves[i] for i in where])

    def unflatten(fa: Any) -> list:
        parts = list(leaves)
        for i, v in zip(where, unflatten_tensors(fa)):
            parts[i] = v
        return tree_unflatten(tree, parts)

    return _odeint(func, y0, t, flat_args, unflatten, **kwargs)


def _read_from_closure(func: Callable, y0: Any, t: Any, args: tuple) -> list:
    """The Tensors requiring grad that ``func`` reads besides its arguments (its closure, a Module it calls), found
    by one recorded evaluation at (y0, t[0]) with constant copies of its arguments. (Without this they were
    constants of the solve: their gradients were dropped.)"""
    if not is_grad_enabled():  # nothing is recorded: nothing to find
        return []
    leaves, tree = tree_flatten(list(args))
    constants = tree_unflatten(tree, [Tensor(_plain(v)) if isinstance(v, Tensor) else v for v in leaves])
    return run_reading(
        lambda: func(np.asarray(_plain(y0), dtype=float), float(np.ravel(_plain(t))[0]), *constants))[1]


def _reading_as_args(func: Callable, hidden: list, n: int) -> Callable:
    """``func`` taking the Tensors it read from outside as arguments after its own ``n``: where its ops meet one of
    them they take the argument instead (so the adjoint differentiates them like ``args``)."""
    def reading(y, tt, *args):
        with substituted(hidden, args[n:]):
            return func(y, tt, *args[:n])
    return reading


def _floats(leaf: Any) -> bool:
    if isinstance(leaf, Tensor):
        return True
    return type(leaf) in (float, complex) or isinstance(leaf, (np.ndarray, np.generic)) and leaf.dtype.kind in "fc"


def _y_first(func: Callable) -> Callable:
    def y_first(y, t, *args):
        return func(t, y, *args)
    return y_first
