"""Shapes, broadcasting, indexing, joining and splitting.

The primitives are few: reshape, transpose, broadcast_to/sum_to, getitem (with its adjoint
``untake``), setitem, concatenate, stack and pad. Everything else here (squeeze, flip, roll,
repeat, tile, split, hstack, ...) is written with them, so its gradient — of any order — is
theirs. Notation: ``g`` is the incoming gradient, ``ans`` the op's output.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from ..tensor import Primitive, Tensor, _assigned, _data, _hooks, _mode, as_array
from ._kernels import fast_sum

# --------------------------------------------------------------------------- broadcasting


def _sum_to(x, shape):
    """Sum ``x`` over the axes that broadcasting added or stretched to reach ``shape``."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    if x.ndim == 2 and shape == (1, x.shape[1]):  # a bias gradient: the sum over the rows
        return fast_sum(x, axis=0, keepdims=True)
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    out = fast_sum(x, axis=axes, keepdims=True)
    return out if out.shape == shape else out.reshape(shape)


def _broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


sum_to = Primitive("sum_to", _sum_to)
broadcast_to = Primitive("broadcast_to", _broadcast_to)
sum_to.defvjp(lambda g, ans, x, shape: broadcast_to(g, np.shape(x)))
broadcast_to.defvjp(lambda g, ans, x, shape: sum_to(g, np.shape(x)))


def unbroadcast(g, x):
    """Sum ``g`` down to the shape of ``x`` (undo NumPy broadcasting); ``x`` is an array or Tensor."""
    return g if g.shape == x.shape else sum_to(g, x.shape)


def broadcast_arrays(*xs):
    shape = np.broadcast_shapes(*(np.shape(x) for x in xs))
    return [broadcast_to(x, shape) if isinstance(x, Tensor) else np.broadcast_to(x, shape) for x in xs]

# --------------------------------------------------------------------------- reshaping


def _reshape(x, shape, order="C"):
    if order not in ("C", "F"):  # 'A' reads the memory layout, which a Tensor's values do not promise
        raise ValueError(f"reshape: order {order!r} is not supported (only 'C' and 'F')")
    return np.reshape(x, shape, order=order)


def _transpose(x, axes=None):
    return np.transpose(x, axes)


def _swapaxes(x, axis1, axis2):
    return np.swapaxes(x, axis1, axis2)


reshape = Primitive("reshape", _reshape).defvjp(  # either order is a permutation, undone in the same order
    lambda g, ans, x, shape, order="C": reshape(g, np.shape(x), order))
transpose = Primitive("transpose", _transpose).defvjp(  # the inverse permutation (of the axes made non-negative)
    lambda g, ans, x, axes=None: transpose(g, None if axes is None else tuple(np.argsort(np.mod(axes, np.ndim(x))))))
swapaxes = Primitive("swapaxes", _swapaxes).defvjp(lambda g, ans, x, axis1, axis2: swapaxes(g, axis1, axis2))


def _axes(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (an int or a sequence) as non-negative ints; one out of bounds, or named twice: NumPy's errors."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = axes_in_bounds(axes, ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {tuple(axes)}")
    return out


def _axis_error(a, ndim):
    raise np.exceptions.AxisError(f"axis {a} is out of bounds for array of dimension {ndim}")


def axes_in_bounds(axes, ndim: int) -> tuple[int, ...]:
    """``axes`` as non-negative ints, each checked against ``ndim`` (NumPy's AxisError); an axis may repeat (fftn
    transforms it twice)."""
    return tuple(int(a) % ndim if -ndim <= a < ndim else _axis_error(a, ndim) for a in axes)


def ravel(x, order="C"):
    """Flatten to 1-D, as NumPy's: a view where ``x`` is contiguous in that order, a copy otherwise (a strided row,
    a diagonal: ``reshape(-1)`` is a view of those, ``np.ravel`` is not)."""
    flat = reshape(x, (-1,), order)  # (a 1-d view is contiguous exactly where x is, in that order)
    return flat if not isinstance(flat, Tensor) or flat._base is None else laid_out(flat, order)


def squeeze(x, axis=None):
    shape = np.shape(x)
    if not shape and isinstance(axis, (int, np.integer)) and axis in (0, -1):  # (NumPy's rule for a 0-d array)
        return reshape(x, ())
    axes = tuple(i for i, n in enumerate(shape) if n == 1) if axis is None else _axes(axis, len(shape))
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"squeeze: cannot select axis {a} of shape {shape}: its size is not 1")
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in axes))


def expand_dims(x, axis):
    shape = list(np.shape(x))
    for a in sorted(_axes(axis, len(shape) + (1 if isinstance(axis, (int, np.integer)) else len(axis)))):
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


