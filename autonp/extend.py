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
``Box``, ``VSpace``/``vspace`` and ``VJPNode`` are :mod:`autonp.core`'s (reverse mode by hand, the space of a
value); making new kinds of boxes or vector spaces has no counterpart.
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .tensor import Primitive, Tensor

__all__ = ["primitive", "defvjp", "defvjp_argnum", "defvjp_argnums", "defjvp", "defjvp_argnum",
           "defjvp_argnums", "notrace_primitive"]


class HipsPrimitive(Primitive):
    """A primitive made by :func:`primitive`: also takes HIPS autograd's deprecated (pre-1.2) methods
    ``defgrad``, ``defvjp(vjp, argnum)`` with ``vjp(g, ans, vs, gvs, *args)``, and ``defvjp_is_zero`` —
    each with a DeprecationWarning, as autograd gave."""

    def defvjp(self, *vjps, argnum: int | None = None):
        old_style = argnum is not None or (len(vjps) == 1 and callable(vjps[0])
                                           and _parameters(vjps[0])[2:4] == ["vs", "gvs"])
        if not old_style:
            return super().defvjp(*vjps)
        _deprecated("defvjp(vjp, argnum)", "defvjp(fun, *vjpmakers) from autonp.extend")
        vjp = vjps[0]
        _set(self, argnum or 0, lambda g, ans, *args, **kw: vjp(g, ans, None, None, *args, **kw))
        return self

    def defgrad(self, maker: Callable, argnum: int = 0) -> "HipsPrimitive":
        _deprecated("defgrad", "defvjp")
        _set(self, argnum, lambda g, ans, *args, **kw: maker(ans, *args, **kw)(g))
        return self

    def defvjp_is_zero(self, argnums: Sequence[int] = (0,)) -> "HipsPrimitive":
        _deprecated("defvjp_is_zero", "defvjp with a VJP returning zeros")
        for i in argnums:
            _set(self, i, lambda g, ans, *args, i=i, **kw: np.zeros(np.shape(
                args[i].data if isinstance(args[i], Tensor) else args[i])))
        return self


def _parameters(f: Callable) -> list:
    try:
        return list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        return []


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated (as in HIPS autograd since 1.2); use {new}", DeprecationWarning, stacklevel=3)


def primitive(f: Callable) -> Primitive:
    """``f`` (a function of arrays) as a primitive: recorded as one op, differentiated by its VJPs."""
    if isinstance(f, Primitive):
        return f
    return HipsPrimitive(getattr(f, "__name__", "primitive"), f)


def _primitive_of(fun: Any, what: str, replacing: bool = False) -> Primitive | None:
    """The primitive whose derivatives ``fun`` names: itself, or autonp's primitive for a NumPy function (``np.sqrt``,
    as ``autograd.numpy.sqrt`` is HIPS's primitive: new VJPs for it hold everywhere, as in HIPS). A NumPy function
    (or any ufunc: SciPy's special functions) that autonp differentiates as a composition of its primitives, or not
    at all, becomes a primitive of its own, as HIPS makes every one: NumPy hands autonp each call on a Tensor, which
    then goes to it. ``replacing`` (new VJPs): a built-in primitive drops what its own VJPs shared with its forward
    (``saved=``, the all-at-once and scatter forms), so its other arguments' VJPs recompute what they need. Without
    it (new JVPs, which autonp uses only where it has no VJP), a composition is left as it is: None."""
    while not isinstance(fun, (Primitive, np.ufunc, _DISPATCHED)) and hasattr(fun, "__wrapped__"):
        # autonp.numpy's wrappers of NumPy's own
        fun = fun.__wrapped__
    if isinstance(fun, Primitive):
        target = fun
    else:
        from .ops import FUNCTIONS, UFUNCS
        from .ops.numpy_api import FUNCTIONS_WITHOUT_GRADIENT, UFUNCS_WITHOUT_GRADIENT, _scipy_ufunc
        ufunc = isinstance(fun, np.ufunc)
        if ufunc and fun not in UFUNCS:
            _scipy_ufunc(fun)  # SciPy's: autonp.scipy.special registers its own first, so that theirs are replaced
        table, constant = (UFUNCS, UFUNCS_WITHOUT_GRADIENT) if ufunc else (FUNCTIONS, FUNCTIONS_WITHOUT_GRADIENT)
        target = table.get(fun)
        if target is not None and not isinstance(target, Primitive) and not replacing:
            return None  # JVPs for a function autonp differentiates already (as a composition): nothing to add
        if not isinstance(target, Primitive):
            name = getattr(fun, "__name__", repr(fun))
            if not (ufunc or isinstance(fun, _DISPATCHED)):
                raise TypeError(f"{what}: {name} is not a primitive; make one with autonp.extend.primitive(f) and "
                                f"give it its VJPs")
            target = table[fun] = HipsPrimitive(name, fun)
            constant.discard(fun)
    if replacing and not isinstance(target, HipsPrimitive):
        target.forward_saving = target.vjp_all = target.vjp_add = None
    return target


