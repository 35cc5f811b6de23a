"""Views that follow in-place changes, as NumPy's do.

``v = t[0]; v += 1`` changes ``t`` in NumPy (``v`` shares its memory), and ``t += 1`` changes ``v``. autonp records
an in-place change as a new tape entry for the Tensor changed (``ops.inplace``), so without more the other one kept
its old values: a wrong number without an error. A result of basic indexing, of a transpose or of a reshape that NumPy
makes a view of its argument remembers its base here (``Tensor._base``: the op's arguments, the base first, with
``_view_op`` and ``_view_kwargs``: no new object), and the base its views (``Tensor._views``, weakly). After an
in-place change to any of them, ``changed`` writes the new values into the base — recorded as ``base[index] = view``
(``setitem``, whose gradient routes as any assignment's) — and reads every other live view again from its base —
recorded as an in-place entry (``refreshed``) whose first argument is the view's earlier version, so that ops that
used it before still send their gradient there.

Refused, before anything changes: an in-place change through a view of a leaf that requires grad while recording
(PyTorch's rule too: the leaf's gradient would be ambiguous), and under ``no_grad`` through a view of a result of
recorded ops (its tape entry would differentiate values it no longer has).
"""
from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from ..tensor import LeafAssignmentError, Primitive, Tensor, _data, _hooks, _is_stand_in, _mode
from . import arithmetic as ar
from . import elementwise as ew
from . import shape as sh

_REFRESHED: dict[Primitive, Primitive] = {}
_PRUNING = threading.Lock()  # a base's list of views: made once, and pruned by one thread at a time


def note_view(prim: Primitive, result: Tensor, args: tuple, kwargs: dict) -> None:
    """Called by ``Primitive.__call__`` for the view primitives: remember ``result`` as a view of ``args[0]`` where
    NumPy's result would be one (basic indexing always; a transpose, a reshape, a diagonal, a broadcast, the real or
    imaginary part of complex values, where it shares memory)."""
    base = args[0]
    if not isinstance(base, Tensor):
        return
    if not base.ndim:  # what NumPy has there is mostly a scalar (np.sum(x), x[0]), whose reshape is a new array (a
        if np.may_share_memory(_value(result._arr), _value(base._arr)):  # view of np.array(2.0) is one the copy
            result._arr = np.copy(result._arr)  # does not follow)
        if prim in READ_ONLY:  # a broadcast of a scalar is read-only all the same: linked to it (so writes through it
            result._base, result._view_op, result._view_kwargs = args, prim, kwargs  # refuse), not among its views
        return
    if prim is sh.getitem:
        if not sh._is_basic(args[1]) or _picks_one_entry(args[1], base.ndim):
            return
    elif not np.may_share_memory(_value(result._arr), _value(base._arr)):
        return
    result._base, result._view_op, result._view_kwargs = args, prim, kwargs
    views = base._views
    if views is None:
        with _PRUNING:  # (two threads making a base's first views at once keep one list)
            if base._views is None:
                base._views = []
            views = base._views
    elif len(views) >= 8 and not (len(views) & (len(views) - 1)):  # at 8, 16, 32, ...: drop the dead ones
        _live_views(views)
    views.append(weakref.ref(result))


def _picks_one_entry(index: Any, ndim: int) -> bool:
    """``x[1, 2]`` of a 2-d array, ``x[0]`` of a 1-d one: an integer for every axis, which NumPy answers with a scalar,
    a copy (``x[0, ...]`` and ``x[..., 0]`` are views of 0 dimensions)."""
    items = index if isinstance(index, tuple) else (index,)
    return len(items) == ndim and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items)


def _live_views(views: list) -> list:
    """Drop the dead references from a base's list, keeping what another thread appends meanwhile (only the first n
    entries are replaced, in one step; two prunes of one list take turns); the live views."""
    with _PRUNING:
        n = len(views)
        refs = [r for r in views[:n] if r() is not None]
        views[:n] = refs
    return [v for v in (r() for r in refs) if v is not None]


def _value(arr: Any) -> Any:
    """An array, or the value anp.compile's traced array holds (whether NumPy made a view is decided as it traces)."""
    return arr if type(arr) is np.ndarray else arr._traced_value() if _is_stand_in(arr) else np.asarray(arr)


def check_writable(t: Tensor, symbol: str) -> None:
    """Refuse, before ``t`` changes in place, a change that would reach a base it must not change."""
    view = t
    while view._base is not None:  # a view of a read-only view is read-only too, as in NumPy
        if view._view_op in READ_ONLY:
            raise ValueError(f"{symbol}: assignment destination is read-only (np.{view._view_op.name} gives a "
                             f"read-only view in NumPy; change a copy, np.{view._view_op.name}(...).copy())")
        view = view._base[0]
    link = t._base
    while link is not None:
        base = link[0]
        if _mode.enabled and base.node is None and base.requires_grad:
            raise LeafAssignmentError(
                f"{symbol} on a view of a leaf Tensor{base.shape} that requires grad, while ops are recorded: in "
                f"NumPy the change reaches the leaf, whose gradient would then be ambiguous. Change the leaf under "
                f"`with anp.no_grad():`, or make a copy first (v = t[...].copy())")
        if not _mode.enabled and base.node is not None:
            raise RuntimeError(
                f"{symbol} under no_grad on a view of a Tensor{base.shape} that is the result of recorded ops: the "
                f"change would reach it, and its tape entry would differentiate values it no longer has. Change a "
                f"detached copy, or do it while recording")
        link = base._base