def moveaxis(x, source, destination):
    nd = np.ndim(x)
    src, dst = _axes(source, nd), _axes(destination, nd)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source!r} and destination {destination!r} name different numbers of axes")
    order = [a for a in range(nd) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def axes_to_last(a, axis) -> tuple:
    """a with the reduced axes moved to the end and flattened into one; the kept axes' lengths (for keepdims)."""
    nd = np.ndim(a)
    axes = tuple(range(nd)) if axis is None else _axes(axis, nd)
    rest = [i for i in range(nd) if i not in axes]
    moved = moveaxis(a, axes, tuple(range(nd - len(axes), nd))) if axes else a
    kept = tuple(1 if i in axes else np.shape(a)[i] for i in range(nd))
    length = int(np.prod([np.shape(a)[i] for i in axes]))  # (not −1: a zero-size array leaves it undecided)
    return reshape(moved, tuple(np.shape(a)[i] for i in rest) + (length,)), kept


def rollaxis(x, axis, start=0):
    nd = np.ndim(x)
    axis = _axes(axis, nd)[0]
    start = start + nd if start < 0 else start  # NumPy's rule: −1 is before the last axis, not after it
    if not 0 <= start <= nd:
        raise np.exceptions.AxisError(f"rollaxis: 'start' arg requires {-nd} <= start < {nd + 1}, but {start} was "
                                      f"passed in")
    return moveaxis(x, axis, start - 1 if axis < start else start)


def _atleast(nd: int, x, where_new):
    shape = np.shape(x)
    if len(shape) >= nd:
        return x
    return reshape(x, where_new(shape))


def atleast_1d(*xs):
    out = [_atleast(1, x, lambda s: (1,)) for x in xs]
    return out[0] if len(out) == 1 else out


def atleast_2d(*xs):
    out = [_atleast(2, x, lambda s: (1,) * (2 - len(s)) + s) for x in xs]
    return out[0] if len(out) == 1 else out


def atleast_3d(*xs):
    def shape3(s):
        return {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)]
    out = [_atleast(3, x, shape3) for x in xs]
    return out[0] if len(out) == 1 else out

# --------------------------------------------------------------------------- selecting and indexing


def _where(condition, x, y):
    return np.where(condition, x, y)


where = Primitive("where", _where).defvjp(
    None,
    lambda g, ans, c, x, y: unbroadcast(where(_data(c), g, 0.0), x),
    lambda g, ans, c, x, y: unbroadcast(where(_data(c), 0.0, g), y))


def select(condlist, choicelist, default=0):
    """The first choice whose condition holds (nested ``where``: ∂ flows to the chosen entry)."""
    out = default
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):
        out = where(_data(cond), choice, out)
    return out


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


def _flat_positions(index, shape):
    """For an index of one integer array per axis (``f[rows, cols]``): the flat positions it reads, so that
    a scatter-add is one ``np.bincount`` (several times faster than ``np.add.at``); None otherwise."""
    if not isinstance(index, tuple) or len(index) != len(shape) or not all(
            isinstance(i, np.ndarray) and i.dtype.kind in "iu" for i in index):
        return None
    try:
        return np.ravel_multi_index(np.broadcast_arrays(*index), shape, mode="wrap")
    except ValueError:
        return None


def _scatter_add(out, index, g):
    """out[index] += g, repeated indices accumulating."""
    flat = _flat_positions(index, out.shape) if out.dtype.char in "fd" else None  # bincount: float64 weights
    if flat is None or flat.shape != np.shape(g):
        np.add.at(out, index, g)
    else:
        out += np.bincount(flat.ravel(), weights=np.ravel(g), minlength=out.size).reshape(out.shape).astype(
            out.dtype, copy=False)


def _untake(g, index, shape):
    """Scatter ``g`` into zeros of ``shape`` at ``index``; repeated indices accumulate."""
    out = np.zeros_like(g, shape=shape)
    if _is_basic(index):
        out[index] = g
    else:
        _scatter_add(out, index, g)
    return out


def _getitem(x, index):
    return x[index]


getitem = Primitive("getitem", _getitem).defvjp(lambda g, ans, x, index: untake(g, index, np.shape(x)))
untake = Primitive("untake", _untake).defvjp(lambda g, ans, gx, index, shape: getitem(g, index))
getitem.rule = "repeated indices accumulate their gradients"


def _getitem_add(i, acc, g, vals, kwargs):
    index = vals[1]
    if _is_basic(index):
        acc[index] += g
    else:
        _scatter_add(acc, index, g)


getitem.vjp_add = _getitem_add


def _along(axis: int, indices) -> tuple:
    return (slice(None),) * axis + (indices,)


def _take(x, indices, axis):
    return np.take(x, indices, axis=axis)


# x[:, ..., indices] as np.take makes it: a new C-ordered array (advanced indexing along a later axis lays the result
# out otherwise, and then a reshape of it is a copy where NumPy's is a view: an in-place change it did not follow)
take_along = Primitive("take", _take).defvjp(
    lambda g, ans, x, indices, axis: untake(g, _along(axis, indices), np.shape(x)))
take_along.rule = "repeated indices accumulate their gradients"
take_along.vjp_add = lambda i, acc, g, vals, kwargs: _scatter_add(acc, _along(vals[2], vals[1]), g)


