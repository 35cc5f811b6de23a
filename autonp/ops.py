"""Every primitive: its NumPy forward and its vector-Jacobian products, side by side.

Adding an op touches this file only: define the forward, register the VJPs with
``defvjp`` (one per argument), and, if it should be a method or operator, add it to
the table at the bottom. VJPs must use Python operators and the primitives here (not
raw ``np.`` calls on their arguments) so that they also work on Tensors under
``create_graph=True``. Notation: ``g`` is the incoming gradient, ``ans`` the op's output.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .tensor import Primitive, Tensor, _data

__all__ = [
    "primitive", "add", "sub", "mul", "div", "neg", "power", "matmul", "exp", "log", "sqrt", "abs",
    "sigmoid", "tanh", "relu", "softmax", "log_softmax", "logsumexp", "sum", "mean", "max", "min",
    "reshape", "transpose", "swapaxes", "getitem", "concatenate", "stack", "where", "maximum", "minimum",
    "clip", "astype", "broadcast_to", "sum_to", "softmax_cross_entropy",
]


def primitive(forward=None, *, name: str | None = None):
    """Make a user primitive: ``@primitive`` on a NumPy function, then ``f.defvjp(vjp_x, vjp_y, ...)``.

    It behaves exactly like the built-in ones: it is recorded on the tape, checked by
    ``gradcheck``/``check_ops``, drawn by ``viz``, and usable under ``create_graph``
    (if its VJPs are written with autonp ops).
    """
    if forward is None:
        return lambda f: Primitive(name or f.__name__, f)
    return Primitive(name or forward.__name__, forward)


def _unbroadcast(g, x):
    """Sum ``g`` down to the shape of ``x`` (undo NumPy broadcasting); ``x`` is an array or Tensor."""
    return g if g.shape == x.shape else sum_to(g, x.shape)


def _sum_to(x, shape):
    """Sum ``x`` over the axes that broadcasting added or stretched to reach ``shape``."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    return _sum(x, axis=axes, keepdims=True).reshape(shape)


sum_to = Primitive("sum_to", _sum_to)
broadcast_to = Primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape))
sum_to.defvjp(lambda g, ans, x, shape: broadcast_to(g, np.shape(x)))
broadcast_to.defvjp(lambda g, ans, x, shape: sum_to(g, np.shape(x)))

# --------------------------------------------------------------------------- arithmetic

add = Primitive("add", np.add).defvjp(
    lambda g, ans, x, y: _unbroadcast(g, x),
    lambda g, ans, x, y: _unbroadcast(g, y))
sub = Primitive("sub", np.subtract).defvjp(
    lambda g, ans, x, y: _unbroadcast(g, x),
    lambda g, ans, x, y: _unbroadcast(-g, y))
mul = Primitive("mul", np.multiply).defvjp(
    lambda g, ans, x, y: _unbroadcast(g * y, x),
    lambda g, ans, x, y: _unbroadcast(g * x, y))
div = Primitive("div", np.true_divide).defvjp(           # d(x/y) = dx/y - ans dy/y
    lambda g, ans, x, y: _unbroadcast(g / y, x),
    lambda g, ans, x, y: _unbroadcast(-g * ans / y, y))
neg = Primitive("neg", np.negative).defvjp(lambda g, ans, x: -g)


def _positive_or_one(x):
    return where(_data(x) > 0, x, 1.0)


power = Primitive("pow", np.power).defvjp(                # d(x^y) = y x^(y-1) dx + x^y log(x) dy
    lambda g, ans, x, y: _unbroadcast(g * y * x ** (y - 1), x),
    lambda g, ans, x, y: _unbroadcast(g * ans * log(_positive_or_one(x)), y))


def _mT(x):
    return x.T if x.ndim == 2 else swapaxes(x, -1, -2)


def _matmul_vjp_x(g, ans, x, y):
    """∂(x@y) wrt x: g @ yᵀ, with NumPy's rules for 1-D operands."""
    if y.ndim == 1:
        gx = g * y if x.ndim == 1 else reshape(g, g.shape + (1,)) * y
    elif x.ndim == 1:
        gx = reshape(y @ reshape(g, g.shape[:-1] + (g.shape[-1], 1)), y.shape[:-2] + (y.shape[-2],))
    else:
        gx = matmul(g, _mT(y))
    return _unbroadcast(gx, x)