_DISPATCHED = type(np.concatenate)  # NumPy's functions that hand calls on other array types to them


def _nargs(fun: Primitive, argnums: Iterable[int] | None, makers: Sequence) -> Iterable[int]:
    """Which argument each maker is for: ``argnums`` as given (any iterable, paired with the makers by ``zip``, as
    HIPS does: ``argnums=itertools.count(1)`` is every argument from the second on), else 0, 1, 2, ..."""
    return argnums if argnums is not None else range(len(makers))


def _set(fun: Primitive, i: int, vjp: Callable | None) -> None:
    vjps = list(fun.vjps) if isinstance(fun.vjps, tuple) else []
    vjps += [None] * (i + 1 - len(vjps))
    vjps[i] = vjp
    fun.vjps = tuple(vjps)


def defvjp(fun: Primitive, *vjpmakers: Callable | None, argnums: Iterable[int] | None = None) -> None:
    """One VJP maker per argument (``None``: not differentiable); ``argnums`` says which arguments."""
    fun = _primitive_of(fun, "defvjp", replacing=True)
    for i, maker in zip(_nargs(fun, argnums, vjpmakers), vjpmakers):
        _set(fun, i, None if maker is None else (lambda g, ans, *args, m=maker, **kw: m(ans, *args, **kw)(g)))


def defvjp_argnum(fun: Primitive, vjpmaker: Callable) -> None:
    """``vjpmaker(argnum, ans, args, kwargs) -> g ↦ ...`` for any argument."""
    fun = _primitive_of(fun, "defvjp_argnum", replacing=True)
    fun.defvjp_argnum(lambda i, g, ans, *args, **kw: vjpmaker(i, ans, args, kw)(g))


def defvjp_argnums(fun: Primitive, vjpmaker: Callable) -> None:
    """``vjpmaker(argnums, ans, args, kwargs) -> g ↦ (one gradient per argnum)``; asked one argument at a time."""
    fun = _primitive_of(fun, "defvjp_argnums", replacing=True)
    fun.defvjp_argnum(lambda i, g, ans, *args, **kw: vjpmaker((i,), ans, args, kw)(g)[0])


def _transposed(jvp_of_g: Callable[[Any], Any], arg: Any) -> Callable[[Any], Any]:
    """The VJP of the linear map g ↦ jvp_of_g(g) at the argument's shape: autonp's vjp of the JVP."""
    from .functional import vjp
    zeros = np.zeros(np.shape(arg.data if isinstance(arg, Tensor) else arg))
    _, pullback = vjp(jvp_of_g, zeros)
    return pullback


def defjvp(fun: Primitive, *jvpfuns: Callable | None, argnums: Iterable[int] | None = None) -> None:
    """One JVP per argument: ``jvp(g, ans, *args, **kwargs) = ∂ans/∂arg · g``. Used (transposed) for the
    arguments that have no VJP."""
    fun = _primitive_of(fun, "defjvp")
    if fun is None:
        return
    for i, jvp in zip(_nargs(fun, argnums, jvpfuns), jvpfuns):
        if jvp is None or (isinstance(fun.vjps, tuple) and i < len(fun.vjps) and fun.vjps[i] is not None):
            continue

        def vjp(g, ans, *args, i=i, jvp=jvp, **kw):
            return _transposed(lambda gi: jvp(gi, ans, *args, **kw), args[i])(g)
        _set(fun, i, vjp)


def defjvp_argnum(fun: Primitive, jvpmaker: Callable) -> None:
    """``jvpmaker(argnum, g, ans, args, kwargs)`` for any argument."""
    fun = _primitive_of(fun, "defjvp_argnum")
    if fun is None:
        return
    if isinstance(fun.vjps, tuple) and fun.vjps:
        return
    fun.defvjp_argnum(lambda i, g, ans, *args, **kw: _transposed(
        lambda gi: jvpmaker(i, gi, ans, args, kw), args[i])(g))


def defjvp_argnums(fun: Primitive, jvpmaker: Callable) -> None:
    """``jvpmaker(argnums, gs, ans, args, kwargs)``: the tangent for tangents ``gs`` of ``argnums``."""
    fun = _primitive_of(fun, "defjvp_argnums")
    if fun is None:
        return
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


def __getattr__(name: str) -> Any:
    """HIPS's extend also hands out its core's ``Box``, ``VSpace``, ``vspace`` and ``VJPNode`` (autonp.core imports
    this module, so they are looked up when asked for)."""
    if name in ("Box", "VSpace", "vspace", "VJPNode"):
        from . import core
        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