def _setitem(x, index, v):
    if np.iscomplexobj(v) and not np.iscomplexobj(x):
        raise TypeError(f"assigning complex values into a real array ({x.dtype}) would drop their imaginary parts "
                        f"(NumPy's ComplexWarning): make the array complex first (t.astype(complex))")
    out = np.copy(x)
    out[index] = v
    return out


def _written(index, shape):
    """For ``x[index] = v`` on an array of ``shape``: which elements of the broadcast ``v`` (shaped like
    ``x[index]``) are in the result, as a boolean mask, or ``None`` when every one is (no element written
    twice). Where an index repeats NumPy keeps one write (the last); asking NumPy itself which one, by
    writing the elements' numbers, follows its semantics for fancy, boolean and mixed indices exactly."""
    if _is_basic(index):
        return None
    items = index if isinstance(index, tuple) else (index,)
    advanced = [i for i in items if not (i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)))]
    if len(advanced) == 1 and getattr(advanced[0], "dtype", None) == np.bool_:  # one mask: each element once (and a
        return None  # mask anp.compile traces, an input, is not read: the replay follows its values)
    size = int(np.prod(shape, dtype=np.int64))
    flat = np.arange(size, dtype=np.intp).reshape(shape)
    target = flat[index]                               # where each element of v lands
    if np.unique(target).size == target.size:
        return None
    order = np.full(size, -1, dtype=np.intp)
    order.reshape(shape)[index] = np.arange(target.size, dtype=np.intp).reshape(target.shape)
    return order[target] == np.arange(target.size, dtype=np.intp).reshape(target.shape)


def _setitem_vjp_v(g, ans, x, index, v):
    """g[index] where v's element was written (an element overwritten by a repeated index gets 0)."""
    picked = getitem(g, index)
    kept = _written(index, np.shape(x))
    if kept is not None:
        picked = where(kept, picked, 0.0)
    return unbroadcast(picked, v)


setitem = Primitive("setitem", _setitem).defvjp(
    lambda g, ans, x, index, v: setitem(g, index, 0.0),
    None,
    _setitem_vjp_v)
setitem.in_place = True  # t[index] = v: ops that used the earlier t route their gradient to it
for _p in (sum_to, broadcast_to, reshape, transpose, swapaxes, where, getitem, untake, setitem, take_along):
    _p.complex_ok = True  # linear, dtype-blind: their VJPs hold for complex values as written
setitem.rule = ("x[index] = v as a new array: x gets g outside index, v gets g[index] (summed where v broadcast; "
                "an element a repeated index overwrote gets 0, as NumPy keeps the last write)")


def index_data(index):
    """An index with Tensors in it (``t[idx_tensor]``) as plain arrays: indices are not differentiable."""
    if isinstance(index, tuple):
        return tuple(_data(i) for i in index)
    return _data(index)


def earlier(t: Tensor) -> Tensor:
    """``t`` as it is now (a new object on its tape entry), for the in-place entry about to replace it:
    the ops that already used ``t`` send their gradient there."""
    old = Tensor._make(t._arr, t.node)
    old.name, old.requires_grad = t.name, t.requires_grad
    return old


def rebind(t: Tensor, new: Tensor) -> None:
    """Make ``t`` the Tensor ``new`` is (its values and tape entry): ``t`` was changed in place."""
    t._arr, t.node, t.requires_grad = new._arr, new.node, new.requires_grad
    _assigned.count += 1



def take(x, indices, axis=None, out=None, mode="raise"):
    """``np.take``; ``mode='wrap'`` and ``'clip'`` map the indices first, as NumPy does."""
    _no_out("take", out)
    indices = _data(indices)
    if mode != "raise":
        n = np.size(x) if axis is None else np.shape(x)[_axes(axis, np.ndim(x))[0]]
        if mode == "wrap":
            indices = np.mod(indices, n)
        elif mode == "clip":
            indices = np.clip(indices, 0, n - 1)
        else:
            raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', not {mode!r}")
    if axis is None:
        return getitem(ravel(x), indices)
    return take_along(x, indices, _axes(axis, np.ndim(x))[0])


def take_along_axis(x, indices, axis):
    """``x`` picked at ``indices`` along ``axis`` (as ``np.take_along_axis``), by advanced indexing."""
    indices = as_array(_data(indices))
    if axis is None:
        if indices.ndim != 1:
            raise ValueError(f"take_along_axis: when axis=None, `indices` must have a single dimension (got shape "
                             f"{indices.shape})")
        return getitem(ravel(x), indices)
    nd = np.ndim(x)
    axis = _axes(axis, nd)[0]
    if indices.ndim != nd:
        raise ValueError(f"take_along_axis: `indices` (shape {indices.shape}) and `arr` (shape {np.shape(x)}) must "
                         f"have the same number of dimensions")
    shape = np.broadcast_shapes(np.shape(x)[:axis] + (1,) + np.shape(x)[axis + 1:], indices.shape)
    grids = list(np.ogrid[tuple(slice(n) for n in shape)])
    grids = [grid if i != axis else np.broadcast_to(indices, shape) for i, grid in enumerate(grids)]
    return getitem(x, tuple(grids))