def _matmul_vjp_y(g, ans, x, y):
    """∂(x@y) wrt y: xᵀ @ g, with NumPy's rules for 1-D operands."""
    if x.ndim == 1:
        gy = g * x if y.ndim == 1 else reshape(x, (x.shape[0], 1)) * reshape(g, g.shape[:-1] + (1, g.shape[-1]))
    elif y.ndim == 1:
        gy = reshape(g, g.shape + (1,)) * x
    else:
        gy = matmul(_mT(x), g)
    return _unbroadcast(gy, y)


def _matmul(x, y):
    """``x @ y``; a narrow 2-D product (a p×q operand with p, q ≥ 128 and p·q ≥ 2¹⁸, few output
    columns: the blog's ``X @ W1`` and ``Xᵀ @ dz1``) as ``(yᵀ @ xᵀ)ᵀ`` where OpenBLAS runs that
    orientation 1.2-1.5x faster: float64 up to 64 columns, float32 up to 16 when ``x`` is a
    transposed view (``python benchmarks/matmul_orientation.py`` measures it). Same dot products."""
    if (type(x) is np.ndarray and type(y) is np.ndarray and x.ndim == 2 and y.ndim == 2
            and x.shape[0] >= 128 and x.shape[1] >= 128 and x.shape[0] * x.shape[1] >= 1 << 18
            and ((x.dtype == np.float64 and y.shape[1] <= 64)
                 or (x.dtype == np.float32 and y.shape[1] <= 16 and x.flags.f_contiguous))):
        return np.matmul(y.T, x.T).T
    return np.matmul(x, y)


matmul = Primitive("matmul", _matmul).defvjp(_matmul_vjp_x, _matmul_vjp_y)

# --------------------------------------------------------------------------- elementwise


def _sign(x):
    return np.sign(_data(x))


exp = Primitive("exp", np.exp).defvjp(lambda g, ans, x: g * ans)
_log = Primitive("log", np.log).defvjp(lambda g, ans, x: g / x)
sqrt = Primitive("sqrt", np.sqrt).defvjp(lambda g, ans, x: g / (2 * ans))
abs = Primitive("abs", np.abs).defvjp(lambda g, ans, x: g * _sign(x))  # noqa: A001 - subgradient 0 at 0
tanh = Primitive("tanh", np.tanh).defvjp(lambda g, ans, x: g * (1 - ans * ans))


def _sigmoid(x):
    """σ(x) = 1/(1+e⁻ˣ), the post's formula. Where e⁻ˣ overflows (x < −709 in float64) it is inf
    and σ is exactly 0, the correctly rounded limit; the overflow warning is silenced."""
    with np.errstate(over="ignore"):
        t = np.exp(-x)
    if type(t) is not np.ndarray:
        return 1 / (1 + t)
    t += 1
    return np.divide(1, t, out=t)


sigmoid = Primitive("sigmoid", _sigmoid).defvjp(lambda g, ans, x: g * ans * (1 - ans))
relu = Primitive("relu", lambda x: np.maximum(x, 0)).defvjp(lambda g, ans, x: g * (_data(x) > 0))


def _balanced(a, b):
    """Where a > b: 1, where a == b: ½ (ties share the gradient), else 0."""
    a, b = _data(a), _data(b)
    return (a > b) + 0.5 * (a == b)


maximum = Primitive("maximum", np.maximum).defvjp(
    lambda g, ans, x, y: _unbroadcast(g * _balanced(x, y), x),
    lambda g, ans, x, y: _unbroadcast(g * _balanced(y, x), y))
minimum = Primitive("minimum", np.minimum).defvjp(
    lambda g, ans, x, y: _unbroadcast(g * _balanced(y, x), x),
    lambda g, ans, x, y: _unbroadcast(g * _balanced(x, y), y))


def _clip(x, lo=None, hi=None):
    return np.clip(x, lo, hi)


def _inside(x, lo, hi):
    x = _data(x)
    m = np.ones(x.shape, dtype=bool)
    if lo is not None:
        m &= x >= lo
    if hi is not None:
        m &= x <= hi
    return m


clip = Primitive("clip", _clip).defvjp(lambda g, ans, x, lo=None, hi=None: g * _inside(x, lo, hi))


def _where(cond, x, y):
    return np.where(cond, x, y)


where = Primitive("where", _where).defvjp(
    None,
    lambda g, ans, c, x, y: _unbroadcast(where(_data(c), g, 0.0), x),
    lambda g, ans, c, x, y: _unbroadcast(where(_data(c), 0.0, g), y))
astype = Primitive("astype", lambda x, dtype: np.asarray(x).astype(dtype)).defvjp(
    lambda g, ans, x, dtype: astype(g, _data(x).dtype))

