"""The op table that drives tests/test_op_table.py (in the spirit of PyTorch's OpInfo).

Each row is written once, in NumPy: ``f(np_, *xs)``. The suite runs it three ways —
``np_ = numpy`` on plain arrays (the finite-difference oracle: pure NumPy, no autonp),
``np_ = numpy`` on Tensors (autonp, reached through NumPy's protocols), and
``np_ = autograd.numpy`` (HIPS autograd, an independent implementation) — and compares.

Domains keep inputs inside the function's domain and off its kinks; each row's inputs come
from a generator seeded by the row's name.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

try:  # imported here, not first inside a compiled row: SciPy's first import sets attributes on its own
    import scipy.special  # noqa: F401  objects, which anp.compile's side-effect guard would see in that trace
except ImportError:  # the rows that need it are skipped
    pass


@dataclass
class OpCase:
    name: str
    f: Callable                       # f(np_, *xs) -> array
    shapes: list                      # one shape per input
    domain: str | list = "any"        # one per input, or one for all
    second_order: bool = True
    float32: bool = True
    hips: bool = True                 # compare with HIPS autograd (where it has the op)
    rtol: float = 1e-6
    atol: float = 1e-7
    covers: tuple = ()                # the NumPy names this row exercises (for the coverage test)

    def inputs(self, dtype=np.float64) -> list[np.ndarray]:
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        domains = self.domain if isinstance(self.domain, list) else [self.domain] * len(self.shapes)
        return [_values(rng, s, d).astype(dtype) for s, d in zip(self.shapes, domains)]


_STRIPES = np.arange(12).reshape(3, 4) % 3 == 1  # a fixed mask of (3, 4): the rows' pieces


def _values(rng, shape, domain):
    x = rng.normal(size=shape)
    if domain == "positive":
        return np.abs(x) + 0.5
    if domain == "away_from_zero":
        return np.sign(x + 1e-12) * (np.abs(x) + 0.5)
    if domain == "unit":                           # (-0.9, 0.9): arcsin, arctanh
        return rng.uniform(-0.9, 0.9, size=shape)
    if domain == "prob":                           # (0.05, 0.95): logit, ndtri, betainc's x
        return rng.uniform(0.05, 0.95, size=shape)
    if domain == "gt1":
        return np.abs(x) + 1.5
    if domain == "distinct":                       # well separated: sort, max without ties
        return rng.permutation(np.arange(int(np.prod(shape)), dtype=float)).reshape(shape) * 0.7 + 0.1 * x
    if domain == "well_conditioned":               # square matrices near the identity
        return np.eye(shape[-1]) * 2 + 0.3 * x
    if domain == "non_integer_ratio":              # for mod: x/y away from integers
        return np.abs(x) + 0.5
    return x


def unary(name, expr, domain="any", shape=(3, 4), **kw):
    kw.setdefault("covers", (name,))
    return OpCase(name, expr, [shape], domain, **kw)


def _ew(np_name, domain="any", **kw):
    return unary(np_name, lambda np_, x, n=np_name: getattr(np_, n)(x), domain, **kw)


def _sym(np_, b):
    """A symmetric positive definite matrix made from b (so finite differences stay symmetric)."""
    return np_.dot(b, b.T) + 3.0 * np_.eye(b.shape[0])


def _sp(np_, ufunc=True):
    """scipy.special — or HIPS autograd's, when np_ is autograd.numpy. On Tensors SciPy's own ufuncs
    dispatch to autonp.scipy.special through __array_ufunc__, with no import change; SciPy's functions that
    are not ufuncs (polygamma) are autonp.scipy.special's (SciPy's own on plain arrays)."""
    if np_.__name__.startswith("autograd"):
        import autograd.scipy.special as special
    elif ufunc:
        import scipy.special as special
    else:
        import autonp.scipy.special as special
    return special


def _special(name, domain="any", **kw):
    return unary(f"scipy.special.{name}", lambda np_, x, n=name: getattr(_sp(np_), n)(x), domain,
                 covers=(name,), **kw)


def _mod_y(x):
    return x * 0 + 0.37


CASES: list[OpCase] = [
    # ---- elementwise, one argument
    *[_ew(n) for n in ["exp", "exp2", "expm1", "sin", "cos", "tan", "arctan", "sinh", "cosh", "tanh",
                       "arcsinh", "square", "negative", "positive", "deg2rad", "rad2deg", "radians", "degrees"]],
    *[_ew(n, "positive") for n in ["log", "log2", "log10", "log1p", "sqrt", "cbrt"]],
    *[_ew(n, "unit") for n in ["arcsin", "arccos", "arctanh"]],
    _ew("arccosh", "gt1"),
    *[_ew(n, "away_from_zero") for n in ["reciprocal", "abs", "absolute", "fabs"]],
    *[_ew(n, "away_from_zero", second_order=False) for n in ["sign", "floor", "ceil", "rint", "trunc"]],
    _ew("sinc"),
    unary("sinc_at_zero", lambda np_, x: np_.sinc(x * 1e-5), covers=("sinc",), hips=False),
    unary("nan_to_num", lambda np_, x: np_.nan_to_num(x), covers=("nan_to_num",)),
    unary("round", lambda np_, x: np_.round(x, 1), "away_from_zero", second_order=False, covers=("round", "around")),
    unary("clip", lambda np_, x: np_.clip(x, -0.3, 0.4), "distinct", covers=("clip",)),
    unary("pow_scalar", lambda np_, x: x ** 3, covers=("power",)),
    unary("pow_frac", lambda np_, x: np_.power(x, 0.5), "positive", covers=("power",)),
    unary("float_power", lambda np_, x: np_.float_power(x, 1.5), "positive", covers=("float_power",), hips=False),
    unary("rpow", lambda np_, x: 2.0 ** x, covers=("power",)),
    unary("mod_scalar", lambda np_, x: np_.mod(x, 0.37) * x, "non_integer_ratio", covers=("mod", "remainder")),
    # ---- elementwise, two arguments (broadcasting)
    *[OpCase(n, lambda np_, x, y, n=n: getattr(np_, n)(x, y), [(3, 4), (4,)], "any", covers=(n,))
      for n in ["add", "subtract", "multiply", "maximum", "minimum", "fmax", "fmin", "hypot", "arctan2",
                "logaddexp", "logaddexp2"]],
    OpCase("divide", lambda np_, x, y: np_.divide(x, y), [(3, 4), (3, 1)], ["any", "away_from_zero"],
           covers=("divide", "true_divide")),
    OpCase("power", lambda np_, x, y: np_.power(x, y), [(3, 4), (4,)], ["positive", "any"], covers=("power",)),
    OpCase("mod", lambda np_, x, y: np_.mod(x, y), [(3, 4), (3, 4)], "positive", second_order=False,
           covers=("mod", "remainder")),
    OpCase("fmod", lambda np_, x, y: np_.fmod(x, y), [(3, 4), (3, 4)], "positive", second_order=False,
           covers=("fmod",)),
    OpCase("where", lambda np_, x, y: np_.where(x > 0, x, y), [(3, 4), (3, 4)], "away_from_zero",
           covers=("where",)),
    OpCase("select", lambda np_, x, y: np_.select([x > 0.5, x < -0.5], [x * y, y], 0.0), [(3, 4), (3, 4)],
           "away_from_zero", covers=("select",), hips=False),
    # ---- reductions
    *[unary(f"{n}{tag}", lambda np_, x, n=n, kw=kw: getattr(np_, n)(x, **kw), "distinct", shape=(3, 4, 2),
            covers=(n,))
      for n in ["sum", "mean", "max", "min", "amax", "amin", "prod", "var", "std"]
      for tag, kw in [("", {}), ("_axis1", {"axis": 1}), ("_axes02_keepdims", {"axis": (0, 2), "keepdims": True})]],
    unary("var_ddof", lambda np_, x: np_.var(x, axis=0, ddof=1), covers=("var",)),
    unary("std_ddof", lambda np_, x: np_.std(x, ddof=1), covers=("std",)),
    unary("prod_with_zero", lambda np_, x: np_.prod(x * np_.array([[1.0, 0.0, 1.0, 1.0]] * 3), axis=1),
          covers=("prod",), hips=False),  # HIPS divides by the zero (nan)
    unary("cumsum", lambda np_, x: np_.cumsum(x, axis=1), covers=("cumsum",)),
    unary("cumsum_flat", lambda np_, x: np_.cumsum(x), covers=("cumsum",)),
    unary("cumprod", lambda np_, x: np_.cumprod(x, axis=0), "away_from_zero", covers=("cumprod",)),
    unary("cumprod_flat", lambda np_, x: np_.cumprod(x), "away_from_zero", covers=("cumprod",)),
    unary("diff", lambda np_, x: np_.diff(x, axis=1), covers=("diff",)),
    unary("diff2", lambda np_, x: np_.diff(x, n=2, axis=0), shape=(4, 3), covers=("diff",)),
    unary("sort", lambda np_, x: np_.sort(x, axis=1) * np_.arange(4.0), "distinct", covers=("sort",)),
    unary("average", lambda np_, x: np_.average(x, axis=1, weights=np_.array([1.0, 2.0, 3.0, 4.0])),
          covers=("average",)),
    unary("logsumexp", lambda np_, x: _logsumexp(np_, x), covers=()),
    unary("add_reduce", lambda np_, x: np.add.reduce(x, axis=1), covers=("add.reduce",), hips=False),
    unary("multiply_accumulate", lambda np_, x: np.multiply.accumulate(x, axis=1), "away_from_zero",
          covers=("multiply.accumulate",), hips=False),
    unary("ptp", lambda np_, x: np_.ptp(x, axis=1), "distinct", covers=("ptp",), hips=False),
    unary("maximum_reduce", lambda np_, x: np.maximum.reduce(x, axis=0), "distinct", covers=("maximum.reduce",),
          hips=False),
    # ---- shapes
    unary("reshape", lambda np_, x: np_.reshape(x, (2, 6)), covers=("reshape",)),
    unary("ravel", lambda np_, x: np_.ravel(x), covers=("ravel",)),
    unary("transpose", lambda np_, x: np_.transpose(x, (2, 0, 1)), shape=(2, 3, 4), covers=("transpose",)),
    unary("swapaxes", lambda np_, x: np_.swapaxes(x, 0, 2), shape=(2, 3, 4), covers=("swapaxes",)),
    unary("moveaxis", lambda np_, x: np_.moveaxis(x, 0, -1), shape=(2, 3, 4), covers=("moveaxis",)),
    unary("rollaxis", lambda np_, x: np_.rollaxis(x, 2), shape=(2, 3, 4), covers=("rollaxis",)),
    unary("squeeze", lambda np_, x: np_.squeeze(x), shape=(3, 1, 4), covers=("squeeze",)),
    unary("expand_dims", lambda np_, x: np_.expand_dims(x, 1), covers=("expand_dims",)),
    unary("atleast_1d", lambda np_, x: np_.atleast_1d(x[0, 0]), covers=("atleast_1d",)),
    unary("atleast_2d", lambda np_, x: np_.atleast_2d(x[0]), covers=("atleast_2d",)),
    unary("atleast_3d", lambda np_, x: np_.atleast_3d(x), covers=("atleast_3d",)),
    # HIPS: "Can't handle extra leading dims"
    unary("broadcast_to", lambda np_, x: np_.broadcast_to(x, (2, 3, 4)), covers=("broadcast_to",), hips=False),
    unary("repeat", lambda np_, x: np_.repeat(x, 2, axis=1), covers=("repeat",)),
    # HIPS: repeats as a list unsupported
    unary("repeat_flat", lambda np_, x: np_.repeat(x, [1, 2, 0, 3], axis=1), covers=("repeat",), hips=False),
    unary("tile", lambda np_, x: np_.tile(x, (2, 1, 3)), covers=("tile",)),
    unary("roll", lambda np_, x: np_.roll(x, 2, axis=1), covers=("roll",)),
    unary("roll_flat", lambda np_, x: np_.roll(x, -5), covers=("roll",)),
    unary("flip", lambda np_, x: np_.flip(x, 1) * np_.arange(4.0), covers=("flip",)),
    unary("fliplr", lambda np_, x: np_.fliplr(x) * np_.arange(4.0), covers=("fliplr",)),
    unary("flipud", lambda np_, x: np_.flipud(x) * np_.arange(4.0), covers=("flipud",)),
    unary("rot90", lambda np_, x: np_.rot90(x) * np_.arange(3.0), covers=("rot90",)),
    unary("rot90_k3", lambda np_, x: np_.rot90(x, 3), covers=("rot90",)),
    unary("split", lambda np_, x: np_.split(x, 2, axis=1)[1] * 2.0, covers=("split",)),
    unary("array_split", lambda np_, x: np_.array_split(x, 3, axis=1)[0] * 3.0, covers=("array_split",)),
    unary("hsplit", lambda np_, x: np_.hsplit(x, [1])[1], covers=("hsplit",)),
    unary("vsplit", lambda np_, x: np_.vsplit(x, 3)[2], covers=("vsplit",)),
    unary("dsplit", lambda np_, x: np_.dsplit(x, 2)[0], shape=(2, 3, 4), covers=("dsplit",)),
    # HIPS: pad_vjp signature error
    unary("pad", lambda np_, x: np_.pad(x, ((1, 2), (0, 1))) * 2.0, covers=("pad",), hips=False),
    unary("pad_edge", lambda np_, x: np_.pad(x, 2, mode="edge") ** 2, covers=("pad",), hips=False),
    unary("pad_reflect", lambda np_, x: np_.pad(x, ((1, 1), (2, 0)), mode="reflect") ** 2, covers=("pad",),
          hips=False),
    # NumPy >= 2.3: pad_width as {axis: width}; autonp's backward read it as an array (a TypeError from NumPy)
    unary("pad_dict", lambda np_, x: np_.sum(np_.pad(x, {-1: (1, 2)}, mode="wrap") ** 2)
          + np_.sum(np_.pad(x, {0: 1}) * 2.0), covers=("pad",), hips=False),
    unary("getitem_basic", lambda np_, x: x[1:, ::2] * 3.0, covers=("__getitem__",)),
    unary("getitem_advanced_repeats", lambda np_, x: x[[0, 0, 2], [1, 1, 3]], covers=("__getitem__",)),
    unary("take", lambda np_, x: np_.take(x, [0, 3, 3], axis=1), covers=("take",)),
    unary("take_along_axis", lambda np_, x: np_.take_along_axis(x, np.array([[0], [3], [1]]), axis=1),
          covers=("take_along_axis",), hips=False),
    unary("compress", lambda np_, x: np_.compress([True, False, True], x, axis=0) * 2.0
          + np_.sum(np_.compress([0, 1, 1], x, axis=1)), covers=("compress",), hips=False),
    unary("delete", lambda np_, x: np_.delete(x, [0, 2], axis=1) * 2.0 + np_.sum(np_.delete(x, 1, 0) ** 2)
          + np_.sum(np_.delete(x.T, slice(1, 3), 0)), covers=("delete",), hips=False),
    unary("resize", lambda np_, x: np_.resize(x, (5, 3)) ** 2, covers=("resize",), hips=False),
    unary("vander", lambda np_, x: np_.vander(x[0]) + np_.vander(x[1], 3, increasing=True)[:, :1], covers=("vander",),
          hips=False),
    unary("bincount", lambda np_, x: np_.bincount(np.array([0, 2, 2, 1, 0, 5, 5, 5, 3, 0, 2, 4]), np_.ravel(x))
          * np_.bincount(np.array([1, 1, 0, 3]), x[0], minlength=6), covers=("bincount",), hips=False),
    unary("compress_flat_extract", lambda np_, x: np_.compress([1, 0, 0, 1, 1], x) * np_.extract(_STRIPES, x)[:3],
          covers=("compress", "extract"), hips=False),
    # each function sees only its piece (sqrt of the negatives' |x|), later conditions win, the last is "otherwise"
    unary("piecewise", lambda np_, x: np_.piecewise(x, [_STRIPES, _STRIPES.T.reshape(3, 4)],
                                                      [lambda v: np_.sqrt(np_.abs(v)), lambda v: v ** 3, 0.5]),
          domain="away_from_zero", covers=("piecewise",), hips=False),
    unary("piecewise_args", lambda np_, x: np_.piecewise(x, [_STRIPES], [lambda v, k: k * np_.sin(v),
                                                                           lambda v, k: v * k], 2.5),
          covers=("piecewise",), hips=False),
    unary("diag", lambda np_, x: np_.diag(x), shape=(4, 4), covers=("diag",)),
    unary("diag_1d", lambda np_, x: np_.diag(x[0], 1), covers=("diag",)),
    unary("diagonal", lambda np_, x: np_.diagonal(x, 1), shape=(4, 4), covers=("diagonal",)),
    unary("trace", lambda np_, x: np_.trace(x), shape=(4, 4), covers=("trace",)),
    unary("tril", lambda np_, x: np_.tril(x), shape=(4, 4), covers=("tril",)),
    unary("triu", lambda np_, x: np_.triu(x, 1), shape=(4, 4), covers=("triu",)),
    # ---- joining
    *[OpCase(n, lambda np_, x, y, n=n: getattr(np_, n)([x, y]) * 1.5, [(3, 4), (3, 4)], covers=(n,))
      for n in ["concatenate", "stack", "hstack", "vstack", "dstack", "column_stack"]],
    OpCase("append", lambda np_, x, y: np_.append(x, y, axis=0), [(3, 4), (2, 4)], covers=("append",)),
    OpCase("array_of_tensors", lambda np_, x, y: np_.array([x, y]) if np_ is not np else _anp_array([x, y]),
           [(3,), (3,)], covers=(), hips=False),
    # ---- products and linear algebra
    OpCase("matmul", lambda np_, x, y: np_.matmul(x, y), [(2, 3, 4), (4, 5)], covers=("matmul",)),
    OpCase("dot", lambda np_, x, y: np_.dot(x, y), [(3, 4), (4, 2)], covers=("dot",)),
    OpCase("dot_nd", lambda np_, x, y: np_.dot(x, y), [(2, 3, 4), (3, 4, 2)], covers=("dot",)),
    OpCase("dot_vec", lambda np_, x, y: np_.dot(x, y), [(4,), (4,)], covers=("dot",)),
    OpCase("vdot", lambda np_, x, y: np_.vdot(x, y), [(3, 4), (3, 4)], covers=("vdot",)),
    OpCase("inner", lambda np_, x, y: np_.inner(x, y), [(3, 4), (2, 4)], covers=("inner",)),
    OpCase("outer", lambda np_, x, y: np_.outer(x, y), [(3,), (4,)], covers=("outer",)),
    OpCase("tensordot", lambda np_, x, y: np_.tensordot(x, y, axes=([1, 2], [0, 1])), [(2, 3, 4), (3, 4, 2)],
           covers=("tensordot",)),
    OpCase("einsum_matmul", lambda np_, x, y: np_.einsum("ij,jk->ik", x, y), [(3, 4), (4, 2)], covers=("einsum",)),
    OpCase("einsum_batch_ellipsis", lambda np_, x, y: np_.einsum("...ij,...jk", x, y), [(2, 3, 4), (2, 4, 2)],
           covers=("einsum",)),
    OpCase("einsum_sum_only_in_one", lambda np_, x, y: np_.einsum("ij,j->j", x, y), [(3, 4), (4,)],
           covers=("einsum",)),
    # HIPS: repeated subscripts unsupported
    unary("einsum_trace", lambda np_, x: np_.einsum("ii", x), shape=(4, 4), covers=("einsum",), hips=False),
    # HIPS: repeated subscripts unsupported
    unary("einsum_diag", lambda np_, x: np_.einsum("ii->i", x), shape=(4, 4), covers=("einsum",), hips=False),
    OpCase("kron", lambda np_, x, y: np_.kron(x, y), [(2, 3), (3, 2)], covers=("kron",)),
    unary("inv", lambda np_, x: np_.linalg.inv(x), "well_conditioned", shape=(3, 3), covers=("linalg.inv",)),
    unary("det", lambda np_, x: np_.linalg.det(x), "well_conditioned", shape=(3, 3), covers=("linalg.det",)),
    unary("det_batched", lambda np_, x: np_.linalg.det(x), "well_conditioned", shape=(2, 3, 3),
          covers=("linalg.det",)),
    unary("slogdet", lambda np_, x: np_.linalg.slogdet(x)[1], "well_conditioned", shape=(3, 3),
          covers=("linalg.slogdet",)),
    OpCase("solve", lambda np_, a, b: np_.linalg.solve(a, b), [(3, 3), (3, 2)], ["well_conditioned", "any"],
           covers=("linalg.solve",)),
    OpCase("solve_vec", lambda np_, a, b: np_.linalg.solve(a, b), [(3, 3), (3,)], ["well_conditioned", "any"],
           covers=("linalg.solve",)),
    unary("cholesky", lambda np_, b: np_.linalg.cholesky(_sym(np_, b)), shape=(3, 3), covers=("linalg.cholesky",)),
    unary("eigh_values", lambda np_, b: np_.linalg.eigh(_sym(np_, b))[0], shape=(3, 3), covers=("linalg.eigh",)),
    unary("eigh_vectors", lambda np_, b: _sign_fixed(np_, np_.linalg.eigh(_sym(np_, b))[1]), shape=(3, 3),
          covers=("linalg.eigh",)),
    unary("eigvalsh", lambda np_, b: np_.linalg.eigvalsh(_sym(np_, b)), shape=(3, 3), covers=("linalg.eigvalsh",),
          hips=False),
    unary("svd_values", lambda np_, x: np_.linalg.svd(x, full_matrices=False)[1], shape=(4, 3),
          covers=("linalg.svd",)),
    unary("svd_vectors_tall", lambda np_, x: _svd_uv(np_, x), shape=(4, 3), covers=("linalg.svd",), hips=False),
    unary("svd_vectors_wide", lambda np_, x: _svd_uv(np_, x), shape=(2, 4), covers=("linalg.svd",), hips=False),
    unary("qr_tall", lambda np_, x: _qr_parts(np_, x), shape=(4, 3), covers=("linalg.qr",), hips=False),
    unary("qr_square", lambda np_, x: _qr_parts(np_, x), "well_conditioned", shape=(3, 3), covers=("linalg.qr",),
          hips=False),
    unary("qr_wide", lambda np_, x: _qr_parts(np_, x), shape=(2, 4), covers=("linalg.qr",), hips=False),
    unary("qr_r", lambda np_, x: np_.linalg.qr(x, mode="r"), shape=(4, 2), covers=("linalg.qr",), hips=False),
    unary("cond", lambda np_, x: np_.linalg.cond(x), "well_conditioned", shape=(3, 3), covers=("linalg.cond",),
          hips=False),
    unary("cond_fro", lambda np_, x: np_.linalg.cond(x, "fro"), "well_conditioned", shape=(3, 3),
          covers=("linalg.cond",), hips=False),
    unary("cond_inf", lambda np_, x: np_.linalg.cond(x, np.inf), "well_conditioned", shape=(3, 3),
          covers=("linalg.cond",), hips=False),
    OpCase("lstsq", lambda np_, a, b: _lstsq_parts(np_, a, b), [(5, 3), (5, 2)], covers=("linalg.lstsq",),
           hips=False),
    OpCase("lstsq_wide", lambda np_, a, b: np_.linalg.lstsq(a, b)[0], [(2, 4), (2,)], covers=("linalg.lstsq",),
           hips=False),
    OpCase("tensorsolve", lambda np_, a, b: np_.linalg.tensorsolve(np_.reshape(a, (2, 3, 6)), b), [(6, 6), (2, 3)],
           ["well_conditioned", "any"], covers=("linalg.tensorsolve",), hips=False),
    unary("tensorinv", lambda np_, a: np_.linalg.tensorinv(np_.reshape(a, (4, 2, 2)), ind=1), "well_conditioned",
          shape=(4, 4), covers=("linalg.tensorinv",), hips=False),
    unary("norm", lambda np_, x: np_.linalg.norm(x), covers=("linalg.norm",)),
    unary("norm_axis", lambda np_, x: np_.linalg.norm(x, axis=1), covers=("linalg.norm",)),
    unary("norm_l1", lambda np_, x: np_.linalg.norm(x, 1, axis=0), "away_from_zero", covers=("linalg.norm",)),
    # HIPS: nan from 0·inf in its inf-norm VJP
    unary("norm_inf_vec", lambda np_, x: np_.linalg.norm(x[0], np.inf), "distinct", covers=("linalg.norm",),
          hips=False),
    unary("norm_p3", lambda np_, x: np_.linalg.norm(x, 3, axis=1), "away_from_zero", covers=("linalg.norm",)),
    unary("norm_fro", lambda np_, x: np_.linalg.norm(x, "fro"), covers=("linalg.norm",)),
    unary("norm_nuc", lambda np_, x: np_.linalg.norm(x, "nuc"), covers=("linalg.norm",), hips=False),
    unary("norm_2_matrix", lambda np_, x: np_.linalg.norm(x, 2), covers=("linalg.norm",), hips=False),
    unary("norm_1_matrix", lambda np_, x: np_.linalg.norm(x, 1), "distinct", covers=("linalg.norm",)),
    unary("norm_inf_matrix", lambda np_, x: np_.linalg.norm(x, np.inf), "distinct", covers=("linalg.norm",)),
    OpCase("multi_dot", lambda np_, x, y: np_.linalg.multi_dot([x, y, x.T]), [(3, 4), (4, 4)],
           covers=("linalg.multi_dot",), hips=False),
    unary("matrix_power", lambda np_, x: np_.linalg.matrix_power(x, 3), shape=(3, 3),
          covers=("linalg.matrix_power",), hips=False),
    # ---- NumPy functions added for HIPS autograd's programs
    unary("gradient", lambda np_, x: np_.gradient(x, 0.5, axis=1) * np_.arange(1.0, 5.0), covers=("gradient",)),
    unary("gradient_all_axes", lambda np_, x: np_.gradient(x)[0] + np_.gradient(x)[1] ** 2, covers=("gradient",),
          hips=False),  # HIPS autograd's gradient VJP fails on the second axis of a non-square array
    unary("partition", lambda np_, x: np_.sum(np_.partition(x, 1, axis=1)[:, :2], axis=1), "distinct",
          covers=("partition",)),
    OpCase("linspace", lambda np_, a, b: np_.linspace(a[0], b[0], 7) ** 2, [(1,), (1,)], covers=("linspace",),
           hips=False),
    OpCase("cross", lambda np_, a, b: np_.cross(a, b), [(4, 3), (4, 3)], covers=("cross",)),
    OpCase("einsum_interleaved", lambda np_, x, y: np_.einsum(x, [0, 1], y, [1, 2], [0, 2]), [(3, 4), (4, 2)],
           covers=("einsum",)),
    unary("transpose_axes_keyword", lambda np_, x: np_.transpose(x, axes=(1, 0)) * np_.arange(3.0),
          covers=("transpose",)),
    # ---- SciPy's special-function ufuncs, called on Tensors (autonp.scipy.special through __array_ufunc__)
    *[_special(n, d) for n, d in [("gammaln", "positive"), ("digamma", "positive"), ("psi", "positive"),
                                  ("gamma", "positive"), ("rgamma", "positive"), ("erf", "any"), ("erfc", "any"),
                                  ("erfinv", "unit"), ("expit", "any"), ("logit", "prob"), ("j0", "any"),
                                  ("j1", "any"), ("y0", "positive"), ("y1", "positive"), ("i0", "any"),
                                  ("i1", "any")]],
    *[_special(n, d, hips=False) for n, d in [("ndtr", "any"), ("log_ndtr", "any"), ("ndtri", "prob"), ("erfcx", "any"),
                                              ("i0e", "away_from_zero"), ("i1e", "away_from_zero")]],
    unary("scipy.special.erfcinv", lambda np_, x: _sp(np_).erfcinv(x + 1.0), "unit", covers=("erfcinv",)),
    unary("scipy.special.polygamma", lambda np_, x: _sp(np_, ufunc=False).polygamma(1, x), "positive",
          covers=("polygamma",)),
    unary("scipy.special.jn", lambda np_, x: _sp(np_).jn(2, x), "positive", covers=("jn",)),
    unary("scipy.special.yn", lambda np_, x: _sp(np_).yn(2, x), "positive", covers=("yn",)),
    unary("scipy.special.iv", lambda np_, x: _sp(np_).iv(1.5, x), "positive", covers=("iv",)),
    unary("scipy.special.ive", lambda np_, x: _sp(np_).ive(1.5, x), "positive", covers=("ive",)),
    unary("scipy.special.gammainc", lambda np_, x: _sp(np_).gammainc(2.5, x), "positive", covers=("gammainc",)),
    unary("scipy.special.gammaincc", lambda np_, x: _sp(np_).gammaincc(2.5, x), "positive", covers=("gammaincc",)),
    unary("scipy.special.betainc", lambda np_, x: _sp(np_).betainc(2.5, 1.5, x), "prob", covers=("betainc",)),
    OpCase("scipy.special.beta", lambda np_, a, b: _sp(np_).beta(a, b), [(3, 4), (4,)], "positive",
           covers=("beta",)),
    OpCase("scipy.special.betaln", lambda np_, a, b: _sp(np_).betaln(a, b), [(3, 4), (3, 1)], "positive",
           covers=("betaln",)),
    OpCase("scipy.special.xlogy", lambda np_, x, y: _sp(np_).xlogy(x, y), [(3, 4), (4,)], ["any", "positive"],
           covers=("xlogy",), hips=False),
    OpCase("scipy.special.xlog1py", lambda np_, x, y: _sp(np_).xlog1py(x, y), [(3, 4), (4,)], ["any", "positive"],
           covers=("xlog1py",), hips=False),
    # ---- statistics, functions of samples, NumPy 2's array-API names (HIPS autograd has none of these)
    unary("median", lambda np_, x: np_.median(x, axis=0), "distinct", shape=(4, 3), covers=("median",), hips=False),
    unary("median_of_all", lambda np_, x: np_.median(x), "distinct", shape=(3, 3), covers=("median",), hips=False),
    unary("quantile", lambda np_, x: np_.quantile(x, [0.2, 0.7], axis=1), "distinct", shape=(3, 5),
          covers=("quantile",), hips=False),
    unary("percentile", lambda np_, x: np_.percentile(x, 37.0, axis=0), "distinct", shape=(5, 3),
          covers=("percentile",), hips=False),
    *[unary(n, lambda np_, x, n=n: getattr(np_, n)(x, axis=0), "distinct", shape=(4, 3), covers=(n,), hips=False)
      for n in ["nansum", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nanprod", "nancumsum"]],
    unary("cov", lambda np_, x: np_.cov(x), shape=(3, 5), covers=("cov",), hips=False),
    unary("corrcoef", lambda np_, x: np_.corrcoef(x), shape=(3, 5), covers=("corrcoef",), hips=False),
    unary("trapezoid", lambda np_, x: np_.trapezoid(x, dx=0.5, axis=0), shape=(4, 3), covers=("trapezoid",),
          hips=False),
    OpCase("interp", lambda np_, x, fp: np_.interp(x, np.array([-1.0, -0.3, 0.4, 1.2]), fp), [(6,), (4,)],
           ["unit", "any"], covers=("interp",), hips=False),
    OpCase("polyval", lambda np_, p, x: np_.polyval(p, x), [(4,), (3, 2)], covers=("polyval",), hips=False),
    OpCase("convolve", lambda np_, a, v: np_.convolve(a, v, "same"), [(6,), (3,)], covers=("convolve",),
           hips=False),
    OpCase("correlate", lambda np_, a, v: np_.correlate(a, v, "full"), [(5,), (3,)], covers=("correlate",),
           hips=False),
    unary("linalg.vector_norm", lambda np_, x: np_.linalg.vector_norm(x, axis=(0, 1)), "away_from_zero",
          shape=(3, 2, 2), covers=("linalg.vector_norm",), hips=False),
    OpCase("vecdot", lambda np_, x, y: np_.linalg.vecdot(x, y), [(3, 4), (4,)], covers=("vecdot",), hips=False),
    unary("cumulative_sum", lambda np_, x: np_.cumulative_sum(x, axis=1, include_initial=True),
          covers=("cumulative_sum",), hips=False),
    unary("logaddexp.reduce", lambda np_, x: np_.logaddexp.reduce(x, axis=1), covers=("logaddexp",), hips=False),
    OpCase("multiply.outer", lambda np_, x, y: np_.multiply.outer(x, y), [(3,), (2, 2)], covers=("multiply",),
           hips=False),
    unary("sum_where_initial", lambda np_, x: np_.sum(x, axis=0, where=np.array([True, False, True, True]),
                                                      initial=0.5), covers=("sum",), hips=False),
]


def _logsumexp(np_, x):
    m = np_.max(x, axis=1, keepdims=True)
    return np_.log(np_.sum(np_.exp(x - m), axis=1)) + m[:, 0]


def value(v):
    """The plain array inside an autonp Tensor, a HIPS ArrayBox, or an array."""
    while hasattr(v, "_value"):
        v = v._value
    return np.asarray(v.data if type(v).__name__ == "Tensor" else v)


def _sign_fixed(np_, v):
    """Eigenvectors up to sign: make each column's largest-magnitude entry positive (a constant)."""
    a = value(v)
    return v * np.sign(a[np.argmax(np.abs(a), axis=0), np.arange(a.shape[1])])


def _lstsq_parts(np_, a, b):
    """The solution, the squared residuals and the singular values of a full-rank tall least-squares problem."""
    x, residuals, _, s = np_.linalg.lstsq(a, b, rcond=None)
    return np_.concatenate([np_.ravel(x), residuals, s])


def _qr_parts(np_, x):
    """Q and R of the reduced QR, side by side (LAPACK's signs are a smooth function of x near a full-rank x)."""
    q, r = np_.linalg.qr(x)
    return np_.concatenate([np_.ravel(q), np_.ravel(r)])


def _svd_uv(np_, x):
    """A scalar that depends on U, s and Vh, with the sign ambiguity of singular vectors removed."""
    u, s, vh = np_.linalg.svd(x, full_matrices=False)
    signs = np.sign(value(u)[0])
    return np_.sum(u * signs * np_.arange(1.0, 1.0 + s.shape[0])) + np_.sum((vh.T * signs) ** 3) + np_.sum(s)


def _anp_array(xs):
    import autonp as anp
    return anp.array(xs) if any(isinstance(x, anp.Tensor) for x in xs) else np.array(xs)


BY_NAME = {c.name: c for c in CASES}
assert len(BY_NAME) == len(CASES), "duplicate op case names"
