"""HIPS autograd's derivative operators under their own names, built on :mod:`autonp.functional`, so that
``from autograd import make_vjp, make_hvp, ...`` becomes ``from autonp import ...`` and nothing else changes.

Each takes ``(fun, argnum=0)`` (an int or a tuple of ints) and returns a function of ``fun``'s arguments.
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable

import numpy as np

from .functional import _argnums, _tree_vdot, grad, jacobian, jvp, vjp
from .tensor import Tensor

__all__ = ["make_vjp", "make_jvp", "deriv", "grad_and_aux", "grad_named", "multigrad_dict", "holomorphic_grad",
           "make_hvp", "hessian_tensor_product", "hessian_vector_product", "tensor_jacobian_product",
           "vector_jacobian_product", "make_ggnvp"]


def _unary(fun: Callable, argnum: Any, args: tuple, kwargs: dict) -> tuple[Callable, Any]:
    """``fun`` as a function of argument(s) ``argnum`` alone (a tuple of arguments for a tuple of argnums)."""
    nums, single = _argnums(argnum)

    def of(x):
        subs = list(args)
        for i, v in zip(nums, (x,) if single else x):
            subs[i] = v
        return fun(*subs, **kwargs)

    return of, (args[nums[0]] if single else tuple(args[i] for i in nums))


def make_vjp(fun: Callable, argnum: Any = 0) -> Callable:
    """``make_vjp(fun, argnum)(*args) -> (vjp, ans)``: the pullback v ↦ vᵀ∂ans/∂x first, as HIPS orders them."""
    def at(*args, **kwargs):
        of, x = _unary(fun, argnum, args, kwargs)
        ans, pullback = vjp(of, x)
        return pullback, ans
    return at


def make_jvp(fun: Callable, argnum: Any = 0) -> Callable:
    """``make_jvp(fun, argnum)(*args)(v) -> (ans, J·v)``: forward mode."""
    def at(*args, **kwargs):
        of, x = _unary(fun, argnum, args, kwargs)
        return lambda v: jvp(of, (x,), (v,))
    return at


def deriv(fun: Callable, argnum: Any = 0) -> Callable:
    """``deriv(fun)(x)``: J·1, the derivative of a function of one variable (elementwise for arrays)."""
    def at(*args, **kwargs):
        of, x = _unary(fun, argnum, args, kwargs)
        ones = Tensor(np.ones(np.shape(x))) if isinstance(x, Tensor) else np.ones(np.shape(x))
        return jvp(of, (x,), (ones,))[1]
    return at


def grad_and_aux(fun: Callable, argnum: Any = 0) -> Callable:
    """``grad_and_aux(fun)(*args) -> (∂out/∂x, aux)`` for ``fun`` returning ``(scalar out, aux)``."""
    return grad(fun, argnum=argnum, has_aux=True)


def grad_named(fun: Callable, argname: str) -> Callable:
    """The gradient with respect to the argument named ``argname`` (not ``*args`` or ``**kwargs``), passed by
    position or by keyword, or left at its default."""
    sig = inspect.signature(fun)
    index = list(sig.parameters).index(argname)

    def gradfun(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)  # by keyword too: HIPS (and autonp before) found no argument at its place
        bound.apply_defaults()
        return grad(fun, index)(*bound.args, **bound.kwargs)
    return gradfun


def multigrad_dict(fun: Callable) -> Callable:
    """``multigrad_dict(fun)(*args, **kwargs)``: a dict from each argument's name (defaults filled in) to
    its gradient."""
    sig = inspect.signature(fun)

    def gradfun(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)

        def of(d):
            b = sig.bind_partial()
            b.arguments.update(d)
            return fun(*b.args, **b.kwargs)
        return grad(of)(arguments)

    return gradfun


def holomorphic_grad(fun: Callable, argnum: Any = 0) -> Callable:
    """f′(z) of a holomorphic ``fun``: the gradient of Re f (HIPS's convention gives f′ for holomorphic f)."""
    def at(*args, **kwargs):
        of, x = _unary(fun, argnum, args, kwargs)
        if not np.iscomplexobj(x.data if isinstance(x, Tensor) else x):
            warnings.warn("Input to holomorphic_grad is not complex", stacklevel=2)
        return grad(lambda z: np.real(of(z)))(x)
    return at


def make_hvp(fun: Callable, argnum: Any = 0) -> Callable:
    """``make_hvp(fun, argnum)(*args) -> (hvp, ∇fun)``: v ↦ H·v at the point, the forward pass done once."""
    return make_vjp(grad(fun, argnum=argnum), argnum)


def hessian_tensor_product(fun: Callable, argnum: int = 0) -> Callable:
    """``hessian_tensor_product(fun, argnum)(*args, v)``: H·v (v of the argument's shape or structure)."""
    fun_grad = grad(fun, argnum)

    def vector_dot_grad(*args, **kwargs):
        *args, v = args
        return _tree_vdot(fun_grad(*args, **kwargs), v)

    return grad(vector_dot_grad, argnum)


hessian_vector_product = hessian_tensor_product


def tensor_jacobian_product(fun: Callable, argnum: int = 0) -> Callable:
    """``tensor_jacobian_product(fun, argnum)(*args, v)``: vᵀJ, contracting all of v's axes."""
    def vector_dot_fun(*args, **kwargs):
        *args, v = args
        out = fun(*args, **kwargs)
        from .ops import tensordot
        return tensordot(v, out, axes=np.ndim(v))

    return jacobian(vector_dot_fun, argnum)


vector_jacobian_product = tensor_jacobian_product


def make_ggnvp(f: Callable, g: Callable = lambda x: 0.5 * (x ** 2).sum(axis=-1), f_argnum: int = 0) -> Callable:
    """``make_ggnvp(f, g)(*args)(v)``: the generalized Gauss–Newton product Jᵀ H_g J v of g∘f at the
    point (J = ∂f, H_g = ∇²g at f(x))."""
    def at(*args, **kwargs):
        of, x = _unary(f, f_argnum, args, kwargs)
        fx, f_vjp = vjp(of, x)
        _, g_hvp = vjp(grad(g), fx)

        def ggnvp(v):
            jv = jvp(of, (x,), (v,))[1]
            return f_vjp(g_hvp(jv))
        return ggnvp
    return at

