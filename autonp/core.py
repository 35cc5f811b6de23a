"""HIPS autograd's ``autograd.core`` names that user programs import: ``make_vjp(fun, x)`` and ``make_jvp(fun,
x)`` (of a function of one argument, for operators written with ``autonp.wrap_util.unary_to_nary``), and the
primitive definitions older programs take from here (``primitive`` with its deprecated ``defgrad``/``defvjp``
methods, ``defvjp``, ``defjvp`` and their argnum forms: :mod:`autonp.extend`'s). HIPS's tracing internals
(``VJPNode``, ``VSpace``, ``primitive_vjps``) have no counterpart."""
from __future__ import annotations

from typing import Any, Callable

from . import wrappers
from .extend import defjvp, defjvp_argnum, defjvp_argnums, defvjp, defvjp_argnum, defvjp_argnums, primitive

__all__ = ["make_vjp", "make_jvp", "primitive", "defvjp", "defvjp_argnum", "defvjp_argnums", "defjvp",
           "defjvp_argnum", "defjvp_argnums"]


def make_vjp(fun: Callable, x: Any) -> tuple[Callable, Any]:
    """``(vjp, fun(x))``: the pullback v ↦ vᵀ ∂fun/∂x first, as HIPS's core returns them."""
    return wrappers.make_vjp(fun)(x)


def make_jvp(fun: Callable, x: Any) -> Callable:
    """``make_jvp(fun, x)(v) -> (fun(x), J·v)``: forward mode at x."""
    return wrappers.make_jvp(fun)(x)