def changed(t: Tensor) -> None:
    """``t`` was changed in place: the change reaches its base (and the base's base); each of them is then NumPy's
    view of its base again — its values were right, but its array was a new one, laid out otherwise than NumPy's
    (a reversed slice's array had positive strides, so a ravel of it was a view where NumPy's is a copy) — and the
    other views of each read it again."""
    chain = [t]
    while chain[-1]._base is not None:
        view = chain[-1]
        base = view._base[0]
        _write_into(base, view, view._view_op, view._base[1:], view._view_kwargs)
        chain.append(base)
    for view in reversed(chain[:-1]):  # the root's values are final: each link is the view of its base again
        view._arr = view._view_op.forward(view._base[0]._arr, *view._base[1:], **view._view_kwargs)
    for i, link in enumerate(chain):
        if link._views:
            _refresh_views(link, skip=chain[i - 1] if i else None)


def _positions(prim: Primitive, base: Tensor, rest: tuple, kwargs: dict) -> Any:
    """Where the view's elements sit in its base: a basic index as it is, otherwise the view primitive applied to the
    base's element numbers (a fancy index of one array per axis)."""
    if prim is sh.getitem:
        return rest[0]
    shape = base.shape
    numbers = prim.forward(np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.intp).reshape(shape),
                           *rest, **kwargs)
    return np.unravel_index(numbers, shape)


def _write_into(base: Tensor, view: Tensor, prim: Primitive, rest: tuple, kwargs: dict) -> None:
    if prim is ew.real_ or prim is ew.imag_:  # z.real or z.imag changed: the other part stays
        if _mode.enabled and (base.requires_grad or view.requires_grad):
            old = sh.earlier(base)
            new = (ar.add(view, ar.mul(ew.imag_(old), 1j)) if prim is ew.real_
                   else ar.add(ew.real_(old), ar.mul(view, 1j)))
            sh.rebind(base, _replaced(old, new))
        else:
            arr = base._arr if base._arr.flags.writeable else base._arr.copy()
            (arr.real if prim is ew.real_ else arr.imag)[...] = view._arr
            base._arr = arr
        return
    index = _positions(prim, base, rest, kwargs)
    if _mode.enabled and (base.requires_grad or view.requires_grad):
        old = sh.earlier(base)
        sh.rebind(base, sh.setitem(old, index, view))
        return
    arr = base._arr if base._arr.flags.writeable else base._arr.copy()
    arr[index] = view._arr
    base._arr = arr


def _refresh_views(base: Tensor, skip: Tensor | None) -> None:
    for v in _live_views(base._views):
        if v is skip or v._base is None or v._base[0] is not base or v._arr is None:
            continue  # (a view whose values backward freed is held by a tape entry alone: nothing reads it)
        prim, rest, kwargs = v._view_op, v._base[1:], v._view_kwargs
        if _mode.enabled and base.requires_grad:
            old = sh.earlier(v)
            sh.rebind(v, _refreshed(prim)(old, base, *rest, **kwargs))
        else:
            v._arr = prim.forward(base._arr, *rest, **kwargs)
        if v._views:
            _refresh_views(v, skip=None)


def _refreshed(prim: Primitive) -> Primitive:
    """``prim`` read again from the base: an in-place entry ``(earlier view, base, *rest) -> prim(base, *rest)``."""
    twin = _REFRESHED.get(prim)
    if twin is None:
        vjp = prim.vjps[0]
        twin = Primitive(prim.name, lambda old, base, *rest, **kwargs: prim.forward(base, *rest, **kwargs)).defvjp(
            lambda g, ans, old, *rest, **kwargs: np.zeros(np.shape(old), _data(old).dtype),  # (its old values: unread)
            lambda g, ans, old, base, *rest, **kwargs: vjp(g, ans, base, *rest, **kwargs))
        twin.in_place = True
        twin.complex_ok = prim.complex_ok
        _REFRESHED[prim] = twin
    return twin


# ``old`` replaced by ``new`` (computed from it by recorded ops): an in-place entry, so that ops that used the base
# before it changed send their gradient to its earlier version, as after any in-place change
_replaced = Primitive("assign", lambda old, new: new).defvjp(
    lambda g, ans, old, new: np.zeros(np.shape(old), _data(old).dtype), lambda g, ans, old, new: g)
_replaced.in_place = _replaced.complex_ok = True

READ_ONLY = (sh.diagonal, sh.broadcast_to)  # NumPy's views that cannot be written through
for _prim in (sh.getitem, sh.reshape, sh.transpose, sh.swapaxes, ew.real_, ew.imag_) + READ_ONLY:
    _prim.views = True
_hooks.note_view = note_view
