"""How ``autonp.numpy`` differs from NumPy: functions that receive sequences holding Tensors."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..ops import FUNCTIONS, broadcast_to, concatenate
from ..ops import array as _stack_array
from ..tensor import Tensor, _contains_tensor

# NumPy already finds Tensors inside these functions' sequence arguments (their dispatchers look inside)
SEQUENCE_NATIVE = {"concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "row_stack", "block",
                   "broadcast_arrays", "select", "einsum", "multi_dot", "meshgrid"}


# HIPS's own versions of these take any iterable of arrays (mici stacks a map of VJPs); NumPy 2's want a sequence
ITERABLE_FIRST = ("concatenate", "stack", "hstack", "vstack", "row_stack", "column_stack")


def iterable_first(fn: Any) -> Any:
    """NumPy's ``fn``, with a first argument that is an iterator or generator (not a sequence) made a list first."""
    @functools.wraps(fn)
    def wrapped(arrays: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(arrays, (list, tuple, np.ndarray, Tensor)) and hasattr(arrays, "__iter__"):
            arrays = list(arrays)
        return fn(arrays, *args, **kwargs)
    return wrapped


def _holds_tensor(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and _contains_tensor(x)


def array(obj: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``np.array``: a sequence holding Tensors becomes one Tensor on the tape; anything else is NumPy's."""
    if isinstance(obj, Tensor) or _holds_tensor(obj):
        res = _stack_array(obj)
        if isinstance(obj, Tensor) and kwargs.get("copy", True):
            res = res + 0.0 if res.dtype.kind == "f" else Tensor(res.data)
        return res if dtype is None else res.astype(dtype)
    return np.array(obj, dtype, *args, **kwargs)


def asarray(obj: Any, dtype: Any = None, **kwargs: Any) -> Any:
    """``np.asarray``: a Tensor is returned as it is (cast with ``dtype``), a sequence holding Tensors stacked."""
    if isinstance(obj, Tensor):
        return obj if dtype is None else obj.astype(dtype)
    if _holds_tensor(obj):
        return array(obj, dtype)
    return np.asarray(obj, dtype, **kwargs)


def full(shape: Any, fill_value: Any, dtype: Any = None, order: str = "C", **kwargs: Any) -> Any:
    """``np.full``: a Tensor fill value is broadcast on the tape (its gradient is the sum over the result)."""
    if isinstance(fill_value, Tensor):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        value = fill_value if dtype is None else fill_value.astype(dtype)
        return broadcast_to(value, shape) + 0.0 * value  # a fresh result, not a view of the fill value
    return np.full(shape, fill_value, dtype, order, **kwargs)


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """``np.where``, also with keywords (``condition=``, ``x=``, ``y=``); a Python bool chooses x or y as
    they are (as HIPS autograd's)."""
    if isinstance(condition, bool) and not any(isinstance(v, (np.ndarray, Tensor)) for v in (x, y)) \
            and x is not None and y is not None:
        return x if condition else y
    if x is None and y is None:
        return np.where(condition)
    args = tuple(array(a) if _holds_tensor(a) else a for a in (condition, x, y))
    return np.where(*args)


def make_diagonal(D: Any, offset: int = 0, axis1: int = -1, axis2: int = -2) -> Any:
    """HIPS autograd's complement of ``np.diagonal``: ``A[..., i, i] = D[..., i]`` (zeros elsewhere)."""
    if not (offset == 0 and axis1 == -1 and axis2 == -2):
        raise NotImplementedError("make_diagonal supports offset=0, axis1=-1, axis2=-2 (as HIPS autograd's)")
    n = np.shape(D)[-1]
    return (D.reshape(np.shape(D) + (1,)) if isinstance(D, Tensor) else np.asarray(D)[..., None]) * np.eye(n)


def _lists_to_arrays(fn):
    """NumPy's ``fn``, with positional arguments that are sequences holding Tensors stacked first."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        if any(_holds_tensor(a) for a in args):
            args = tuple(array(a) if _holds_tensor(a) else a for a in args)
        return fn(*args, **kwargs)
    return wrapped


def differentiable_namespace(module: Any, skip: set) -> dict:
    """For each function of ``module`` that autonp differentiates: NumPy's, accepting sequences of Tensors."""
    out: dict[str, Any] = {"array": array}
    for name in dir(module):
        fn = getattr(module, name)
        if name in skip or name.startswith("_") or not callable(fn):
            continue
        try:
            known = fn in FUNCTIONS
        except TypeError:  # unhashable
            continue
        if known:
            out[name] = _lists_to_arrays(fn)
    return out


class _Concatenator:
    """``np.r_[...]`` / ``np.c_[...]``: with Tensors among the items, they are joined on the tape (arrays,
    Tensors and scalars; a slice ``a:b:c`` is ``np.arange``); otherwise NumPy's own."""

    def __init__(self, numpy_version: Any, columns: bool):
        self._np, self._columns = numpy_version, columns

    def __getitem__(self, key: Any) -> Any:
        items = key if isinstance(key, tuple) else (key,)
        if not any(isinstance(v, Tensor) for v in items):
            return self._np[key]
        if any(isinstance(v, str) for v in items):
            raise TypeError("np.r_/np.c_ with Tensors: string directives are not supported by autonp")
        parts = []
        for v in items:
            if isinstance(v, slice):
                v = np.arange(v.start or 0, v.stop, v.step or 1)
            v = v if isinstance(v, Tensor) else np.asarray(v)
            parts.append(v.reshape(1) if v.ndim == 0 else v)
        if self._columns:
            parts = [p.reshape(-1, 1) if p.ndim == 1 else p for p in parts]
            return concatenate(parts, axis=1)
        return concatenate(parts, axis=0)


r_ = _Concatenator(np.r_, columns=False)
c_ = _Concatenator(np.c_, columns=True)