# --------------------------------------------------------------------------- reductions


def _keepdims_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand(g, x, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against ``x``."""
    return g if keepdims else reshape(g, _keepdims_shape(np.shape(x), axis))


def _narrow_rows(x, axis) -> bool:
    """A 2-D float array reduced along a short last axis (softmax over 10 classes): NumPy's
    reduction is slow there (~50 ns/element), a matmul or a loop over columns is not."""
    return (type(x) is np.ndarray and x.ndim == 2 and axis in (1, -1) and 1 < x.shape[1] <= 32
            and x.dtype.kind == "f")


def _sum(x, axis=None, keepdims=False):
    """``np.sum``. On a 2-D float32/64 array a sum over rows (axis 0: a bias gradient) or over a
    short last axis is a matrix-vector product with ones: 4-8x faster there than NumPy's reduction,
    which adds rows of a few elements one at a time."""
    if type(x) is np.ndarray and x.ndim == 2 and x.dtype.char in "fd":
        if type(axis) is tuple and len(axis) == 1:
            axis = axis[0]
        if axis in (0, -2) and x.shape[0] > 1:
            s = np.ones(x.shape[0], dtype=x.dtype) @ x
            return s[None, :] if keepdims else s
        if _narrow_rows(x, axis):
            s = x @ np.ones(x.shape[1], dtype=x.dtype)
            return s[:, None] if keepdims else s
    return np.sum(x, axis=axis, keepdims=keepdims)


def _mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=axis, keepdims=keepdims)


def _count(x, axis):
    shape = np.shape(x)
    return int(np.prod(shape)) if axis is None else int(np.prod([shape[a] for a in np.atleast_1d(axis)]))


sum = Primitive("sum", _sum).defvjp(  # noqa: A001
    lambda g, ans, x, axis=None, keepdims=False: broadcast_to(_expand(g, x, axis, keepdims), np.shape(x)))
mean = Primitive("mean", _mean).defvjp(
    lambda g, ans, x, axis=None, keepdims=False:
        broadcast_to(_expand(g, x, axis, keepdims) / _count(x, axis), np.shape(x)))


def _columnwise(ufunc, x, axis, keepdims):
    """``ufunc.reduce`` over a short last axis as a loop over columns (see ``_narrow_rows``)."""
    if not _narrow_rows(x, axis):
        return ufunc.reduce(x, axis=axis, keepdims=keepdims)
    m = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        ufunc(m, x[:, j], out=m)
    return m[:, None] if keepdims else m


def _max(x, axis=None, keepdims=False):
    return _columnwise(np.maximum, x, axis, keepdims)


def _min(x, axis=None, keepdims=False):
    return _columnwise(np.minimum, x, axis, keepdims)


def _extremum_vjp(g, ans, x, axis=None, keepdims=False):
    """Tie rule: elements equal to the max (min) share the gradient equally."""
    hit = _data(x) == _data(_expand(ans, x, axis, keepdims))
    share = hit / np.sum(hit, axis=axis, keepdims=True)
    return _expand(g, x, axis, keepdims) * share


max = Primitive("max", _max).defvjp(_extremum_vjp)  # noqa: A001
min = Primitive("min", _min).defvjp(_extremum_vjp)  # noqa: A001

# --------------------------------------------------------------------------- softmax family


_SAFE_SUM: dict = {}  # dtype -> smallest row sum of exponentials that keeps full precision


def _exp_rows(x, axis):
    """(x − c, exp(x − c), Σ exp(x − c) along ``axis``) for a softmax. c = 0 when the sums neither
    overflow nor come near the subnormal range (checked on the sums, one value per row): the
    post's own formula, a max and a subtraction cheaper. Otherwise c = the max along ``axis``."""
    if type(x) is np.ndarray and x.dtype.char in "fd":
        with np.errstate(over="ignore"):
            e = np.exp(x)
        s = _sum(e, axis=axis, keepdims=True)
        safe = _SAFE_SUM.get(x.dtype)
        if safe is None:
            fi = np.finfo(x.dtype)
            safe = _SAFE_SUM[x.dtype] = float(fi.tiny) * 2.0 ** (fi.nmant + 8)
        if np.isfinite(s).all() and (s > safe).all():
            return x, e, s
    shifted = x - _max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return shifted, e, _sum(e, axis=axis, keepdims=True)


def _softmax(x, axis=-1):
    _, e, s = _exp_rows(x, axis)
    e /= s
    return e


def _log_softmax(x, axis=-1):
    shifted, _, s = _exp_rows(x, axis)
    return shifted - np.log(s)


def _logsumexp(x, axis=None, keepdims=False):
    m = _max(x, axis=axis, keepdims=True)
    out = m + np.log(_sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


softmax = Primitive("softmax", _softmax).defvjp(        # s ⊙ (g − Σ g⊙s)
    lambda g, ans, x, axis=-1: ans * (g - sum(g * ans, axis=axis, keepdims=True)))
log_softmax = Primitive("log_softmax", _log_softmax).defvjp(  # g − softmax ⊙ Σ g
    lambda g, ans, x, axis=-1: g - exp(ans) * sum(g, axis=axis, keepdims=True))
logsumexp = Primitive("logsumexp", _logsumexp).defvjp(
    lambda g, ans, x, axis=None, keepdims=False:
        _expand(g, x, axis, keepdims) * exp(x - _expand(ans, x, axis, keepdims)))


def log(x):
    """Natural logarithm, ∂ = g / x. ``log(softmax(z))`` on the tape is computed as
    ``log_softmax(z)``: finite where softmax underflows to 0, same value elsewhere."""
    node = x.node if isinstance(x, Tensor) else None
    if node is not None and node.prim is softmax and node.args is not None:
        return log_softmax(node.args[0], **node.kwargs)
    return _log(x)


def _rows(logits, axis):
    """How many softmax rows ``logits`` holds (the mean's divisor)."""
    shape = np.shape(logits)
    return math.prod(shape) // shape[axis]


def _xent(logits, target, axis=-1):
    """mean over rows of −Σ target ⊙ log_softmax(logits); targets are probabilities (e.g. one-hot)."""
    return _xent_parts(logits, target, axis)[0]


def _xent_saving(logits, target, axis=-1):
    """The loss, and softmax(logits) for the backward (made from the forward's exps, in place)."""
    loss, e, s = _xent_parts(logits, target, axis)
    return loss, np.divide(e, s, out=e)


def _xent_parts(logits, target, axis):
    """(loss, exp(z − c), Σ exp(z − c)): what both forwards share."""
    shifted, e, s = _exp_rows(logits, axis)
    if shifted is logits:
        shifted = shifted - np.log(s)                              # log_softmax
    else:
        np.subtract(shifted, np.log(s), out=shifted)
    return -_dot_all(target, shifted) / _rows(logits, axis), e, s


def _dot_all(a, b):
    """Σ a ⊙ b without the product array when both are plain same-shape float arrays."""
    if type(a) is np.ndarray and a.shape == b.shape and a.dtype == b.dtype and a.dtype.char in "fd":
        subscripts = "abcdefghijklmnopqrstuvwxyz"[:a.ndim]
        return np.einsum(f"{subscripts},{subscripts}->", a, b)
    return np.sum(a * b)


def _xent_vjp_logits(g, ans, z, t, axis=-1, saved=None):
    """(softmax(z)·Σt − t)·g/m, which is (softmax(z) − t)·g/m for one-hot or probability rows."""
    if saved is None:  # recompute, from Tensors under create_graph
        return (softmax(z, axis=axis) * sum(t, axis=axis, keepdims=True) - t) * (g / _rows(z, axis))
    out = saved * _sum(t, axis=axis, keepdims=True)  # saved: plain arrays, so one buffer suffices
    out -= t
    out *= g / _rows(z, axis)
    return out


def _xent_vjp_target(g, ans, z, t, axis=-1, saved=None):
    """−log_softmax(z)·g/m."""
    return log_softmax(z, axis=axis) * (-g / _rows(z, axis))


softmax_cross_entropy = Primitive("softmax_cross_entropy", _xent, forward_saving=_xent_saving).defvjp(
    _xent_vjp_logits, _xent_vjp_target)
# --------------------------------------------------------------------------- shapes and indexing


def _reshape(x, shape):
    return np.reshape(x, shape)


def _transpose(x, axes=None):
    return np.transpose(x, axes)


reshape = Primitive("reshape", _reshape).defvjp(lambda g, ans, x, shape: reshape(g, np.shape(x)))
transpose = Primitive("transpose", _transpose).defvjp(
    lambda g, ans, x, axes=None: transpose(g, None if axes is None else tuple(np.argsort(axes))))
swapaxes = Primitive("swapaxes", np.swapaxes).defvjp(lambda g, ans, x, a, b: swapaxes(g, a, b))


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


def _untake(g, index, shape):
    """Scatter ``g`` into zeros of ``shape`` at ``index``; repeated indices accumulate."""
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _getitem(x, index):
    return x[index]


getitem = Primitive("getitem", _getitem).defvjp(lambda g, ans, x, index: untake(g, index, np.shape(x)))
untake = Primitive("untake", _untake).defvjp(lambda g, ans, gx, index, shape: getitem(g, index))


def _concatenate(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


def _concat_vjp(i, g, ans, *xs, axis=0):
    start = int(np.sum([np.shape(x)[axis] for x in xs[:i]], dtype=int))
    index = [slice(None)] * np.ndim(ans)
    index[axis] = slice(start, start + np.shape(xs[i])[axis])
    return getitem(g, tuple(index))


_concat = Primitive("concatenate", _concatenate).defvjp_argnum(_concat_vjp)


def concatenate(xs: Sequence, axis: int = 0):
    """Join tensors along an existing axis; ∂ is the matching slice of g."""
    return _concat(*xs, axis=axis)


def _stack(*xs, axis=0):
    return np.stack(xs, axis=axis)


def _stack_vjp(i, g, ans, *xs, axis=0):
    index = [slice(None)] * np.ndim(ans)
    index[axis] = i
    return getitem(g, tuple(index))


_stack_prim = Primitive("stack", _stack).defvjp_argnum(_stack_vjp)


def stack(xs: Sequence, axis: int = 0):
    """Join tensors along a new axis; ∂ is the matching slice of g."""
    return _stack_prim(*xs, axis=axis)


# --------------------------------------------------------------------------- Tensor methods and operators

def _index_data(index):
    if isinstance(index, tuple):
        return tuple(_data(i) for i in index)
    return _data(index)


def _t_getitem(self, index):
    return getitem(self, _index_data(index))


def _t_reshape(self, *shape):
    return reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)


def _t_transpose(self, *axes):
    return transpose(self, (axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes) or None)


def _reduction_method(prim):
    """``t.sum(axis, keepdims)``; also takes NumPy's ``dtype``/``out`` so ``np.sum(t)`` works."""
    def method(self, axis=None, dtype=None, out=None, keepdims=False, **unsupported):
        if out is not None or unsupported:
            raise TypeError(f"Tensor.{prim.name}: out= and {sorted(unsupported)} are not supported")
        res = prim(self, axis=axis, keepdims=keepdims)
        return res if dtype is None else astype(res, dtype)
    method.__name__ = prim.name
    return method


_METHODS: dict[str, Any] = {
    "__add__": add, "__radd__": lambda s, o: add(o, s),
    "__sub__": sub, "__rsub__": lambda s, o: sub(o, s),
    "__mul__": mul, "__rmul__": lambda s, o: mul(o, s),
    "__truediv__": div, "__rtruediv__": lambda s, o: div(o, s),
    "__pow__": power, "__rpow__": lambda s, o: power(o, s),
    "__matmul__": matmul, "__rmatmul__": lambda s, o: matmul(o, s),
    "__neg__": neg, "__pos__": lambda s: s, "__abs__": abs,
    "__getitem__": _t_getitem,
    "T": property(lambda s: transpose(s) if s.ndim == 2 else transpose(s, tuple(range(s.ndim))[::-1])),
    "mT": property(lambda s: swapaxes(s, -1, -2)),
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "sigmoid": sigmoid, "tanh": tanh, "relu": relu,
    "softmax": lambda s, axis=-1: softmax(s, axis=axis),
    "log_softmax": lambda s, axis=-1: log_softmax(s, axis=axis),
    "sum": _reduction_method(sum), "mean": _reduction_method(mean),
    "max": _reduction_method(max), "min": _reduction_method(min),
    "clip": lambda s, lo=None, hi=None: clip(s, lo=lo, hi=hi),
    "reshape": _t_reshape, "transpose": _t_transpose, "permute": _t_transpose,
    "astype": astype,
}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)

# NumPy ufuncs called on a Tensor (np.exp(t), ndarray * t) dispatch to these primitives.
_UFUNCS = {np.add: add, np.subtract: sub, np.multiply: mul, np.true_divide: div, np.negative: neg,
           np.power: power, np.matmul: matmul, np.exp: exp, np.log: log, np.sqrt: sqrt, np.absolute: abs,
           np.tanh: tanh, np.maximum: maximum, np.minimum: minimum}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    prim = _UFUNCS.get(ufunc)
    if prim is not None and method == "__call__" and not kwargs:
        return prim(*inputs)
    return getattr(ufunc, method)(*(_data(i) for i in inputs), **kwargs)


Tensor.__array_ufunc__ = _array_ufunc
