"""HIPS autograd's ``autograd.extend`` with its signatures: define a primitive and its derivatives.

    @primitive
    def logsumexp(x): ...
    defvjp(logsumexp, lambda ans, x: lambda g: g * np.exp(x - ans))

A VJP maker takes ``(ans, *args, **kwargs)`` and returns ``g ↦ gᵀ ∂ans/∂arg``. A JVP maker (:func:`defjvp`)
takes ``(g, ans, *args, **kwargs)`` and returns ∂ans/∂arg · g. autonp is reverse mode: a primitive with JVPs
only is differentiated in reverse by transposing them (a JVP is linear in g, so its own VJP — autonp's — is
the VJP wanted; write such JVPs with ``autonp.numpy``, and not with the primitive itself). Forward mode
(``jvp``) is always derived from VJPs. HIPS's ``def_linear`` (a JVP that is the primitive itself) has no
counterpart for that reason: give a linear primitive its VJP.
``Box``/``VSpace`` are autograd's internals and have no counterpart: ``anp.tape`` and ``anp.viz`` show the graph.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .ops import primitive as _autonp_primitive
from .tensor import Primitive, Tensor

__all__ = ["primitive", "defvjp", "defvjp_argnum", "defvjp_argnums", "defjvp", "defjvp_argnum",
           "defjvp_argnums", "notrace_primitive"]


def primitive(f: Callable) -> Primitive:
    """``f`` (a function of arrays) as a primitive: recorded as one op, differentiated by its VJPs."""
    return _autonp_primitive(f) if not isinstance(f, Primitive) else f


def _nargs(fun: Primitive, argnums: Sequence[int] | None, makers: Sequence) -> list[int]:
    return list(argnums) if argnums is not None else list(range(len(makers)))


def _set(fun: Primitive, i: int, vjp: Callable | None) -> None:
    vjps = list(fun.vjps) if isinstance(fun.vjps, tuple) else []
    vjps += [None] * (i + 1 - len(vjps))
    vjps[i] = vjp
    fun.vjps = tuple(vjps)


def defvjp(fun: Primitive, *vjpmakers: Callable | None, argnums: Sequence[int] | None = None) -> None:
    """One VJP maker per argument (``None``: not differentiable); ``argnums`` says which arguments."""
    for i, maker in zip(_nargs(fun, argnums, vjpmakers), vjpmakers):
        _set(fun, i, None if maker is None else (lambda g, ans, *args, m=maker, **kw: m(ans, *args, **kw)(g)))


def defvjp_argnum(fun: Primitive, vjpmaker: Callable) -> None:
    """``vjpmaker(argnum, ans, args, kwargs) -> g ↦ ...`` for any argument."""
    fun.defvjp_argnum(lambda i, g, ans, *args, **kw: vjpmaker(i, ans, args, kw)(g))


def defvjp_argnums(fun: Primitive, vjpmaker: Callable) -> None:
    """``vjpmaker(argnums, ans, args, kwargs) -> g ↦ (one gradient per argnum)``; asked one argument at a time."""
    fun.defvjp_argnum(lambda i, g, ans, *args, **kw: vjpmaker((i,), ans, args, kw)(g)[0])


def _transposed(jvp_of_g: Callable[[Any], Any], arg: Any) -> Callable[[Any], Any]:
    """The VJP of the linear map g ↦ jvp_of_g(g) at the argument's shape: autonp's vjp of the JVP."""
    from .functional import vjp
    zeros = np.zeros(np.shape(arg.data if isinstance(arg, Tensor) else arg))
    _, pullback = vjp(jvp_of_g, zeros)
    return pullback


def defjvp(fun: Primitive, *jvpfuns: Callable | None, argnums: Sequence[int] | None = None) -> None:
    """One JVP per argument: ``jvp(g, ans, *args, **kwargs) = ∂ans/∂arg · g``. Used (transposed) for the
    arguments that have no VJP."""
    for i, jvp in zip(_nargs(fun, argnums, jvpfuns), jvpfuns):
        if jvp is None or (isinstance(fun.vjps, tuple) and i < len(fun.vjps) and fun.vjps[i] is not None):
            continue

        def vjp(g, ans, *args, i=i, jvp=jvp, **kw):
            return _transposed(lambda gi: jvp(gi, ans, *args, **kw), args[i])(g)
        _set(fun, i, vjp)


def defjvp_argnum(fun: Primitive, jvpmaker: Callable) -> None:
    """``jvpmaker(argnum, g, ans, args, kwargs)`` for any argument."""
    if isinstance(fun.vjps, tuple) and fun.vjps:
        return
    fun.defvjp_argnum(lambda i, g, ans, *args, **kw: _transposed(
        lambda gi: jvpmaker(i, gi, ans, args, kw), args[i])(g))


def defjvp_argnums(fun: Primitive, jvpmaker: Callable) -> None:
    """``jvpmaker(argnums, gs, ans, args, kwargs)``: the tangent for tangents ``gs`` of ``argnums``."""
    if isinstance(fun.vjps, tuple) and fun.vjps:
        return
    fun.defvjp_argnum(lambda i, g, ans, *args, **kw: _transposed(
        lambda gi: jvpmaker((i,), (gi,), ans, args, kw), args[i])(g))


def notrace_primitive(f: Callable) -> Callable:
    """``f`` called on the values of its Tensor arguments: its result is a constant to the tape."""
    def on_values(*args, **kwargs):
        return f(*(a.data if isinstance(a, Tensor) else a for a in args), **kwargs)
    on_values.__name__ = getattr(f, "__name__", "notrace")
    return on_values
