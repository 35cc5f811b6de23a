"""NumPy on Tensors: the tables that map NumPy's ufuncs and functions to autonp's ops, the two
protocols that route NumPy calls through them, and the Tensor methods and operators.

The rule: when any argument is a Tensor that requires grad, a NumPy call either records a
differentiable op or raises a ``TypeError`` naming the function — it never returns a plain
array with the gradient silently gone. Functions whose results carry no gradient (``argmax``,
comparisons, ``isnan``, ``shape``) return plain results; so does everything when nothing
requires grad.

Complex values: a NumPy call or a method on a Tensor that holds them, with nothing to record, is NumPy's own,
its arrays returned as constant Tensors. Recorded, they go through the ops whose VJPs hold for complex values
(``Primitive.complex_ok``, HIPS autograd's convention; ``var`` reads |x − μ|², ``vdot`` conj(a)); the others
refuse them.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from ..tensor import Tensor, _data, _mode, _user_site, as_array, cannot_apply, format_site, ours_to_explain
from . import arithmetic as ar
from . import array_api as aa
from . import elementwise as ew
from . import fft, inplace, nn
from . import linalg as la
from . import linalg_derived as ld
from . import numerics as nm
from . import reductions as rd
from . import shape as sh
from . import statistics as st

# --------------------------------------------------------------------------- ufuncs

UFUNCS: dict[np.ufunc, Callable] = {
    np.add: ar.add, np.subtract: ar.sub, np.multiply: ar.mul, np.true_divide: ar.div, np.negative: ar.neg,
    np.power: ar.power, np.float_power: ar.float_power, np.mod: ar.mod, np.fmod: ar.fmod,
    np.floor_divide: ar.floor_divide, np.matmul: la.matmul,
    np.positive: ew.positive, np.conjugate: ew.conj,
    np.exp: ew.exp, np.exp2: ew.exp2, np.expm1: ew.expm1, np.log: nn.log, np.log2: ew.log2,
    np.log10: ew.log10, np.log1p: ew.log1p, np.sqrt: ew.sqrt, np.cbrt: ew.cbrt, np.square: ew.square,
    np.reciprocal: ew.reciprocal, np.absolute: ew.abs, np.fabs: ew.fabs,
    np.sin: ew.sin, np.cos: ew.cos, np.tan: ew.tan, np.arcsin: ew.arcsin, np.arccos: ew.arccos,
    np.arctan: ew.arctan, np.sinh: ew.sinh, np.cosh: ew.cosh, np.tanh: ew.tanh, np.arcsinh: ew.arcsinh,
    np.arccosh: ew.arccosh, np.arctanh: ew.arctanh, np.deg2rad: ew.deg2rad, np.rad2deg: ew.rad2deg,
    np.radians: ew.deg2rad, np.degrees: ew.rad2deg,
    np.sign: ew.sign, np.floor: ew.floor, np.ceil: ew.ceil, np.rint: ew.rint, np.trunc: ew.trunc,
    np.maximum: ew.maximum, np.minimum: ew.minimum, np.fmax: ew.fmax, np.fmin: ew.fmin,
    np.hypot: ew.hypot, np.arctan2: ew.arctan2, np.logaddexp: ew.logaddexp, np.logaddexp2: ew.logaddexp2,
}


def _logaddexp2_reduce(x, axis=None, keepdims=False):
    """log₂ Σ 2^x = logsumexp(x·ln 2) / ln 2."""
    return nn.logsumexp(x * np.log(2.0), axis=axis, keepdims=keepdims) / np.log(2.0)


UFUNC_REDUCE: dict[np.ufunc, Callable] = {np.add: rd.sum, np.multiply: rd.prod, np.maximum: rd.max,
                                          np.minimum: rd.min, np.logaddexp: nn.logsumexp,
                                          np.logaddexp2: _logaddexp2_reduce}
UFUNC_ACCUMULATE: dict[np.ufunc, Callable] = {np.add: rd.cumsum, np.multiply: rd.cumprod}
# ufuncs whose results carry no gradient (booleans, integers, properties of the value)
UFUNCS_WITHOUT_GRADIENT = {
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal, np.logical_and,
    np.logical_or, np.logical_xor, np.logical_not, np.isnan, np.isinf, np.isfinite, np.signbit,
    np.isnat, np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert, np.left_shift, np.right_shift,
    np.gcd, np.lcm, np.spacing,
}


def _requires_grad(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x.requires_grad
    if isinstance(x, (list, tuple)):
        return any(_requires_grad(v) for v in x)
    return False


def _holds_complex(args: Any) -> bool:
    """Some Tensor among ``args`` (or in a list or tuple among them) holds complex values."""
    for a in args:
        if isinstance(a, Tensor):
            if a._arr.dtype.kind == "c":
                return True
        elif type(a) is list or type(a) is tuple:
            if _holds_complex(a):
                return True
    return False


def _as_constants(x: Any) -> Any:
    """NumPy's result with its arrays as constant Tensors (tuples, named ones too, and lists kept)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return Tensor._make(x, None)
    if isinstance(x, tuple):
        items = [_as_constants(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
    if isinstance(x, list):
        return [_as_constants(v) for v in x]
    return x


def _numpys_on_complex(args: tuple, kwargs: dict) -> bool:
    """Some Tensor argument holds complex values and nothing will be recorded: NumPy's answer is the answer."""
    if not (_holds_complex(args) or kwargs and _holds_complex(kwargs.values())):
        return False
    return not (_mode.enabled and (_requires_grad(args) or _requires_grad(tuple(kwargs.values()))))


def _plain(x: Any) -> Any:
    """Tensors inside (lists, tuples and keyword dicts of) arguments as their arrays."""
    if isinstance(x, Tensor):
        return x._arr
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def _refuse(what: str, why: str = "") -> TypeError:
    return TypeError(
        f"{what} was called on a Tensor that requires grad, and autonp has no differentiable version of it"
        f"{why}. Rather than return a plain array without the gradient it refuses: compute it from "
        f"differentiable ops, or register one with anp.primitive(...).defvjp(...), or call it on "
        f"t.detach() if no gradient should flow through it.")


def _scipy_ufunc(ufunc: np.ufunc) -> bool:
    """Is this one of SciPy's special-function ufuncs? Then autonp.scipy.special registers its gradients
    (imported here on first use, so ``scipy.special.gammaln(t)`` differentiates with no import change)."""
    ufuncs = sys.modules.get("scipy.special._ufuncs")
    if ufuncs is None or getattr(ufuncs, ufunc.__name__, None) is not ufunc:
        return False
    import autonp.scipy.special  # noqa: F401 - fills UFUNCS
    return True


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    if ufunc in UFUNCS_WITHOUT_GRADIENT:
        return getattr(ufunc, method)(*_plain(inputs), **_plain(kwargs))
    if _numpys_on_complex(inputs, kwargs):
        result = getattr(ufunc, method)(*_plain(inputs), **_plain(kwargs))
        return result if "out" in kwargs else _as_constants(result)
    grad = _requires_grad(inputs)
    scipy_ufunc = ufunc not in UFUNCS and _scipy_ufunc(ufunc)
    name = ("scipy.special." if scipy_ufunc else "np.") + ufunc.__name__.lstrip("_") + (
        "" if method == "__call__" else f".{method}")
    fn = {"__call__": UFUNCS, "reduce": UFUNC_REDUCE, "accumulate": UFUNC_ACCUMULATE,
          "outer": UFUNCS}.get(method, {}).get(ufunc)
    if method == "outer" and fn is not None:  # a ∘ b over every pair: a's axes first, then b's (broadcasting)
        if len(inputs) != 2:
            raise TypeError(f"{name}: takes two arrays, got {len(inputs)}")
        a, b = inputs
        inputs = (sh.reshape(a, np.shape(a) + (1,) * np.ndim(b)), b)
        method = "__call__"
    out = kwargs.pop("out", None)
    if fn is not None and (out is None or not (grad or _requires_grad(out))):
        if kwargs.get("where", True) is not True:
            if grad:
                raise TypeError(f"{name}: where= is not supported on a Tensor that requires grad; use anp.where")
            fn = None
        else:
            dtype = kwargs.pop("dtype", None)
            kwargs.pop("where", None)
            casting = kwargs.pop("casting", "same_kind" if method == "__call__" else "unsafe")
            if dtype is not None:  # computed in dtype, as NumPy: the inputs cast first (by its casting rule)
                inputs = sh.cast_inputs(name, inputs, dtype, casting)
            if method == "__call__":
                if kwargs:
                    raise TypeError(f"{name}: autonp does not support the arguments {sorted(kwargs)}")
                res = fn(*inputs)
            else:
                axis = kwargs.pop("axis", 0)
                initial = kwargs.pop("initial", np._NoValue)
                res = fn(inputs[0], axis=axis, **kwargs)
                if initial is not np._NoValue:
                    res = _with_initial(ufunc.__name__, res, initial)
            if dtype is not None and res.dtype != dtype:
                res = res.astype(dtype)
            if out is None:
                return res
            target = out[0] if isinstance(out, tuple) else out
            np.copyto(target._arr if isinstance(target, Tensor) else target, _data(res))
            return target
    if grad or _requires_grad(out):
        if out is not None and fn is not None:
            raise TypeError(f"{name}: out= cannot write a result that requires grad into an existing array "
                            f"(it would leave the tape); use the returned Tensor")
        raise _refuse(name)
    if out is not None:
        kwargs["out"] = _plain(out)
    return getattr(ufunc, method)(*_plain(inputs), **kwargs)

# --------------------------------------------------------------------------- functions


_INITIAL_COMBINES = {"add": ar.add, "sum": ar.add, "multiply": ar.mul, "prod": ar.mul, "maximum": ew.maximum,
                     "max": ew.maximum, "minimum": ew.minimum, "min": ew.minimum}


def _with_initial(name: str, res: Any, initial: Any) -> Any:
    """A reduction's result with NumPy's ``initial=`` folded in: initial + Σ, initial · Π, max/min with it."""
    combine = _INITIAL_COMBINES.get(name)
    if combine is None:
        raise TypeError(f"{name}: initial= is not supported by autonp")
    if initial is None:
        return res
    out = combine(res, initial)
    return out.astype(res.dtype) if isinstance(out, Tensor) and out.dtype != res.dtype else out


def _reduction(prim, name):
    """``np.sum(t, axis, dtype, out, keepdims, initial, where)`` and ``t.sum(...)`` for a reduction primitive."""
    def reduce(x, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue,
               **unsupported):
        if isinstance(x, (list, tuple)):
            x = sh.array(x)
        if out is not None or any(v is not np._NoValue for v in unsupported.values()):
            raise TypeError(f"{name}: out= and {sorted(unsupported)} are not supported by autonp")
        if initial is not np._NoValue and name == "mean":
            raise TypeError("mean() got an unexpected keyword argument 'initial'")
        if where is not np._NoValue and where is not True:
            return _masked(prim, name, x, axis, dtype, keepdims, initial, where)
        if initial is not np._NoValue and name in ("max", "min") and _empty_along(x, axis):
            return _initial_only(x, axis, dtype, keepdims, initial)
        res = sh.in_dtype(prim, x, dtype, axis=axis, keepdims=bool(keepdims))
        return res if initial is np._NoValue else _with_initial(name, res, initial)
    reduce.__name__ = name
    reduce.__doc__ = prim.__doc__
    reduce.primitive = prim
    return reduce


def _empty_along(x: Any, axis: Any) -> bool:
    shape = np.shape(x)
    axes = range(len(shape)) if axis is None else sh._axes(axis, len(shape))
    return any(shape[a] == 0 for a in axes)


def _initial_only(x: Any, axis: Any, dtype: Any, keepdims: bool, initial: Any) -> Any:
    """max/min over an empty axis with ``initial``: initial, in the result's shape (NumPy's own values)."""
    values = np.max(np.zeros(np.shape(x), dtype or _data(x).dtype), axis=axis, keepdims=keepdims, initial=initial)
    return Tensor(values)


def _masked(prim, name: str, x: Any, axis: Any, dtype: Any, keepdims: bool, initial: Any, where: Any) -> Any:
    """A reduction over the entries ``where`` selects (broadcast against x), as NumPy's ``where=``: the others count as
    the reduction's identity (0 for sum, 1 for prod, initial for max/min, which NumPy requires); mean divides by how
    many were selected. Their gradient is 0."""
    mask = as_array(_data(where))  # (as_array: a compiled trace's stand-in stays itself)
    mask = np.broadcast_to(mask if mask.dtype == bool else mask.astype(bool), np.shape(x))
    if name in ("max", "min") and initial is np._NoValue:
        raise ValueError(f"reduction operation '{'maximum' if name == 'max' else 'minimum'}' does not have an "
                         f"identity, so to use a where mask one has to specify 'initial'")
    fill = {"sum": 0, "mean": 0, "prod": 1}.get(name, initial)
    kept = sh.where(mask, x, np.asarray(fill, dtype=_data(x).dtype))
    if name == "mean":
        total = sh.in_dtype(rd.sum, kept, dtype, axis=axis, keepdims=bool(keepdims))
        return total / np.sum(mask, axis=axis, keepdims=bool(keepdims)).astype(total.dtype)  # (float32 stays)
    res = sh.in_dtype(prim, kept, dtype, axis=axis, keepdims=bool(keepdims))
    return res if initial is np._NoValue else _with_initial(name, res, initial)


def _scan(prim, name):
    def scan(x, axis=None, dtype=None, out=None):
        if isinstance(x, (list, tuple)):
            x = sh.array(x)
        if out is not None:
            raise TypeError(f"{name}: out= is not supported by autonp")
        return sh.in_dtype(prim, x, dtype, axis=axis)
    scan.__name__ = name
    scan.primitive = prim
    return scan


sum_ = _reduction(rd.sum, "sum")
mean = _reduction(rd.mean, "mean")
max_ = _reduction(rd.max, "max")
min_ = _reduction(rd.min, "min")
prod = _reduction(rd.prod, "prod")
cumsum = _scan(rd.cumsum, "cumsum")
cumprod = _scan(rd.cumprod, "cumprod")


def reshape(x, *args, **kwargs):
    """``np.reshape(a, shape)`` (also ``newshape=``) and ``t.reshape(2, 3)``."""
    shape = kwargs.pop("shape", kwargs.pop("newshape", None))
    if shape is None:
        shape = args[0] if len(args) == 1 and not isinstance(args[0], (int, np.integer)) else args
    return sh.reshape(x, tuple(shape) if isinstance(shape, (list, tuple)) else shape, **kwargs)


def transpose(x, *axes, **kwargs):
    if "axes" in kwargs:
        axes = (kwargs.pop("axes"),)
    if kwargs:
        raise TypeError(f"transpose: unexpected arguments {sorted(kwargs)}")
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]  # t.transpose((1, 0)), np.transpose(t, [1, 0]) or an array of axes; None: reversed
    return sh.transpose(x, None if axes is None or len(axes) == 0 else tuple(int(a) for a in axes))


def where(condition, x=None, y=None):
    """``np.where(c, x, y)``; with one argument it is ``nonzero`` (no gradient)."""
    if x is None and y is None:
        return np.nonzero(_data(condition))
    return sh.where(_data(condition), x, y)


def round_(x, decimals=0, out=None):
    if out is not None:
        raise TypeError("round: out= is not supported by autonp")
    return ew.round(x, decimals)


def _eigvalsh(x, UPLO="L"):
    return la.eigh(x, UPLO)[0]


def _broadcast_to(x, shape, subok=False):
    return sh.broadcast_to(x, tuple(shape) if isinstance(shape, (list, tuple)) else (shape,))


def _copy(x, order="K", subok=False):
    return sh.copy(x, order)


for _wrapper, _prim in [(reshape, sh.reshape), (transpose, sh.transpose), (where, sh.where), (round_, ew.round),
                       (_broadcast_to, sh.broadcast_to), (_copy, sh.copy)]:
    _wrapper.primitive = _prim


def _fix(x, out=None):
    """``np.fix``: rounding toward zero, NumPy's trunc (gradient 0)."""
    sh._no_out("fix", out)
    return ew.trunc(x)


# np.<function> -> autonp implementation (each reached through Tensor.__array_function__)
FUNCTIONS: dict[Callable, Callable] = {
    np.sum: sum_, np.mean: mean, np.max: max_, np.amax: max_, np.min: min_, np.amin: min_, np.prod: prod,
    np.var: rd.var, np.std: rd.std, np.cumsum: cumsum, np.cumprod: cumprod, np.diff: rd.diff,
    np.sort: rd.sort, np.average: rd.average, np.ptp: rd.ptp, np.gradient: rd.gradient, np.partition: rd.partition,
    np.linspace: sh.linspace, np.cross: la.cross,
    np.reshape: reshape, np.transpose: transpose, np.swapaxes: sh.swapaxes, np.moveaxis: sh.moveaxis,
    np.rollaxis: sh.rollaxis, np.ravel: sh.ravel, np.squeeze: sh.squeeze, np.expand_dims: sh.expand_dims,
    np.atleast_1d: sh.atleast_1d, np.atleast_2d: sh.atleast_2d, np.atleast_3d: sh.atleast_3d,
    np.broadcast_to: _broadcast_to, np.broadcast_arrays: sh.broadcast_arrays,
    np.concatenate: sh.concatenate, np.stack: sh.stack, np.hstack: sh.hstack, np.vstack: sh.vstack,
    np.dstack: sh.dstack, np.column_stack: sh.column_stack, np.append: sh.append, np.split: sh.split,
    np.array_split: sh.array_split, np.hsplit: sh.hsplit, np.vsplit: sh.vsplit, np.dsplit: sh.dsplit,
    np.flip: sh.flip, np.fliplr: sh.fliplr, np.flipud: sh.flipud, np.rot90: sh.rot90, np.roll: sh.roll,
    np.repeat: sh.repeat, np.tile: sh.tile, np.pad: sh.pad, np.take: sh.take, np.compress: sh.compress,
    np.extract: sh.extract, np.piecewise: sh.piecewise,
    np.take_along_axis: sh.take_along_axis, np.diag: sh.diag, np.diagonal: sh.diagonal, np.tril: sh.tril,
    np.triu: sh.triu, np.where: where, np.select: sh.select, np.copy: _copy,
    np.clip: ew.clip, np.sinc: ew.sinc, np.round: round_, np.around: round_, np.nan_to_num: ew.nan_to_num,
    np.real: ew.real, np.imag: ew.imag, np.fix: _fix,
    np.dot: la.dot, np.vdot: la.vdot, np.inner: la.inner, np.outer: la.outer, np.tensordot: la.tensordot,
    np.einsum: la.einsum, np.kron: la.kron, np.trace: la.trace,
    np.linalg.inv: la.inv, np.linalg.det: la.det, np.linalg.slogdet: la.slogdet, np.linalg.solve: la.solve,
    np.linalg.cholesky: la.cholesky, np.linalg.eigh: la.eigh, np.linalg.qr: la.qr, np.linalg.eigvalsh: _eigvalsh,
    np.linalg.svd: la.svd, np.linalg.norm: la.norm, np.linalg.multi_dot: la.multi_dot,
    np.linalg.matrix_power: la.matrix_power, np.linalg.pinv: la.pinv, np.linalg.eig: la.eig,
    np.linalg.eigvals: la.eigvals,
    np.real_if_close: ew.real_if_close, np.angle: lambda z, deg=False: ew.angle(z, deg),
}
FUNCTIONS.update({getattr(np, name): getattr(st, name) for name in st.__all__})
FUNCTIONS.update({getattr(np.linalg, name): getattr(ld, name) for name in ld.__all__})
FUNCTIONS.update({getattr(np, name): getattr(nm, name) for name in nm.__all__ if hasattr(np, name)})
if hasattr(np, "trapz"):
    FUNCTIONS[np.trapz] = nm.trapezoid
FUNCTIONS.update({getattr(np, name): getattr(aa, name) for name in (  # NumPy 2's array-API names, where it has them
    "vecdot", "matvec", "vecmat", "matrix_transpose", "unstack", "astype", "cumulative_sum", "cumulative_prod")
    if hasattr(np, name) and not isinstance(getattr(np, name), np.ufunc)})
FUNCTIONS.update({getattr(np.linalg, name): getattr(aa, new) for name, new in (
    ("vecdot", "vecdot"), ("matrix_transpose", "matrix_transpose"), ("vector_norm", "vector_norm"),
    ("matrix_norm", "matrix_norm"), ("svdvals", "svdvals"), ("outer", "linalg_outer"), ("cross", "linalg_cross"),
    ("diagonal", "linalg_diagonal"), ("trace", "linalg_trace")) if hasattr(np.linalg, name)})
if hasattr(np.linalg, "matmul"):
    FUNCTIONS[np.linalg.matmul] = la.matmul
UFUNCS.update({getattr(np, name): getattr(aa, name) for name in ("vecdot", "matvec", "vecmat")  # (gufuncs from 2.2)
               if isinstance(getattr(np, name, None), np.ufunc)})
FUNCTIONS.update(fft.FUNCTIONS)
UFUNCS[np.divmod] = ar.divmod_

# functions whose results carry no gradient: they get the arrays and return plain results
FUNCTIONS_WITHOUT_GRADIENT = {
    np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.argwhere, np.nonzero, np.flatnonzero,
    np.count_nonzero, np.searchsorted, np.digitize, np.isclose, np.allclose, np.array_equal, np.array_equiv,
    np.any, np.all, np.result_type, np.iscomplexobj,
    np.isrealobj, np.may_share_memory, np.shares_memory, np.isreal, np.iscomplex, np.argpartition,
    np.lexsort, np.isposinf, np.isneginf, np.isfortran, np.min_scalar_type,
    np.linalg.matrix_rank, np.unravel_index, np.ravel_multi_index, np.nanargmax, np.nanargmin,
}




def _constant_like(np_func):
    """``np.zeros_like(t)`` and kin: a new Tensor (a constant: its values do not depend on ``t``'s),
    so that NumPy code can fill it by item assignment and keep the gradient of what it assigns."""
    def like(x, *args, **kwargs):
        if _requires_grad(args) or _requires_grad(tuple(kwargs.values())):
            raise _refuse(f"np.{np_func.__name__}", " with a fill value that requires grad (use anp.full_like)")
        return Tensor(np_func(_data(x), *args, **kwargs))
    like.__name__ = np_func.__name__
    like.__doc__ = _constant_like.__doc__.split("\n")[0].replace("``np.zeros_like(t)`` and kin", np_func.__name__)
    return like


# functions whose result is a constant of the argument's shape: a Tensor that needs no gradient
FUNCTIONS_RETURNING_CONSTANTS = {f: _constant_like(f) for f in (np.zeros_like, np.ones_like, np.empty_like,
                                                               np.full_like)}
FUNCTIONS.update(FUNCTIONS_RETURNING_CONSTANTS)


# NumPy's views: on complex values too, autonp's own (the same values), so that they follow in-place changes
VIEW_FUNCTIONS = {np.reshape, np.transpose, np.swapaxes, np.moveaxis, np.rollaxis, np.ravel, np.squeeze,
                  np.expand_dims, np.real, np.imag, np.diagonal, np.diag, np.broadcast_to, np.broadcast_arrays,
                  np.atleast_1d, np.atleast_2d, np.atleast_3d, np.flip, np.fliplr, np.flipud, np.rot90, np.split,
                  np.array_split, np.hsplit, np.vsplit, np.dsplit}
VIEW_FUNCTIONS |= {getattr(np, n) for n in ("matrix_transpose", "unstack") if hasattr(np, n)}
VIEW_METHODS = {"reshape", "transpose", "swapaxes", "ravel", "squeeze", "diagonal"}


def _array_function(self, func, types, args, kwargs):
    if func not in VIEW_FUNCTIONS and _numpys_on_complex(args, kwargs):
        result = func(*_plain(args), **_plain(kwargs))
        return result if func in FUNCTIONS_WITHOUT_GRADIENT else _as_constants(result)
    fn = FUNCTIONS.get(func)
    if fn is not None:
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError, IndexError) as e:  # the function's checks, or NumPy's under them
            if not ours_to_explain(e):
                raise
            raise cannot_apply(_numpy_name(func), args, kwargs, e, f"called at {format_site(_user_site(2))}") from None
    if func in FUNCTIONS_WITHOUT_GRADIENT:
        return func(*_plain(args), **_plain(kwargs))
    if _requires_grad(args) or _requires_grad(tuple(kwargs.values())):
        raise _refuse(_numpy_name(func))
    return func(*_plain(args), **_plain(kwargs))


