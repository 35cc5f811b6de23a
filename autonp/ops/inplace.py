"""In-place changes to Tensors: the operators ``t -= v``, ``t += v``, ``t *= v``, ``t /= v``, ``t **= v``, ``t @= v``,
..., and item assignment ``t[index] = v``; either reaches the Tensor's views and its base (``ops.views``).

Without them Python rebinds the name (``t = t - v``), which silently does nothing to the list or
dict the Tensor came from (``for p in params: p -= lr * p.grad``). The rules, as PyTorch's:

- not recording (``with anp.no_grad():``, the optimizer idiom) on a leaf: the values change in
  place (out of place, into the same Tensor, where a kept graph holds the array read-only);
- recording, when ``t`` or ``v`` requires grad: recorded functionally — ``t`` becomes a new tape
  entry (an in-place twin of the op whose first argument is the earlier ``t``, so ops that used
  the earlier ``t`` still send their gradient there, as for ``t[i] = v``);
- refused where that would be wrong: a leaf that requires grad while recording (its gradient would
  be ambiguous) and, under ``no_grad``, a Tensor that is the result of recorded ops (the tape would
  differentiate values that are no longer there).

As in NumPy the result keeps ``t``'s shape and dtype (``same_kind`` casting).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import LeafAssignmentError, OpError, Primitive, Tensor, _data, _hooks, _mode, _user_site, format_site
from . import arithmetic as ar
from . import linalg as la
from . import views
from .shape import _setitem as array_with
from .shape import astype, earlier, index_data, rebind, setitem

_TWINS: dict[Primitive, Primitive] = {}


def _twin(prim: Primitive) -> Primitive:
    """``prim`` as an in-place entry: same forward and VJPs, its first argument the earlier ``t``."""
    twin = _TWINS.get(prim)
    if twin is None:
        twin = Primitive(prim.name, prim.forward, prim.vjps, prim.forward_saving)
        twin.in_place = True
        twin.complex_ok = prim.complex_ok
        twin.rule = getattr(prim, "rule", "")
        _TWINS[prim] = twin
    return twin


def _where(symbol: str) -> str:
    return f"t {symbol}= v at {format_site(_user_site(3))}"


def _check_result(symbol: str, t: Tensor, shape: tuple, dtype: np.dtype) -> None:
    if shape != t.shape:
        raise OpError(f"{_where(symbol)}: the result has shape {shape}, but t has shape {t.shape} (an in-place "
                      f"operator keeps t's shape; write t = t {symbol} v for a new Tensor)")
    if dtype != t.dtype and not np.can_cast(dtype, t.dtype, "same_kind"):
        raise OpError(f"{_where(symbol)}: the result has dtype {dtype}, which t (dtype {t.dtype}) cannot hold "
                      f"(NumPy's same_kind casting); write t = t {symbol} v for a new Tensor")


def _make_inplace(symbol: str, prim: Primitive, ufunc: Any):
    def method(t: Tensor, other: Any) -> Tensor:
        other_grad = isinstance(other, Tensor) and other.requires_grad
        if t._base is not None:
            views.check_writable(t, _where(symbol))
        if _mode.enabled and (t.requires_grad or other_grad):
            if t.node is None and t.requires_grad:
                raise LeafAssignmentError(
                    f"{_where(symbol)} on a leaf Tensor{t.shape} that requires grad, while ops are recorded: "
                    f"its gradient would be ambiguous. To update a parameter, do it under `with anp.no_grad():`; "
                    f"for a new value write t = t {symbol} v")
            old = earlier(t)
            new = _twin(prim)(old, old if other is t else other)  # t op= t: both are the earlier t
            _check_result(symbol, t, new.shape, new.dtype)
            if new.dtype != t.dtype:
                new = astype(new, t.dtype)
                new.node.prim = _twin(new.node.prim)  # the cast is in place too: ops before it used the earlier t
            rebind(t, new)
        elif t.node is not None:
            raise RuntimeError(
                f"{_where(symbol)} under no_grad on a Tensor{t.shape} that is the result of recorded ops: its "
                f"tape entry would differentiate values it no longer has. Change a detached copy "
                f"(y = t.detach().copy()) or do it while recording")
        else:
            arr, v = t._arr, _data(other)
            try:
                if arr.flags.writeable:
                    ufunc(arr, v, out=arr)
                else:  # a kept graph holds the array: new values into the same Tensor, the graph keeps the old
                    res = np.asarray(ufunc(arr, v))
                    _check_result(symbol, t, res.shape, res.dtype)
                    t._arr = res.astype(t.dtype, copy=False)
            except (ValueError, TypeError) as e:
                if isinstance(e, OpError):
                    raise
                raise OpError(f"{_where(symbol)} with t a Tensor{t.shape} {t.dtype} and v "
                              f"{type(other).__name__}{tuple(np.shape(v))}: {e}") from None
        if t._views or t._base is not None:
            views.changed(t)  # (NumPy's views of t, and t's base, see the change)
        return t
    method.__name__ = f"__i{prim.name}__"
    return method


def _setitem(t: Tensor, index, value) -> None:
    """``t[index] = value`` on a Tensor: ``t`` becomes ``setitem(old t, index, value)`` on the tape."""
    index = index_data(index)
    if t._base is not None:
        views.check_writable(t, "t[...] = v")
    if not _mode.enabled or not (t.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
        t._arr = array_with(t._arr, index, _data(value))  # nothing to differentiate: a new array all the same
    else:
        if t.node is None and t.requires_grad:
            raise LeafAssignmentError(
                f"t[...] = v on a leaf Tensor{t.shape} that requires grad: its gradient would be ambiguous. Build "
                f"a new tensor (y = anp.where(mask, v, t), or y = t * 1 then y[...] = v), or assign under "
                f"anp.no_grad() to change the values of a parameter")
        old = earlier(t)
        rebind(t, setitem(old, index, old if value is t else value))  # t[i] = t: the value is the earlier t
    if t._views or t._base is not None:
        views.changed(t)  # (NumPy's views of t, and t's base, see the change)


_hooks.setitem = _setitem


METHODS = {
    "__iadd__": _make_inplace("+", ar.add, np.add),
    "__isub__": _make_inplace("-", ar.sub, np.subtract),
    "__imul__": _make_inplace("*", ar.mul, np.multiply),
    "__itruediv__": _make_inplace("/", ar.div, np.true_divide),
    "__ipow__": _make_inplace("**", ar.power, np.power),
    "__imatmul__": _make_inplace("@", la.matmul, np.matmul),
    "__ifloordiv__": _make_inplace("//", ar.floor_divide, np.floor_divide),
    "__imod__": _make_inplace("%", ar.mod, np.mod),
}