def compress(condition, a, axis=None, out=None):
    """``np.compress``: the slices of ``a`` along ``axis`` (of the flattened ``a`` for None) where ``condition`` holds;
    a ``take`` of its true positions, so ∂ flows back to them (a shorter condition reads only the first slices)."""
    _no_out("compress", out)
    cond = np.asarray(_data(condition))
    if cond.ndim != 1:
        raise ValueError(f"compress: condition must be a 1-d array, got shape {cond.shape}")
    return take(a, np.flatnonzero(cond), axis=axis)


def extract(condition, arr):
    """``np.extract``: the entries of ``arr`` where ``condition`` is nonzero, both read flattened."""
    return take(arr, np.flatnonzero(np.ravel(_data(condition))))


def piecewise(x, condlist, funclist, *args, **kw):
    """``np.piecewise``: each function applied to the entries its condition picks (``f(x[cond])``, so a function is
    never evaluated, nor differentiated, outside its piece), later conditions over earlier ones, 0 elsewhere; one
    function more than conditions is the otherwise case. The result has ``x``'s dtype, as NumPy's."""
    conds = _data(condlist)
    first = None if np.isscalar(conds) or not len(conds) else _data(conds[0])
    if first is None or (getattr(first, "ndim", np.ndim(first)) == 0 and np.ndim(x) != 0):  # one condition
        conds = [conds]
    conds = [c.astype(bool) if hasattr(c, "astype") else np.asarray(c, dtype=bool) for c in map(_data, conds)]
    if len(conds) == len(funclist) - 1:
        conds.append(~np.any(np.stack(conds), axis=0) if conds else np.ones(np.shape(x), bool))
    elif len(conds) != len(funclist):
        raise ValueError(f"piecewise: with {len(conds)} condition(s), {len(conds)} or {len(conds) + 1} functions "
                         f"are expected, got {len(funclist)}")
    y = np.zeros_like(x)  # a Tensor for a Tensor (under anp.compile, recorded, so that the pieces can go in)
    for cond, func in zip(conds, funclist):
        if not callable(func):
            y = setitem(y, cond, func)
        elif np.any(cond):
            y = setitem(y, cond, func(getitem(x, cond) if isinstance(x, Tensor) else np.asarray(x)[cond], *args, **kw))
    return y


def _concatenate(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


def _concat_offsets(xs, axis):
    """Where each part starts along ``axis`` (flat, for ``axis=None``)."""
    sizes = [np.size(x) for x in xs] if axis is None else [np.shape(x)[axis] for x in xs]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()


def _concat_saving(*xs, axis=0):
    return np.concatenate(xs, axis=axis), _concat_offsets(xs, axis)


def _concat_vjp(i, g, ans, *xs, axis=0, saved=None):
    """The part's slice of g. The offsets are kept by the forward (one pass, not one per part); under
    create_graph they are counted again."""
    starts = saved if saved is not None else _concat_offsets(xs, axis)
    start = starts[i]
    if axis is None:
        return reshape(getitem(g, slice(start, start + np.size(xs[i]))), np.shape(xs[i]))
    index = [slice(None)] * np.ndim(ans)
    index[axis] = slice(start, start + np.shape(xs[i])[axis])
    return getitem(g, tuple(index))


_concat = Primitive("concatenate", _concatenate, forward_saving=_concat_saving).defvjp_argnum(_concat_vjp)


def _concat_vjp_all(g, ans, xs, kwargs):
    starts = kwargs.get("saved") or _concat_offsets(xs, kwargs.get("axis", 0))
    if kwargs.get("axis", 0) is None:
        return [reshape(getitem(g, slice(a, b)), np.shape(x)) for a, b, x in zip(starts, starts[1:], xs)]
    lead = (slice(None),) * (_axes(kwargs.get("axis", 0), np.ndim(ans))[0])
    return [getitem(g, lead + (slice(a, b),)) for a, b in zip(starts, starts[1:])]


_concat.vjp_all = _concat_vjp_all


def concatenate(xs: Sequence, axis: int | None = 0, out=None, dtype=None, casting="same_kind"):
    """Join tensors along an existing axis; ∂ is the matching slice of g."""
    _no_out("concatenate", out)
    return _concat(*(xs if dtype is None else cast_inputs("concatenate", xs, dtype, casting)), axis=axis)


concatenate.primitive = _concat


def _stack(*xs, axis=0):
    return np.stack(xs, axis=axis)


def _stack_vjp(i, g, ans, *xs, axis=0):
    index = [slice(None)] * np.ndim(ans)
    index[axis] = i
    return getitem(g, tuple(index))


_stack_prim = Primitive("stack", _stack).defvjp_argnum(_stack_vjp)


def _stack_vjp_all(g, ans, xs, kwargs):
    lead = (slice(None),) * (_axes(kwargs.get("axis", 0), np.ndim(ans))[0])
    return [getitem(g, lead + (i,)) for i in range(len(xs))]


_stack_prim.vjp_all = _stack_vjp_all


def stack(xs: Sequence, axis: int = 0, out=None, dtype=None, casting="same_kind"):
    """Join tensors along a new axis; ∂ is the matching slice of g."""
    _no_out("stack", out)
    return _stack_prim(*(xs if dtype is None else cast_inputs("stack", xs, dtype, casting)), axis=axis)


stack.primitive = _stack_prim


def cast_inputs(name: str, inputs: Sequence, dtype, casting: str = "same_kind") -> tuple:
    """The array inputs in ``dtype`` (NumPy's ``dtype=``: the computation runs in it, each input cast first),
    refused as NumPy refuses a cast its ``casting`` rule does not allow (float64 to int under 'same_kind')."""
    dtype = np.dtype(dtype)
    cast = []
    for x in inputs:
        if isinstance(x, (Tensor, np.ndarray)) and x.dtype != dtype:
            if not np.can_cast(x.dtype, dtype, casting):
                raise TypeError(f"{name}: cannot cast an input from {x.dtype} to {dtype} with casting rule "
                                f"{casting!r} (NumPy's error too)")
            x = astype(x, dtype)
        cast.append(x)
    return tuple(cast)


def in_dtype(reduction, x, dtype, **kwargs):
    """A reduction computed in ``dtype``, as NumPy computes it: each entry cast first (np.sum(x, dtype=int) sums
    int(x_i), 1 for [0.6, 0.7, −0.2, 1.9], where a cast of the float sum gives 3), the result in ``dtype``."""
    if dtype is None:
        return reduction(x, **kwargs)
    dtype = np.dtype(dtype)
    res = reduction(astype(x, dtype), **kwargs)
    return res if res.dtype == dtype else astype(res, dtype)  # a mean of integers (a float), an int32 sum (int64)


def _no_out(name: str, out) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= is not supported by autonp (it would write outside the tape); "
                        f"use the returned Tensor")


