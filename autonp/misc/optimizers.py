"""The optimizers of HIPS autograd's ``autograd.misc.optimizers``, over any pytree of parameters.

``adam(grad, x0, callback=None, num_iters=..., step_size=...)`` with ``grad(x, i)`` the gradient at
iteration ``i`` and ``callback(x, i, g)`` called before each step; ``x0`` and the gradients may be nested
tuples, lists and dicts of arrays. The update rules are the published ones (momentum SGD, RMSProp, Adam with
bias correction), each computed on the flattened vector.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from .flatten import flatten

__all__ = ["sgd", "rmsprop", "adam"]


def _plain(v: Any) -> np.ndarray:
    return np.asarray(v.detach() if hasattr(v, "detach") else v, dtype=float)


def unflatten_optimizer(optimize: Callable) -> Callable:
    """An optimizer of flat vectors as one of pytrees: ``x0``, ``grad``'s results and ``callback``'s
    arguments keep their structure."""
    @functools.wraps(optimize)
    def structured(grad: Callable, x0: Any, callback: Callable | None = None, *args: Any, **kwargs: Any) -> Any:
        flat_x0, unflatten = flatten(x0)
        if np.iscomplexobj(flat_x0.data if isinstance(flat_x0, Tensor) else flat_x0):  # ∂x − i·∂y: uphill in y
            raise TypeError(f"{optimize.__name__}: x0 holds complex values; their gradients follow HIPS autograd "
                            f"(descent is along the conjugate): optimise real and imaginary parts as real arrays")

        def flat_grad(x, i):
            return _plain(flatten(grad(unflatten(x), i))[0])

        flat_callback = None if callback is None else (lambda x, i, g: callback(unflatten(x), i, unflatten(g)))
        return unflatten(optimize(flat_grad, _plain(flat_x0), flat_callback, *args, **kwargs))
    return structured


@unflatten_optimizer
def sgd(grad: Callable, x: np.ndarray, callback: Callable | None = None, num_iters: int = 200,
        step_size: float = 0.1, mass: float = 0.9) -> np.ndarray:
    """Momentum SGD: v ← mass·v − (1 − mass)·g, x ← x + step_size·v."""
    velocity = np.zeros(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        velocity = mass * velocity - (1.0 - mass) * g
        x = x + step_size * velocity
    return x


@unflatten_optimizer
def rmsprop(grad: Callable, x: np.ndarray, callback: Callable | None = None, num_iters: int = 100,
            step_size: float = 0.1, gamma: float = 0.9, eps: float = 10**-8) -> np.ndarray:
    """RMSProp: s ← γ·s + (1 − γ)·g² (s starts at 1), x ← x − step_size·g / (√s + eps)."""
    avg_sq_grad = np.ones(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        avg_sq_grad = avg_sq_grad * gamma + g**2 * (1 - gamma)
        x = x - step_size * g / (np.sqrt(avg_sq_grad) + eps)
    return x


@unflatten_optimizer
def adam(grad: Callable, x: np.ndarray, callback: Callable | None = None, num_iters: int = 100,
         step_size: float = 0.001, b1: float = 0.9, b2: float = 0.999, eps: float = 10**-8) -> np.ndarray:
    """Adam (Kingma & Ba): m ← (1 − b1)·g + b1·m, v ← (1 − b2)·g² + b2·v, bias-corrected
    m̂ = m/(1 − b1ⁱ⁺¹), v̂ = v/(1 − b2ⁱ⁺¹), x ← x − step_size·m̂/(√v̂ + eps)."""
    m = np.zeros(len(x))
    v = np.zeros(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * (g**2) + b2 * v
        mhat = m / (1 - b1 ** (i + 1))
        vhat = v / (1 - b2 ** (i + 1))
        x = x - step_size * mhat / (np.sqrt(vhat) + eps)
    return x