def _numpy_name(func: Callable) -> str:
    """``np.linalg.pinv``, ``np.fft.fft``, ``np.ptp``: the name a user wrote."""
    module = getattr(func, "__module__", None) or "numpy"
    sub = next((s for s in ("linalg", "fft", "random") if module.startswith(f"numpy.{s}")), None)
    return f"np.{sub + '.' if sub else ''}{getattr(func, '__name__', func)}"

# --------------------------------------------------------------------------- Tensor methods and operators


def _t_getitem(self, index):
    return sh.getitem(self, sh.index_data(index))


def _t_conj(self):
    """``ndarray.conj``: a real array returns itself (so ``c = t.conj(); c += 1`` changes ``t``, as in NumPy), a
    complex one x − iy (``np.conj``, the ufunc, always makes a new array)."""
    return ew.conj(self) if self.dtype.kind == "c" else self


def _t_flatten(self, order="C"):
    """``ndarray.flatten``: always a copy (``ravel``'s view follows in-place changes, a copy does not)."""
    return sh.copy(sh.reshape(self, (-1,), order))


def _argreduce(fn):
    def method(self, *args, **kwargs):
        return fn(self._arr, *args, **kwargs)
    method.__name__ = fn.__name__
    return method


_METHODS: dict[str, Any] = {
    "__add__": ar.add, "__radd__": lambda s, o: ar.add(o, s),
    "__sub__": ar.sub, "__rsub__": lambda s, o: ar.sub(o, s),
    "__mul__": ar.mul, "__rmul__": lambda s, o: ar.mul(o, s),
    "__truediv__": ar.div, "__rtruediv__": lambda s, o: ar.div(o, s),
    "__floordiv__": ar.floor_divide, "__rfloordiv__": lambda s, o: ar.floor_divide(o, s),
    "__mod__": ar.mod, "__rmod__": lambda s, o: ar.mod(o, s),
    "__divmod__": ar.divmod_, "__rdivmod__": lambda s, o: ar.divmod_(o, s),
    "__pow__": ar.power, "__rpow__": lambda s, o: ar.power(o, s),
    "__matmul__": la.matmul, "__rmatmul__": lambda s, o: la.matmul(o, s),
    "__neg__": ar.neg, "__pos__": ew.positive, "__abs__": ew.abs,
    "__getitem__": _t_getitem,
    "T": property(lambda s: sh.transpose(s) if s.ndim == 2 else sh.transpose(s, tuple(range(s.ndim))[::-1])),
    "mT": property(la.mT),
    "real": property(np.real), "imag": property(np.imag),  # through the protocol: complex values are NumPy's
    "exp": ew.exp, "log": nn.log, "sqrt": ew.sqrt, "abs": ew.abs, "sigmoid": nn.sigmoid, "tanh": ew.tanh,
    "relu": nn.relu, "sin": ew.sin, "cos": ew.cos, "square": ew.square,
    "softmax": lambda s, axis=-1: nn.softmax(s, axis=axis),
    "log_softmax": lambda s, axis=-1: nn.log_softmax(s, axis=axis),
    "sum": sum_, "mean": mean, "max": max_, "min": min_, "prod": prod, "var": rd.var, "std": rd.std,
    "cumsum": cumsum, "cumprod": cumprod,
    "clip": ew.clip, "round": round_,
    "conj": _t_conj, "conjugate": _t_conj,
    "reshape": reshape, "transpose": transpose, "permute": transpose, "swapaxes": sh.swapaxes,
    "ravel": sh.ravel, "flatten": _t_flatten, "squeeze": sh.squeeze, "repeat": sh.repeat, "take": sh.take,
    "diagonal": sh.diagonal, "trace": la.trace, "dot": la.dot, "astype": sh.astype, "copy": sh.copy,
    "argmax": _argreduce(np.argmax), "argmin": _argreduce(np.argmin), "argsort": _argreduce(np.argsort),
    "nonzero": _argreduce(np.nonzero), "all": _argreduce(np.all), "any": _argreduce(np.any),
    "argpartition": _argreduce(np.argpartition), "searchsorted": _argreduce(np.searchsorted),
    "compress": lambda s, condition, axis=None, out=None: sh.compress(condition, s, axis, out), "ptp": rd.ptp,
    **inplace.METHODS,
}


def _numpys_method(name: str, fn: Callable) -> Callable:
    """The method, or ndarray's own on a Tensor that holds complex values (constants: see the module docstring)."""
    def method(self, *args, **kwargs):
        if self._arr.dtype.kind != "c" or not _numpys_on_complex((self,) + args, kwargs):
            return fn(self, *args, **kwargs)
        return _as_constants(getattr(self._arr, name)(*_plain(args), **_plain(kwargs)))
    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(fn, "__doc__", None)
    return method


def install() -> None:
    """Attach the methods, operators and NumPy protocols to Tensor."""
    for name, fn in _METHODS.items():
        if callable(fn) and not name.startswith("__") and hasattr(np.ndarray, name) and name not in VIEW_METHODS:
            fn = _numpys_method(name, fn)
        setattr(Tensor, name, fn)
    Tensor.__array_ufunc__ = _array_ufunc
    Tensor.__array_function__ = _array_function