def array(obj, dtype=None):
    """A (possibly nested) list of Tensors and numbers as one Tensor, stacked on the tape."""
    if isinstance(obj, Tensor):
        return obj if dtype is None else obj.astype(dtype)
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (Tensor, list, tuple)) for v in obj):
        res = _stack_prim(*(array(v) if isinstance(v, (list, tuple)) else v for v in obj), axis=0)
        return res if dtype is None else res.astype(dtype)
    return Tensor(obj, dtype=dtype)


_hooks.from_sequence = array


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``np.linspace`` differentiable in ``start`` and ``stop``: start + i·(stop − start)/div, the last
    sample exactly ``stop`` (as NumPy computes it)."""
    if axis != 0:
        raise TypeError("linspace: autonp supports axis=0")
    div = (num - 1) if endpoint else num
    shape = (num,) + (1,) * len(np.broadcast_shapes(np.shape(_data(start)), np.shape(_data(stop))))
    idx = np.arange(num, dtype=np.result_type(_data(start), _data(stop), float(num))).reshape(shape)
    delta = stop - start
    step = delta / div if div > 0 else delta * np.nan
    y = idx * step + start if div > 0 else idx * delta + start
    if endpoint and num > 1:
        last = broadcast_to(stop, np.broadcast_shapes(np.shape(_data(start)), np.shape(_data(stop))))
        y = concatenate([getitem(y, slice(0, -1)), expand_dims(as_dtype(last, _data(y).dtype), 0)], axis=0)
    if dtype is not None:
        y = y.astype(dtype)
    return (y, step) if retstep else y


def hstack(xs: Sequence, dtype=None, casting="same_kind"):
    xs = atleast_1d(*xs) if len(xs) > 1 else [atleast_1d(xs[0])]
    return concatenate(xs, axis=0 if np.ndim(xs[0]) == 1 else 1, dtype=dtype)


def vstack(xs: Sequence, dtype=None, casting="same_kind"):
    xs = atleast_2d(*xs) if len(xs) > 1 else [atleast_2d(xs[0])]
    return concatenate(xs, axis=0, dtype=dtype)


def dstack(xs: Sequence):
    xs = atleast_3d(*xs) if len(xs) > 1 else [atleast_3d(xs[0])]
    return concatenate(xs, axis=2)


def column_stack(xs: Sequence):
    return concatenate([reshape(x, (-1, 1)) if np.ndim(x) < 2 else x for x in xs], axis=1)


def append(x, values, axis=None):
    if axis is None:
        return concatenate([ravel(x), ravel(values)], axis=0)
    return concatenate([x, values], axis=axis)


def array_split(x, indices_or_sections, axis=0):
    n = np.shape(x)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise ValueError("array_split: number sections must be larger than 0")
        sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
    else:
        bounds = np.concatenate([[0], list(indices_or_sections), [n]])
    index = [slice(None)] * np.ndim(x)
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        index[axis] = slice(int(lo), int(hi))
        parts.append(getitem(x, tuple(index)))
    return parts


def split(x, indices_or_sections, axis=0):
    if isinstance(indices_or_sections, (int, np.integer)) and np.shape(x)[axis] % indices_or_sections:
        raise ValueError(f"split: array of size {np.shape(x)[axis]} along axis {axis} does not divide into "
                         f"{indices_or_sections} equal parts (use array_split)")
    return array_split(x, indices_or_sections, axis)


def hsplit(x, sections):
    return split(x, sections, axis=1 if np.ndim(x) > 1 else 0)


def vsplit(x, sections):
    return split(x, sections, axis=0)


def dsplit(x, sections):
    return split(x, sections, axis=2)

# --------------------------------------------------------------------------- reordering


def flip(x, axis=None):
    nd = np.ndim(x)
    axes = range(nd) if axis is None else _axes(axis, nd)
    index = [slice(None)] * nd
    for a in axes:
        index[a] = slice(None, None, -1)
    return getitem(x, tuple(index))


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def rot90(x, k=1, axes=(0, 1)):
    if len(axes) != 2:
        raise ValueError("rot90: len(axes) must be 2")
    a, b = _axes(axes, np.ndim(x))  # in range and different, or NumPy's errors
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, a), b)
    order = list(range(np.ndim(x)))
    order[a], order[b] = order[b], order[a]
    return transpose(flip(x, b), tuple(order)) if k == 1 else flip(transpose(x, tuple(order)), b)


def _roll(x, shift, axis=None):
    return np.roll(x, shift, axis)


def _neg(shift):
    """−shift, in any form np.roll takes (a number, a sequence, an array: NumPy truncates fractions toward zero, so the
    negated shift rolls back exactly)."""
    return -np.asarray(_data(shift))


roll_prim = Primitive("roll", _roll).defvjp(lambda g, ans, x, shift, axis=None: roll_prim(g, _neg(shift), axis))
roll_prim.rule = "a permutation: the gradient rolls back"


def roll(x, shift, axis=None):
    """``np.roll``: one copy forward, the gradient rolled back by −shift."""
    return roll_prim(x, shift, axis)


def repeat(x, repeats, axis=None):
    if axis is None:
        x, axis = ravel(x), 0
    axis = _axes(axis, np.ndim(x))[0]
    return take_along(x, np.repeat(np.arange(np.shape(x)[axis]), _data(repeats)), axis)


def tile(x, reps):
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    shape = np.shape(x)
    nd = max(len(shape), len(reps))
    shape = (1,) * (nd - len(shape)) + shape
    reps = (1,) * (nd - len(reps)) + reps
    spread = tuple(v for n in shape for v in (1, n))
    grown = broadcast_to(reshape(x, spread), tuple(v for r, n in zip(reps, shape) for v in (r, n)))
    out = reshape(grown, tuple(r * n for r, n in zip(reps, shape)))
    # NumPy's tile is a new array: never the broadcast view (where the reshape can keep one) nor x itself (reps of 1)
    return copy(out) if all(r == 1 for r in reps) or not _data(out).flags.writeable else out

# --------------------------------------------------------------------------- padding, diagonals, triangles


def _pad_constant(x, pad_width, constant_values=0):
    return np.pad(x, pad_width, mode="constant", constant_values=constant_values)


def _pad_inner(g, x, pad_width):
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (np.ndim(x), 2))
    return getitem(g, tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, np.shape(x))))


pad_constant = Primitive("pad", _pad_constant).defvjp(
    lambda g, ans, x, pad_width, constant_values=0: _pad_inner(g, x, pad_width))
pad_constant.rule = "constant mode; edge, reflect, symmetric and wrap are gathers (repeats accumulate)"


def pad(x, pad_width, mode="constant", **kwargs):
    """``np.pad``. Constant mode is a primitive (∂: the inner part of g); edge, reflect, symmetric
    and wrap are gathers (``x`` at the padded index), so repeated entries accumulate."""
    if callable(mode):
        raise TypeError("pad: a function as mode is not differentiable; use a named mode")
    shape = np.shape(x)
    if not shape:  # NumPy pads a 0-d array to itself (after checking the widths)
        np.pad(np.zeros(()), pad_width, mode=mode if isinstance(mode, str) else "constant")
        return copy(x)
    widths = _pad_widths(pad_width, len(shape))
    if mode == "constant":
        return pad_constant(x, widths, kwargs.get("constant_values", 0))
    if mode not in ("edge", "reflect", "symmetric", "wrap"):
        raise ValueError(f"pad: mode {mode!r} is not differentiable in autonp (use constant, edge, reflect, "
                         f"symmetric or wrap)")
    if kwargs.get("reflect_type", "even") != "even":
        raise ValueError(f"pad: reflect_type={kwargs['reflect_type']!r} is not differentiable in autonp (its "
                         f"values are 2·edge − the reflection, not entries of x); use reflect_type='even'")
    index = np.ix_(*(np.pad(np.arange(n), w, mode=mode, **kwargs) for n, w in zip(shape, widths)))
    return getitem(x, index)


def _pad_widths(pad_width, ndim: int) -> np.ndarray:
    """(ndim, 2) integer widths from any form np.pad takes: a number, a pair, one pair per axis, or (NumPy
    ≥ 2.3) a dict {axis: number or pair} for some of the axes."""
    if isinstance(pad_width, dict):
        widths = np.zeros((ndim, 2), dtype=int)
        for axis, w in pad_width.items():
            if not -ndim <= axis < ndim:
                raise ValueError(f"pad: axis {axis} of pad_width is out of bounds for an array of {ndim} dimensions")
            widths[axis % ndim] = np.broadcast_to(np.asarray(w, dtype=int), (2,))
        return widths
    return np.broadcast_to(np.asarray(pad_width, dtype=int), (ndim, 2))


pad.primitive = pad_constant


def _diagonal(x, offset=0, axis1=0, axis2=1):
    return np.diagonal(x, offset, axis1, axis2)


def _diagonal_vjp(g, ans, x, offset=0, axis1=0, axis2=1):
    """g scattered back onto the diagonal: into zeros with the two axes last, at (i, i + offset), moved back."""
    nd = np.ndim(x)
    axis1, axis2 = _axes(axis1, nd)[0], _axes(axis2, nd)[0]
    moved = [n for i, n in enumerate(np.shape(x)) if i not in (axis1, axis2)] + [np.shape(x)[axis1], np.shape(x)[axis2]]
    n, m = moved[-2:]
    rows = np.arange(max(0, -offset), min(n, m - offset)) if n and m else np.arange(0)
    return moveaxis(untake(g, (Ellipsis, rows, rows + offset), tuple(moved)), (nd - 2, nd - 1), (axis1, axis2))


# NumPy's read-only view of the diagonal: it follows the array's in-place changes (autonp.ops.views), and a change
# through it is refused, as NumPy refuses it
diagonal = Primitive("diagonal", _diagonal).defvjp(_diagonal_vjp)
diagonal.complex_ok = True


def diag(v, k=0):
    nd = np.ndim(v)
    if nd == 2:
        return diagonal(v, k)
    if nd != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {np.shape(v)}")
    n = np.shape(v)[0] + abs(k)
    rows = np.arange(np.shape(v)[0]) + max(0, -k)
    return untake(v, (rows, rows + k), (n, n))


def tril(x, k=0):
    """Entries on and below the k-th diagonal (a 1-D x: the rows of an n×n matrix, as NumPy)."""
    return where(np.tri(*np.shape(x)[-2:], k=k, dtype=bool), x, 0.0)


def triu(x, k=0):
    """Entries on and above the k-th diagonal (a 1-D x: the rows of an n×n matrix, as NumPy)."""
    return where(~np.tri(*np.shape(x)[-2:], k=k - 1, dtype=bool), x, 0.0)

# --------------------------------------------------------------------------- dtype and copies


def _astype(x, dtype):
    return as_array(x).astype(dtype)


def _cast_vjp(g, ans, x, dtype):
    """The gradient cast back; a real x takes the real part of a complex one (HIPS's convention)."""
    if np.iscomplexobj(_data(g)) and not np.iscomplexobj(_data(x)):
        from .elementwise import real
        g = real(g)
    return astype(g, _data(x).dtype)


_cast = Primitive("astype", _astype).defvjp(_cast_vjp)
_cast.complex_ok = True
_cast.rule = "between floating dtypes the gradient is cast back; to integers or bool: no gradient (a constant)"


def astype(x, dtype, order="K", casting="unsafe", subok=True, copy=True):
    """``x.astype(dtype)``. Between floating and complex dtypes differentiable (the gradient is cast back, a real
    x's as its real part); an integer or bool result carries no gradient (``requires_grad`` False, as in
    PyTorch: it is piecewise constant, and can index arrays); complex to real is refused (use np.real)."""
    kind = np.dtype(dtype).kind
    source = _data(x).dtype if hasattr(_data(x), "dtype") else np.asarray(_data(x)).dtype
    if casting != "unsafe" and not np.can_cast(source, dtype, casting):
        raise TypeError(f"astype: cannot cast {source} to {np.dtype(dtype)} under casting={casting!r} (NumPy's rule)")
    if kind == "f" and isinstance(x, Tensor) and x.dtype.kind == "c" and x.requires_grad and _mode.enabled:
        raise TypeError(f"astype({np.dtype(dtype)}) of a complex Tensor{x.shape} ({x.dtype}) that requires grad "
                        f"would drop the imaginary part (NumPy's ComplexWarning): take np.real(t) or np.abs(t)")
    if not copy and isinstance(x, Tensor) and x.dtype == np.dtype(dtype):  # NumPy's copy=False: the array itself
        return laid_out(x, order)
    if kind in "fc" or not isinstance(x, Tensor):
        return laid_out(_cast(x, dtype), order)
    return laid_out(Tensor._make(as_array(x._arr).astype(dtype), None), order)


astype.primitive = _cast
astype.rule = _cast.rule


def as_dtype(a, dtype):
    """a in ``dtype``: a Tensor's cast recorded (none when it already is), anything else as an array (a compiled
    trace's stand-in stays one)."""
    if isinstance(a, Tensor):
        return a if a.dtype == dtype else astype(a, dtype)
    arr = as_array(a)
    return arr if arr.dtype == dtype else arr.astype(dtype)


def _copy(x, order="K"):
    return np.copy(x, order=order)


copy = Primitive("copy", _copy).defvjp(lambda g, ans, x, order="K": g)
_hooks.copy = copy


def laid_out(x, order):
    """``x`` in ``order`` ('C' or 'F'; any other, as it is): itself when it already is, else a copy laid out so. What
    NumPy lays out in an order, autonp does: a later reshape is then a view exactly where NumPy's is (and follows
    in-place changes)."""
    if order not in ("C", "F"):
        return x
    flags = _data(x).flags
    return x if (flags.c_contiguous if order == "C" else flags.f_contiguous) else copy(x, order)


for _p in (_concat, _stack_prim, roll_prim, pad_constant, copy):
    _p.complex_ok = True

# --------------------------------------------------------------------------- sliding windows (convolution, pooling)


def _window_geometry(shape, kernel, stride, dilation):
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho = (shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (shape[3] - dw * (kw - 1) - 1) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"windows: a {kh}×{kw} kernel (dilation {dilation}) does not fit an input of spatial size "
                         f"{shape[2:]}")
    return ho, wo


def _sliding(x, axes, sizes):
    """Every window of ``sizes`` along ``axes``: a read-only strided view, the window offsets as new last axes
    (``np.lib.stride_tricks.sliding_window_view``)."""
    return np.lib.stride_tricks.sliding_window_view(x, tuple(sizes), axis=tuple(axes))


def _unsliding(g, shape, axes, sizes):
    """The adjoint of ``sliding``: each window's values added back where they came from (one strided
    addition per offset; zeros_like of g, so that a compiled trace records them)."""
    out = np.zeros_like(g, shape=shape)
    nd = len(shape)
    for offset in itertools.product(*(range(k) for k in sizes)):
        index = [slice(None)] * nd
        for a, o, k in zip(axes, offset, sizes):
            index[a] = slice(o, o + shape[a] - k + 1)
        out[tuple(index)] += g[(Ellipsis,) + offset]
    return out


sliding = Primitive("sliding_windows", _sliding).defvjp(
    lambda g, ans, x, axes, sizes: unsliding(g, np.shape(x), axes, sizes))
unsliding = Primitive("unsliding_windows", _unsliding).defvjp(
    lambda g, ans, gx, shape, axes, sizes: sliding(g, axes, sizes))


def _windows(x, kernel, stride, dilation):
    """Every kernel-sized window of an NCHW array, as a contiguous (N, Ho, Wo, C, kh, kw) array (im2col):
    a strided view of ``x``, copied once so that the product that follows reads it in order."""
    n, c = x.shape[:2]
    ho, wo = _window_geometry(x.shape, kernel, stride, dilation)
    if type(x) is not np.ndarray:  # an array stand-in (anp.compile): the same values from slices
        (sh, sw), (dh, dw) = stride, dilation
        parts = [x[:, :, p * dh:p * dh + sh * (ho - 1) + 1:sh, q * dw:q * dw + sw * (wo - 1) + 1:sw]
                 for p in range(kernel[0]) for q in range(kernel[1])]
        return np.stack(parts, axis=-1).reshape((n, c, ho, wo) + tuple(kernel)).transpose(0, 2, 3, 1, 4, 5).copy()
    s0, s1, s2, s3 = x.strides
    view = np.lib.stride_tricks.as_strided(
        x, shape=(n, ho, wo, c) + tuple(kernel),
        strides=(s0, s2 * stride[0], s3 * stride[1], s1, s2 * dilation[0], s3 * dilation[1]), writeable=False)
    return np.ascontiguousarray(view)


def _unwindows(g, shape, kernel, stride, dilation):
    """The adjoint of ``windows``: each window's values added back where it came from (col2im);
    one strided addition per kernel offset."""
    out = np.zeros_like(g, shape=shape)
    ho, wo = g.shape[1:3]
    (sh, sw), (dh, dw) = stride, dilation
    for p in range(kernel[0]):
        for q in range(kernel[1]):
            out[:, :, p * dh:p * dh + sh * (ho - 1) + 1:sh, q * dw:q * dw + sw * (wo - 1) + 1:sw] += \
                g[:, :, :, :, p, q].transpose(0, 3, 1, 2)
    return out


windows = Primitive("windows", _windows).defvjp(
    lambda g, ans, x, kernel, stride, dilation: unwindows(g, np.shape(x), kernel, stride, dilation))
unwindows = Primitive("unwindows", _unwindows).defvjp(
    lambda g, ans, gw, shape, kernel, stride, dilation: windows(g, kernel, stride, dilation))
windows.rule = "overlapping windows accumulate their gradients"
