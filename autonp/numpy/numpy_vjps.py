"""HIPS autograd's ``autograd.numpy.numpy_vjps`` helpers that programs defining their own primitives import
(``from autograd.numpy.numpy_vjps import unbroadcast_f``: lifelines' ``gammainc``, custom SciPy distributions).

Each works on plain arrays (an ordinary backward pass) and on Tensors (``create_graph``: gradients of
gradients), since it is written with ``autonp.numpy``. autonp's own VJPs live beside their ops (``autonp.ops``);
these are for VJPs written the HIPS way::

    @primitive
    def scaled(a, x): return a * x
    defvjp(scaled, lambda ans, a, x: unbroadcast_f(a, lambda g: g * x),   # a may be a scalar: g·x summed to it
                   lambda ans, a, x: unbroadcast_f(x, lambda g: g * a))
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as onp

from .. import numpy as anp
from ..tracer import getval

__all__ = ["metadata", "unbroadcast", "unbroadcast_f", "repeat_to_match_shape", "balanced_eq", "replace_zero",
           "match_complex"]


def metadata(x: Any) -> tuple:
    """(shape, ndim, dtype, is complex) of an array, Tensor or number: what :func:`unbroadcast` sums down to."""
    v = onp.asarray(getval(x))
    return v.shape, v.ndim, v.dtype, onp.iscomplexobj(v)


def unbroadcast(x: Any, target_meta: tuple, broadcast_idx: int = 0) -> Any:
    """``x`` summed down to the target's shape (the axes NumPy's broadcasting added or stretched from 1), and its
    real part if the target is real: the gradient of an argument that was broadcast."""
    shape, ndim, _, target_complex = target_meta
    while anp.ndim(x) > ndim:
        x = anp.sum(x, axis=broadcast_idx)
    for axis, size in enumerate(shape):
        if size == 1 and anp.shape(x)[axis] != 1:
            x = anp.sum(x, axis=axis, keepdims=True)
    if not target_complex and onp.iscomplexobj(getval(x)):
        x = anp.real(x)
    return x


def unbroadcast_f(target: Any, f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``g ↦ unbroadcast(f(g), metadata(target))``: a VJP maker's result for an argument that may be broadcast."""
    meta = metadata(target)
    return lambda g: unbroadcast(f(g), meta)


def repeat_to_match_shape(g: Any, shape: tuple, dtype: Any, axis: Any, keepdims: bool) -> tuple[Any, int]:
    """``g`` (a reduction's gradient over ``axis``) spread back over ``shape``, and how many entries each of its
    entries now covers: ``(g broadcast to shape, n)``. ``keepdims`` is taken and ignored, as HIPS does."""
    if shape == ():
        return g, 1
    axes = list(range(len(shape))) if axis is None else list(axis) if isinstance(axis, (tuple, list)) else [axis]
    kept = list(shape)
    for a in axes:
        kept[a] = 1
    reps = int(onp.prod([shape[a] for a in axes]))
    return anp.reshape(g, kept) + onp.zeros(shape, dtype=dtype), reps


def balanced_eq(x: Any, z: Any, y: Any) -> Any:
    """1 where x equals z (the max or min chosen), halved where x also equals y: ties share the gradient."""
    return (x == z) / (1.0 + (x == y))


def replace_zero(x: Any, val: Any) -> Any:
    """``x`` with its zeros replaced by ``val``."""
    return anp.where(x, x, val)


def match_complex(target: Any, x: Any) -> Any:
    """``x`` made real or complex as ``target`` is."""
    target_complex, x_complex = onp.iscomplexobj(getval(target)), onp.iscomplexobj(getval(x))
    if x_complex and not target_complex:
        return anp.real(x)
    if target_complex and not x_complex:
        return x + 0j
    return x
