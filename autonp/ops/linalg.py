"""Products and linear algebra: matmul, einsum (and dot, inner, outer, tensordot, kron, trace
written with it), and ``np.linalg``: inv, det, slogdet, solve, cholesky, eigh, svd, norm.

Functions of symmetric matrices (cholesky, eigh) read one triangle, as NumPy's do; their gradient is
the gradient of what they compute — in that triangle (off-diagonal entries count for both of the
symmetric matrix's entries), zero in the other. eigh and svd need
distinct eigen/singular values (∂ divides by their differences), svd ``full_matrices=False``.
"""
from __future__ import annotations

import builtins
import string
from collections import namedtuple

import numpy as np

from ..tensor import Primitive, Tensor, _data, warn_at_user_line
from ._kernels import oriented_matmul
from .elementwise import abs, conj, imag, real
from .reductions import expand, max, min, sum
from .shape import (
    _axes,
    _no_out,
    _sum_to,
    as_dtype,
    broadcast_to,
    cast_inputs,
    concatenate,
    diagonal,
    getitem,
    in_dtype,
    moveaxis,
    ravel,
    reshape,
    sum_to,
    swapaxes,
    transpose,
    unbroadcast,
    where,
)


def mT(x):
    """The matrix transpose of the last two axes."""
    return swapaxes(x, -1, -2)


# --------------------------------------------------------------------------- matmul


def _operand(v):
    """An operand as the VJPs read it: a list given to ``[[1, 2]] @ t`` as the array NumPy made of it."""
    return v if hasattr(v, "ndim") else np.asarray(v)


def _matmul_vjp_x(g, ans, x, y):
    """∂(x@y) wrt x: g @ yᵀ, with NumPy's rules for 1-D operands."""
    y = _operand(y)
    if y.ndim == 1:
        gx = g * y if x.ndim == 1 else reshape(g, g.shape + (1,)) * y
    elif x.ndim == 1:
        gx = reshape(y @ reshape(g, g.shape[:-1] + (g.shape[-1], 1)), y.shape[:-2] + (y.shape[-2],))
    else:
        gx = matmul(g, y.T if y.ndim == 2 else mT(y))
    return unbroadcast(gx, x)


def _matmul_vjp_y(g, ans, x, y):
    """∂(x@y) wrt y: xᵀ @ g, with NumPy's rules for 1-D operands."""
    x = _operand(x)
    if x.ndim == 1:
        gy = g * x if y.ndim == 1 else reshape(x, (x.shape[0], 1)) * reshape(g, g.shape[:-1] + (1, g.shape[-1]))
    elif y.ndim == 1:
        gy = reshape(g, g.shape + (1,)) * x
    else:
        gy = matmul(x.T if x.ndim == 2 else mT(x), g)
    return unbroadcast(gy, y)


matmul = Primitive("matmul", oriented_matmul).defvjp(_matmul_vjp_x, _matmul_vjp_y)
matmul.complex_ok = True  # bilinear: transposes, no conjugates (HIPS's convention)


def _linear(x, w, b):
    """linear(x, w, b) = x @ w + b, with w of shape (in, out): a dense layer as one tape entry (``nn.Linear``).
    ∂x = g·wᵀ, ∂w = xᵀ·g, ∂b = g summed over the axes b was broadcast along. The bias is added into the
    product's own buffer where that gives NumPy's result (one pass and one array less than x @ w + b)."""
    x, w = _operand(x), _operand(w)
    if w.ndim != 2 or x.ndim == 0:
        raise ValueError(f"expects x of shape (..., in) and w of shape (in, out), got x {x.shape} and w {w.shape}")
    out = oriented_matmul(x, w)
    if _adds_in_place(out, b):
        out += b
        return out
    return out + b


def _adds_in_place(out, b) -> bool:
    """Is ``out += b`` the same as ``out + b``: the same dtype, and ``b`` broadcasts into ``out``'s shape."""
    if type(out) is not np.ndarray or type(b) is not np.ndarray or b.dtype != out.dtype or b.ndim > out.ndim:
        return False
    if b.ndim and b.size == b.shape[-1] == out.shape[-1]:  # a row, (out,) or (1, out): the common case
        return True
    return all(n == 1 or n == m for n, m in zip(b.shape[::-1], out.shape[::-1]))


def _product_part(g, x, w):
    """g summed down to the shape of x @ w (a bias of more dimensions may have broadcast it further)."""
    shape = _operand(x).shape[:-1] + _operand(w).shape[1:]
    return g if g.shape == shape else sum_to(g, shape)


def _rows_of_plain_arrays(g, x, w) -> bool:
    """The common case of a backward pass: g, x, w plain 2-D arrays, g shaped like x @ w (N, out)."""
    return (type(g) is np.ndarray and type(x) is np.ndarray and type(w) is np.ndarray and x.ndim == 2
            and w.ndim == 2 and g.shape == (x.shape[0], w.shape[1]))


def _linear_vjp_x(g, ans, x, w, b):
    if _rows_of_plain_arrays(g, x, w):
        return oriented_matmul(g, w.T)  # what the general line below computes, without its dispatch
    return _matmul_vjp_x(_product_part(g, x, w), ans, x, w)


def _linear_vjp_w(g, ans, x, w, b):
    if _rows_of_plain_arrays(g, x, w):
        return oriented_matmul(x.T, g)
    return _matmul_vjp_y(_product_part(g, x, w), ans, x, w)


def _linear_vjp_b(g, ans, x, w, b):
    if type(g) is np.ndarray and type(b) is np.ndarray:
        return _sum_to(g, b.shape)  # sum_to's own forward: what unbroadcast calls, without its dispatch
    return unbroadcast(g, b)


linear = Primitive("linear", _linear).defvjp(_linear_vjp_x, _linear_vjp_w, _linear_vjp_b)

# --------------------------------------------------------------------------- einsum and the products built on it

_LETTERS = string.ascii_letters


def _parse_einsum(subscripts: str, shapes: list[tuple]) -> tuple[list[str], str]:
    """Explicit per-operand subscripts and output, with ``...`` spelled out in fresh letters."""
    subscripts = subscripts.replace(" ", "")
    lhs, arrow, out = subscripts.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: {len(ins)} operand subscripts for {len(shapes)} operands")
    free = [c for c in _LETTERS if c not in subscripts]
    n_ell = 0
    for sub, shape in zip(ins, shapes):
        if "..." in sub:
            n_ell = builtins.max(n_ell, len(shape) - (len(sub) - 3))
    ell = "".join(free[:n_ell])
    spelled = []
    for sub, shape in zip(ins, shapes):
        if "..." in sub:
            k = len(shape) - (len(sub) - 3)
            sub = sub.replace("...", ell[n_ell - k:] if k else "")
        if len(sub) != len(shape):
            raise ValueError(f"einsum: subscripts {sub!r} do not match an operand of shape {shape}")
        spelled.append(sub)
    if arrow:
        if n_ell and "..." not in out:
            raise ValueError(f"einsum: {subscripts!r}: '...' stands for {n_ell} axes of an operand, and the output "
                             f"names no '...' for them (NumPy's error too); sum them explicitly or add '...'")
        out = out.replace("...", ell)
    else:
        letters = "".join(spelled)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    return spelled, out


def _einsum(spec, *operands, optimize=False):
    return np.einsum(spec, *operands, optimize=optimize)


def _einsum_vjp(i, g, ans, spec, *operands, optimize=False):
    """∂ wrt operand i: the einsum of g with the other operands onto operand i's subscripts;
    letters summed in operand i alone come back by broadcasting, lengths of 1 it broadcast by a sum."""
    ins, out = spec.split("->")
    ins = ins.split(",")
    k = i - 1  # argument 0 is the spec
    others = [s for j, s in enumerate(ins) if j != k]
    available = set(out).union(*others) if others else set(out)
    target = "".join(c for c in ins[k] if c in available)
    gx = einsum_prim(f"{','.join([out] + others)}->{target}", g,
                     *(o for j, o in enumerate(operands) if j != k), optimize=optimize)
    shape = np.shape(operands[k])
    kept = tuple(n for c, n in zip(ins[k], shape) if c in available)
    if np.shape(gx) != kept:  # NumPy broadcast a length 1 of one operand against another operand's length
        summed = tuple(a for a, (m, n) in enumerate(zip(np.shape(gx), kept)) if m != n and n == 1)
        if summed:  # this operand's 1, broadcast: its gradient is the sum along that letter
            gx = sum(gx, axis=summed, keepdims=True)
        if np.shape(gx) != kept:  # another operand's 1 against this one's n: the same gradient all along it
            gx = broadcast_to(gx, kept)
    if target != ins[k]:
        gx = broadcast_to(reshape(gx, tuple(n if c in available else 1 for c, n in zip(ins[k], shape))), shape)
    return gx


einsum_prim = Primitive("einsum", _einsum).defvjp_argnum(_einsum_vjp)
einsum_prim.rule = "a letter repeated in one operand takes its diagonal first"
einsum_prim.complex_ok = True


def _interleaved(*args):
    """einsum(op0, sublist0, op1, sublist1, ..., [sublist_out]) as (subscripts, operands)."""
    ops, subs = list(args[0::2]), list(args[1::2])
    out = None
    if len(args) % 2:
        out = ops.pop()
    def letters(sub):
        return "".join("..." if k is Ellipsis else _LETTERS[int(k)] for k in sub)
    spec = ",".join(letters(s) for s in subs) + ("" if out is None else "->" + letters(out))
    return spec, ops


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross``: (a₁b₂ − a₂b₁, a₂b₀ − a₀b₂, a₀b₁ − a₁b₀), broadcast over the other axes. A 2-vector has a₂ = 0;
    of two 2-vectors only the last component is returned (NumPy's rules, and its deprecation warning)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    na, nb = np.shape(a)[-1], np.shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"cross: incompatible dimensions for cross product (dimension must be 2 or 3), got vectors "
                         f"of {na} and {nb} components")
    if 2 in (na, nb):
        warn_at_user_line("Arrays of 2-dimensional vectors are deprecated. Use arrays of 3-dimensional vectors "
                          "instead. (deprecated in NumPy 2.0)", DeprecationWarning)
    c = [getitem(a, (Ellipsis, i)) if i < na else 0 for i in range(3)]
    d = [getitem(b, (Ellipsis, i)) if i < nb else 0 for i in range(3)]
    if na == nb == 2:
        return c[0] * d[1] - c[1] * d[0]
    from .shape import stack
    res = stack([c[1] * d[2] - c[2] * d[1], c[2] * d[0] - c[0] * d[2], c[0] * d[1] - c[1] * d[0]], axis=-1)
    return moveaxis(res, -1, axisc)


def einsum(subscripts, *operands, optimize=False, **kwargs):
    """``np.einsum`` in subscript form. A letter repeated within one operand (``'ii->'``, a trace) takes that
    operand's diagonal first (a gather: an infinite entry off it stays out of the sum, as in NumPy)."""
    if kwargs.get("out") is not None:
        raise TypeError("einsum: out= is not supported by autonp (it would write outside the tape)")
    if not isinstance(subscripts, str):  # the interleaved form einsum(A, [0, 1], B, [1, 2], [0, 2])
        subscripts, operands = _interleaved(subscripts, *operands)
    ins, out = _parse_einsum(subscripts, [np.shape(o) for o in operands])
    operands = list(operands)
    for k, sub in enumerate(ins):
        repeated = next((c for c in sub if sub.count(c) > 1), None)
        while repeated is not None:  # x[..i..i..]: its diagonal (a gather) in those two axes, moved to the end
            first = sub.index(repeated)
            second = sub.index(repeated, first + 1)
            lengths = np.shape(operands[k])[first], np.shape(operands[k])[second]
            if lengths[0] != lengths[1]:
                raise ValueError(f"einsum: dimensions in operand {k} for collapsing index '{repeated}' don't match "
                                 f"({lengths[0]} != {lengths[1]})")
            operands[k] = diagonal(operands[k], 0, first, second)
            sub = sub[:first] + sub[first + 1:second] + sub[second + 1:] + repeated
            repeated = next((c for c in sub if sub.count(c) > 1), None)
        ins[k] = sub
    dtype = kwargs.get("dtype")
    if dtype is not None:  # computed in dtype (operands cast first, by NumPy's einsum rule, 'safe' unless told)
        operands = list(cast_inputs("einsum", operands, dtype, kwargs.get("casting", "safe")))
    return einsum_prim(f"{','.join(ins)}->{out}", *operands, optimize=optimize)


einsum.primitive = einsum_prim


def tensordot(a, b, axes=2):
    na, nb = np.ndim(a), np.ndim(b)
    if isinstance(axes, (int, np.integer)):
        if axes > builtins.min(na, nb):
            raise IndexError(f"tensordot: axes={axes} sums over more axes than the arrays have ({na} and {nb})")
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        ax_a, ax_b = ([axes[0]] if isinstance(axes[0], int) else list(axes[0]),
                      [axes[1]] if isinstance(axes[1], int) else list(axes[1]))
    ax_a, ax_b = list(_axes(ax_a, na)), list(_axes(ax_b, nb))  # out of bounds or named twice: NumPy's errors
    if len(ax_a) != len(ax_b) or any(np.shape(a)[p] != np.shape(b)[q] for p, q in zip(ax_a, ax_b)):
        raise ValueError(f"tensordot: shape-mismatch for sum: axes {ax_a} of {np.shape(a)} and {ax_b} of {np.shape(b)}")
    return contract(a, b, tuple(ax_a), tuple(ax_b), "tensordot")


def _contract(a, b, ax_a, ax_b, how):
    """Σ over a's axes ``ax_a`` paired with b's ``ax_b``, a's other axes then b's: computed by NumPy's own
    ``tensordot`` (transposes and one BLAS product), ``dot`` or ``inner``, so the values are NumPy's to the bit."""
    if how == "dot":
        return np.dot(a, b)
    if how == "inner":
        return np.inner(a, b)
    return np.tensordot(a, b, (list(ax_a), list(ax_b)))


def _free(n, summed):
    return [k for k in range(n) if k not in summed]


def _contract_vjp_a(g, ans, a, b, ax_a, ax_b, how):
    """g contracted with b over b's free axes; the result's axes (a's free ones, then a's summed ones in b's
    order) put back in a's order."""
    free_a, free_b = _free(np.ndim(a), ax_a), _free(np.ndim(b), ax_b)
    ga = tensordot(g, b, (list(range(len(free_a), np.ndim(g))), free_b))
    return transpose(ga, tuple(np.argsort(free_a + [ax_a[ax_b.index(q)] for q in sorted(ax_b)])))


def _contract_vjp_b(g, ans, a, b, ax_a, ax_b, how):
    free_a, free_b = _free(np.ndim(a), ax_a), _free(np.ndim(b), ax_b)
    gb = tensordot(a, g, (free_a, list(range(len(free_a)))))
    return transpose(gb, tuple(np.argsort([ax_b[ax_a.index(p)] for p in sorted(ax_a)] + free_b)))


contract = Primitive("tensordot", _contract).defvjp(_contract_vjp_a, _contract_vjp_b)
contract.complex_ok = True
tensordot.primitive = contract


def dot(a, b, out=None):
    """``np.dot``: a product for scalars, matmul up to 2-D, else a sum over a's last and b's
    second-to-last axis."""
    if out is not None:
        raise TypeError("dot: out= is not supported by autonp (it would write outside the tape)")
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return a * b
    if na <= 2 and nb <= 2:
        return matmul(a, b)
    return contract(a, b, (na - 1,), (nb - 2 if nb > 1 else 0,), "dot")


def vdot(a, b):
    """``np.vdot``: Σ conj(a)·b over the flattened arrays (of one size: NumPy does not broadcast them)."""
    if np.size(a) != np.size(b):
        raise ValueError(f"vdot: the arrays have {np.size(a)} and {np.size(b)} elements; vdot needs as many in each")
    return sum(ravel(conj(a)) * ravel(b))


def inner(a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    if np.shape(a)[-1] != np.shape(b)[-1]:
        raise ValueError(f"inner: the last axes differ in length: {np.shape(a)} and {np.shape(b)}")
    return contract(a, b, (np.ndim(a) - 1,), (np.ndim(b) - 1,), "inner")


def outer(a, b, out=None):
    if out is not None:
        raise TypeError("outer: out= is not supported by autonp")
    return reshape(ravel(a), (-1, 1)) * reshape(ravel(b), (1, -1))


def kron(a, b):
    nd = builtins.max(np.ndim(a), np.ndim(b))
    sa = (1,) * (nd - np.ndim(a)) + np.shape(a)
    sb = (1,) * (nd - np.ndim(b)) + np.shape(b)
    a2 = reshape(a, tuple(v for n in sa for v in (n, 1)))
    b2 = reshape(b, tuple(v for n in sb for v in (1, n)))
    return reshape(a2 * b2, tuple(p * q for p, q in zip(sa, sb)))


def trace(x, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if out is not None:
        raise TypeError("trace: out= is not supported by autonp")
    return in_dtype(sum, diagonal(x, offset, axis1, axis2), dtype, axis=-1)


def multi_dot(arrays, *, out=None):
    """``np.linalg.multi_dot``: the product of two or more matrices (the first may be a vector, and the last), in the
    order of fewest multiplications (the matrix-chain rule NumPy uses, so the rounding is NumPy's too)."""
    _no_out("multi_dot", out)
    if len(arrays) < 2:
        raise ValueError("multi_dot: expecting at least two arrays")
    if len(arrays) == 2:
        return dot(arrays[0], arrays[1])
    for i, a in enumerate(arrays):
        if np.ndim(a) != 2 and not (np.ndim(a) == 1 and i in (0, len(arrays) - 1)):
            raise np.linalg.LinAlgError(f"multi_dot: array {i} has {np.ndim(a)} dimensions; each must be "
                                        f"two-dimensional (the first and the last may be one-dimensional)")
    first, last = np.ndim(arrays[0]), np.ndim(arrays[-1])
    arrays = list(arrays)
    if first == 1:  # a row, and the last a column, as NumPy multiplies them
        arrays[0] = reshape(arrays[0], (1, -1))
    if last == 1:
        arrays[-1] = reshape(arrays[-1], (-1, 1))
    res = _chain(arrays, _chain_splits(arrays), 0, len(arrays) - 1)
    if first == 1 and last == 1:
        return getitem(res, (0, 0))
    return ravel(res) if 1 in (first, last) else res


def _chain_splits(arrays) -> dict:
    """split[i, j]: where the product of arrays i..j is cheapest split in two (dynamic programming over the chain's
    lengths; for three matrices, NumPy's direct comparison of the two orders, ties to A(BC))."""
    n = len(arrays)
    dims = [np.shape(a)[0] for a in arrays] + [np.shape(arrays[-1])[1]]
    if n == 3:
        left = dims[0] * dims[2] * (dims[1] + dims[3])   # (AB)C
        right = dims[1] * dims[3] * (dims[0] + dims[2])  # A(BC)
        return {(0, 2): 1 if left < right else 0, (0, 1): 0, (1, 2): 1}
    cost, split = {(i, i): 0.0 for i in range(n)}, {}
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i, j] = np.inf
            for k in range(i, j):
                c = cost[i, k] + cost[k + 1, j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i, j]:
                    cost[i, j], split[i, j] = c, k
    return split


def _chain(arrays, split: dict, i: int, j: int):
    if i == j:
        return arrays[i]
    k = split[i, j]
    return dot(_chain(arrays, split, i, k), _chain(arrays, split, k + 1, j))


def matrix_power(x, n):
    if n < 0:
        x, n = inv(x), -n
    if n == 0:
        return broadcast_to(np.eye(np.shape(x)[-1]), np.shape(x)) * 1.0
    res = x
    for _ in range(n - 1):
        res = matmul(res, x)
    return res

# --------------------------------------------------------------------------- np.linalg


def _finite(name: str, x):
    """``x``, checked first: LAPACK's SVD (gesdd, with the vectors) never returns for a matrix with an infinite
    entry — NumPy's ``svd``, ``pinv`` and ``lstsq`` hang there — and fails on a NaN."""
    if not np.isfinite(x).all():
        raise np.linalg.LinAlgError(f"{name}: the matrix has an infinite or NaN entry, where LAPACK's SVD does not "
                                    f"return")
    return x


inv = Primitive("inv", np.linalg.inv).defvjp(lambda g, ans, x: -matmul(mT(ans), matmul(g, mT(ans))))


def _cofactor(x):
    """The cofactor matrix (∂det/∂x) of every matrix in ``x``, singular ones included, from the SVD
    x = U S Vᵀ: cof x = det(U)·det(V)·U·diag(∏_{j≠i} s_j)·Vᵀ (no inverse is taken). A matrix with an infinite or
    NaN entry has NaN cofactors (LAPACK's SVD would never return for it)."""
    finite = np.isfinite(x).all(axis=(-2, -1))
    if not np.all(finite):
        return np.where(finite[..., None, None], _cofactor(np.where(finite[..., None, None], x, 0)), np.nan)
    u, s, vh = np.linalg.svd(x)
    sign = np.linalg.det(u) * np.linalg.det(vh)
    if np.iscomplexobj(x):  # x⁻ᵀ = conj(U)·S⁻¹·conj(Vh) for unitary U, Vh
        u, vh = u.conj(), vh.conj()
    n = s.shape[-1]
    left = np.concatenate([np.ones(s.shape[:-1] + (1,)), np.cumprod(s, axis=-1)[..., :-1]], axis=-1)
    right = np.concatenate([np.cumprod(s[..., ::-1], axis=-1)[..., :-1][..., ::-1], np.ones(s.shape[:-1] + (1,))],
                           axis=-1) if n else left
    return (u * (left * right)[..., None, :]) @ vh * sign[..., None, None]


def _det_vjp(g, ans, x):
    """g·cof(x), which is g·det·x⁻ᵀ where x is invertible; through the SVD, so singular x works too.
    Under create_graph (Tensors) det·x⁻ᵀ, so there x must be invertible."""
    if isinstance(x, np.ndarray):
        return reshape(g, np.shape(ans) + (1, 1)) * _cofactor(x)
    return reshape(g * ans, np.shape(ans) + (1, 1)) * mT(inv(x))


det = Primitive("det", np.linalg.det).defvjp(_det_vjp)
det.rule = "∂ = cofactor matrix (det·x⁻ᵀ where invertible; singular x too, first order)"
inv.complex_ok = det.complex_ok = True  # holomorphic


def _logabsdet(x):
    return np.linalg.slogdet(x)[1]


logabsdet = Primitive("logabsdet", _logabsdet).defvjp(
    lambda g, ans, x: reshape(g, np.shape(ans) + (1, 1)) * mT(inv(x)))
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])


def slogdet(x):
    """(sign, log|det x|): the sign is a constant, log|det| differentiable (∂ = x⁻ᵀ)."""
    return SlogdetResult(np.linalg.slogdet(_data(x))[0], logabsdet(x))


slogdet.primitive = logabsdet


def _solve(a, b):
    return np.linalg.solve(a, b)


def _solve_adjoint(g, a, b):
    """A⁻ᵀ g at every batch position of the product (before summing over the batch b was broadcast along). A 1-D
    b is a vector (NumPy's rule), so g (batch + (m,)) is solved as a column: NumPy would read a 2-D g as a matrix."""
    if np.ndim(b) == 1:
        return reshape(solve(mT(a), reshape(g, np.shape(g) + (1,))), np.shape(g))
    return solve(mT(a), g)


def _solve_vjp_a(g, ans, a, b):
    """Ā = −(A⁻ᵀ ḡ) xᵀ, summed over the batch positions A was broadcast along."""
    gb = _solve_adjoint(g, a, b)
    if np.ndim(b) == 1:
        return unbroadcast(-reshape(gb, np.shape(gb) + (1,)) * reshape(ans, np.shape(ans)[:-1] + (1, -1)), a)
    return unbroadcast(-matmul(gb, mT(ans)), a)


def _solve_vjp_b(g, ans, a, b):
    return unbroadcast(_solve_adjoint(g, a, b), b)


solve = Primitive("solve", _solve).defvjp(_solve_vjp_a, _solve_vjp_b)
solve.complex_ok = True


def _pinv_vjp(g, ans, a, rcond=None, hermitian=False, **kwargs):
    """Golub & Pereyra (1973), for a matrix whose rank does not change nearby: with P = A⁺,
    Ā = −Pᵀ Ḡ Pᵀ + (I − A P) Ḡᵀ P Pᵀ + Pᵀ P Ḡᵀ (I − P A). ``hermitian=True``: NumPy reads the lower
    triangle (eigh), so A is the symmetric matrix it sees and the gradient is in that triangle."""
    if hermitian:
        a = _seen_symmetric(a)
    p, pt, gt = ans, mT(ans), mT(g)
    m, n = np.shape(a)[-2], np.shape(a)[-1]
    grad = (-matmul(pt, matmul(g, pt)) + matmul(np.eye(m) - matmul(a, p), matmul(gt, matmul(p, pt)))
            + matmul(matmul(pt, p), matmul(gt, np.eye(n) - matmul(p, a))))
    return _in_triangle(_sym(grad)) if hermitian else grad


def _pinv(a, rcond=None, hermitian=False, **kwargs):
    a = a if hermitian else _finite("pinv", a)
    return np.linalg.pinv(a, hermitian=hermitian, **({} if rcond is None else {"rcond": rcond}), **kwargs)


pinv = Primitive("pinv", _pinv).defvjp(_pinv_vjp)
pinv.rule = "the rank must not change nearby (singular values cut by rcond stay cut)"


def _sym(x):
    return (x + mT(x)) * 0.5


def _seen_symmetric(a):
    """tril(A) + tril(A, −1)ᵀ: the symmetric matrix a function that reads A's lower triangle sees."""
    lower = np.tril(np.ones(np.shape(a)[-2:]))
    return a * lower + mT(a * (lower - np.eye(np.shape(a)[-1])))


def _in_triangle(g_sym, lower: bool = True):
    """The gradient with respect to the matrix a function reads one triangle of (the matrix it sees is
    S = tril(A) + tril(A, −1)ᵀ): from the symmetric gradient Ḡ of S, Ḡ_ii on the diagonal, 2Ḡ_ij in the
    read triangle, 0 in the other — what finite differences of the function give in any direction."""
    n = np.shape(g_sym)[-1]
    mask = np.eye(n) + 2.0 * (np.tril(np.ones((n, n)), -1) if lower else np.triu(np.ones((n, n)), 1))
    return g_sym * mask


def _cholesky_vjp(g, ans, x, upper=False):
    """Murray (2016): Σ = L⁻ᵀ Φ(Lᵀ Ḡ) L⁻¹, symmetrised; Φ keeps the lower triangle, halves the diagonal.
    ``upper=True`` (NumPy ≥ 2): the factor is Lᵀ, read from the upper triangle (the transposed problem)."""
    if upper:
        return mT(_cholesky_vjp(mT(g), mT(ans), mT(x)))
    n = np.shape(x)[-1]
    phi_mask = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)
    linv = inv(ans)
    return _in_triangle(_sym(matmul(mT(linv), matmul(matmul(mT(ans), g) * phi_mask, linv))))


cholesky = Primitive("cholesky", np.linalg.cholesky).defvjp(_cholesky_vjp)
cholesky.rule = "reads the lower triangle (upper=True: the upper); its gradient is in that triangle"


def _pack(parts, batch):
    return np.concatenate([np.reshape(p, batch + (-1,)) for p in parts], axis=-1)


def _unpack(packed, shapes, batch):
    """The parts of a packed output (getitem + reshape: differentiable)."""
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(reshape(getitem(packed, (Ellipsis, slice(start, start + size))), batch + shape))
        start += size
    return out


def _multi_output(name: str, forward, shapes, vjp):
    """A primitive with several outputs, as one primitive whose output packs them along the last
    axis; ``vjp(grads, outs, x)`` gets the unpacked pieces. Returns ``f(x) -> tuple``."""
    def packed_forward(x, **kw):
        return _pack(forward(x, **kw), np.shape(x)[:-2])

    def packed_vjp(g, ans, x, **kw):
        batch, parts = np.shape(x)[:-2], shapes(np.shape(x), **kw)
        return vjp(_unpack(g, parts, batch), _unpack(ans, parts, batch), x, **kw)

    prim = Primitive(name, packed_forward).defvjp(packed_vjp)

    def call(x, **kw):
        return tuple(_unpack(prim(x, **kw), shapes(np.shape(x), **kw), np.shape(x)[:-2]))
    call.prim = prim
    return call


def _qr_vjp(grads, outs, x):
    """A = QR, m ≥ n, reduced (Walter & Lehmann 2018): Ā = (Q̄ + Q·copyltu(M))·R⁻ᵀ with M = R·R̄ᵀ − Q̄ᵀ·Q, copyltu
    making M symmetric from its lower triangle; R̄ is read in R's upper triangle only (the rest of R is zeros)."""
    gq, gr = grads
    q, r = outs
    n = np.shape(r)[-1]
    pivots = np.abs(np.diagonal(_data(r), axis1=-2, axis2=-1))
    if np.any(pivots <= n * np.finfo(pivots.dtype).eps * np.max(pivots, axis=-1, keepdims=True, initial=0.0)):
        raise np.linalg.LinAlgError("qr: the matrix is rank-deficient (a zero on R's diagonal), where Q and R have no "
                                    "derivative (Q's later columns are any orthonormal completion)")
    lower, strict = np.tril(np.ones((n, n))), np.tril(np.ones((n, n)), -1)
    m = matmul(r, mT(gr * mT(lower))) - matmul(mT(gq), q)
    b = gq + matmul(q, m * lower + mT(m * strict))
    return mT(solve(r, mT(b)))


_qr_tall = _multi_output("qr", lambda x: np.linalg.qr(x), lambda shape: [shape[-2:], (shape[-1], shape[-1])],
                         _qr_vjp)


def qr(a, mode="reduced"):
    """``np.linalg.qr``: A = QR with orthonormal columns Q and upper-triangular R ('reduced', 'complete' and 'r').
    A wide matrix (m < n) is [X Y] = Q·[R₁ Qᵀ·Y] with X = QR₁ square. 'complete' of a tall matrix has no
    unique gradient (Q's extra columns are any orthonormal completion), and is refused for a Tensor that requires
    grad, as 'raw' is."""
    m, n = np.shape(a)[-2:]
    if getattr(a, "requires_grad", False) and (mode == "raw" or (mode == "complete" and m > n)):
        raise ValueError(f"qr: mode={mode!r} of a {m}×{n} matrix has no unique gradient; use mode='reduced'")
    if mode not in ("reduced", "complete", "r") or not isinstance(a, Tensor) or (mode == "complete" and m > n):
        result = np.linalg.qr(_data(a), mode=mode)  # (no gradient: a constant, or refused above)
        if not isinstance(a, Tensor):
            return result
        parts = tuple(Tensor(p) for p in result)  # (Q, R) or 'raw''s (h, tau), as constant Tensors
        return type(result)(*parts) if hasattr(result, "_fields") else parts
    if m >= n:
        q, r = _qr_tall(a)
    else:
        q, r1 = _qr_tall(getitem(a, (Ellipsis, slice(None, m))))
        r = concatenate([r1, matmul(mT(q), getitem(a, (Ellipsis, slice(m, None))))], axis=-1)
    return r if mode == "r" else _QRResult(q, r)


_QRResult = type(np.linalg.qr(np.eye(1)))  # NumPy's namedtuple: (Q, R), with .Q and .R


def _gap_divide(m, d, used):
    """F∘m with F_ij = 1/d_ij off the diagonal and 0 on it (d: eigen/singular value gaps). Where a gap
    is 0 (a repeated eigen/singular value) the vectors i and j have no derivative: the term is 0 when the
    loss reads neither of them (``used``: per vector, does its gradient have a nonzero entry) — the gradient
    of a function of the values alone, e.g. Σ eigvalsh(x) at x = I, or of the other vectors, is then exact —
    and NaN otherwise. (m_ij alone can be 0 there by chance: Σ V³ at x = I has m = 3I, and no gradient.)"""
    n = np.shape(d)[-1]
    eye = np.eye(n, dtype=bool)
    dd, md = _data(d), _data(m)
    tied = (dd == 0) & ~eye
    if not tied.any():
        return where(eye, 0.0, m / where(eye, 1.0, d))
    read = np.asarray(used)
    undefined = tied & ((md != 0) | read[..., :, None] | read[..., None, :])
    return where(eye | tied, np.where(undefined, np.nan, 0.0), m / where(eye | tied, 1.0, d))


def _read_columns(g):
    """Per column of a gradient reaching eigen- or singular vectors: does it have a nonzero entry?"""
    return np.any(_data(g) != 0, axis=-2)


def _gaps(w):
    """λ_j − λ_i for every pair of values (row i, column j)."""
    return reshape(w, np.shape(w)[:-1] + (1, -1)) - reshape(w, np.shape(w) + (1,))


def _phase_blind(name: str, m, other=0.0) -> None:
    """Complex eigen- and singular vectors are defined up to a phase e^{iφ} each (NumPy's is LAPACK's choice): a
    loss that depends on it has no gradient, and the formulas would give one for another function. The loss is blind
    to the phases when Im(diag m + other) is 0 (PyTorch checks the same)."""
    md = _data(m)
    im = np.abs(np.imag(np.diagonal(md, axis1=-2, axis2=-1) + _data(other)))
    if np.any(im > 1e-6 * (1.0 + np.max(np.abs(md), initial=0.0))):
        raise ValueError(f"{name}: the loss depends on the complex vectors' phases (each is defined up to e^(iφ), "
                         f"and NumPy's choice is not a differentiable function), so it has no gradient; use "
                         f"quantities blind to them: |v|, v·vᴴ, U·Vh, the values")


def _eigh_vjp(grads, outs, x, UPLO="L"):
    """V (diag(w̄) + F∘(Vᵀ V̄)) Vᵀ, symmetrised into the triangle read. Of a Hermitian matrix (HIPS's convention, the
    conjugate of the adjoint form V (diag(w̄) + F∘(Vᴴ conj V̄)) Vᴴ): the left V conjugated, and Hermitian-symmetrised;
    the eigenvectors' phases are free, so only a loss that does not depend on them has this gradient."""
    gw, gv = grads
    w, v = outs
    gaps = _gaps(w)
    lower = str(UPLO).upper() == "L"
    hermitian = np.iscomplexobj(_data(v))
    if hermitian:
        gw, gaps = real(gw), real(gaps)  # (the values are real: packed beside the vectors, they came back complex)
    vtgv = matmul(mT(v), gv)
    inner = _gap_divide(vtgv, gaps, _read_columns(gv)) + reshape(gw, np.shape(gw) + (1,)) * np.eye(np.shape(w)[-1])
    if hermitian:
        _phase_blind("eigh", vtgv)
        h = matmul(conj(v), matmul(inner, mT(v)))
        return _in_triangle((h + conj(mT(h))) * 0.5, lower=lower)
    return _in_triangle(_sym(matmul(v, matmul(inner, mT(v)))), lower=lower)


_eigh = _multi_output("eigh", lambda x, UPLO="L": np.linalg.eigh(x, UPLO),
                      lambda shape, UPLO="L": [shape[-1:], shape[-2:]], _eigh_vjp)
_eigh.prim.rule = ("eigenvectors need distinct eigenvalues (NaN where tied); reads one triangle (UPLO), its "
                   "gradient is in that triangle")
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])


def eigh(x, UPLO="L"):
    """Eigenvalues (ascending) and eigenvectors of a symmetric (Hermitian) matrix."""
    w, v = _eigh(x, UPLO=UPLO)
    return EighResult(real(w) if np.iscomplexobj(_data(w)) else w, v)


eigh.primitive = _eigh.prim


def _eig_vjp(grads, outs, x):
    """A = V Λ V⁻¹ with unit-norm eigenvectors (NumPy's):
    Vᵀ⁻¹ [diag(ḡ_w) + F∘(Vᵀ ḡ_V − (Vᵀ conj V)·diag(Re diag(Vᵀ ḡ_V)))] Vᵀ, F_ij = 1/(λ_j − λ_i): the conjugate (HIPS's
    convention) of the adjoint form; the second term inside keeps the norms at 1. The phases are free, so only a
    loss that does not depend on them has this gradient; a real A gets the real part."""
    ge, gv = grads
    w, v = outs
    vt = mT(v)
    n = np.shape(w)[-1]
    eye = np.eye(n)
    vtgv = matmul(vt, gv)
    if np.iscomplexobj(_data(v)):
        _phase_blind("eig", vtgv)
    unit_norms = matmul(matmul(vt, conj(v)), real(vtgv * eye))
    inner = _gap_divide(vtgv - unit_norms, _gaps(w), _read_columns(gv)) + reshape(ge, np.shape(ge) + (1,)) * eye
    return matmul(solve(vt, inner), vt)


_eig = _multi_output("eig", lambda x: tuple(np.linalg.eig(x)), lambda shape: [shape[-1:], shape[-2:]], _eig_vjp)
_eig.prim.complex_ok = True
_eig.prim.rule = "eigenvectors need distinct eigenvalues (NaN where tied), and a loss blind to their phases"
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])


def eig(x):
    """Eigenvalues and unit-norm eigenvectors of a square matrix (complex where NumPy's are)."""
    return EigResult(*_eig(x))


def eigvals(x):
    """The eigenvalues of a square matrix (``eig``'s first part)."""
    return _eig(x)[0]


eig.primitive = eigvals.primitive = _eig.prim


def _svd_shapes(shape, **kw):
    m, n = shape[-2:]
    k = builtins.min(m, n)
    return [(m, k), (k,), (k, n)]


def _svd_vjp(grads, outs, x):
    """Townsend (2016), reduced: U[(F∘(UᴴŪ−ŪᴴU))S + diag(s̄) + S(F∘(VᴴV̄−V̄ᴴV))]Vᴴ + (I−UUᴴ)ŪS⁻¹Vᴴ + US⁻¹V̄ᴴ(I−VVᴴ),
    F_ij = 1/(s_j² − s_i²), V = Vhᴴ (ᴴ is ᵀ for real values). Of a complex matrix, in HIPS's convention, the
    conjugate of that with Ū = conj(ḡ_U), V̄ = ḡ_Vhᵀ, and diag(i·Im diag(UᴴŪ)/s) added inside: the phase the vectors
    share, which the loss must not depend on (``_phase_blind``)."""
    gu, gs, gvh = grads
    u, s, vh = outs
    complex_ = np.iscomplexobj(_data(u))
    if complex_:
        s, gs = real(s), real(gs)  # (packed beside the vectors, the values came back complex)
        ub, vbh = conj(gu), conj(gvh)  # Ū and V̄ᴴ

        def h(a):
            return conj(mT(a))
    else:
        ub, vbh, h = gu, gvh, mT
    v, vb = h(vh), mT(gvh)
    m, n = np.shape(x)[-2:]
    s_row = reshape(s, np.shape(s)[:-1] + (1, -1))
    s_col = reshape(s, np.shape(s) + (1,))
    gaps = s_row * s_row - s_col * s_col
    uhub = matmul(h(u), ub)
    read = _read_columns(gu) | _read_columns(mT(gvh))  # (singular value i's vectors: column i of U, row i of Vh)
    j = _gap_divide(uhub - matmul(h(ub), u), gaps, read)
    kk = _gap_divide(matmul(vh, vb) - matmul(vbh, v), gaps, read)
    k = np.shape(s)[-1]
    eye = np.eye(k)
    inner = j * s_row + reshape(gs, np.shape(gs) + (1,)) * eye + s_col * kk
    if complex_:  # Im diag(UᴴŪ) + Im diag(VᴴV̄) is 0 for a loss blind to the shared phase
        _phase_blind("svd", uhub, np.sum(_data(vh) * _data(gvh), axis=-1))
        inner = inner + 1j * imag(uhub * eye) / s_col
    res = matmul(u, matmul(inner, vh))
    if m > k:
        res = res + matmul(ub - matmul(u, uhub), vh / s_col)
    if n > k:
        res = res + matmul(u / s_row, vbh - matmul(matmul(vbh, v), vh))
    return conj(res) if complex_ else res


_svd = _multi_output("svd", lambda x: np.linalg.svd(_finite("svd", x), full_matrices=False), _svd_shapes, _svd_vjp)
_svd_hermitian = _multi_output(  # NumPy's from eigh of the lower triangle: its values, signs and ordering
    "svd", lambda x: np.linalg.svd(x, hermitian=True), _svd_shapes,
    lambda grads, outs, x: _in_triangle(_sym(_svd_vjp(grads, outs, x))))
_svd.prim.complex_ok = _eigh.prim.complex_ok = True
_svd.prim.rule = ("reduced (full_matrices=False); singular vectors need distinct nonzero singular values "
                  "(NaN where tied)")
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])


def svd(x, full_matrices=True, compute_uv=True, hermitian=False):
    """``np.linalg.svd``; differentiable in its reduced form (``full_matrices`` is ignored where
    it makes no difference, a square matrix, and refused for a Tensor that requires grad). ``hermitian=True``:
    NumPy's result from the lower triangle (eigh), its gradient in that triangle."""
    m, n = np.shape(x)[-2:]
    if full_matrices and m != n and getattr(x, "requires_grad", False) and compute_uv:
        raise ValueError("svd: full_matrices=True has no unique gradient for a non-square matrix; "
                         "pass full_matrices=False")
    u, s, vh = _svd_hermitian(x) if hermitian else _svd(x)
    if np.iscomplexobj(_data(s)):
        s = real(s)
    return SVDResult(u, s, vh) if compute_uv else s


svd.primitive = _svd.prim


def _norm2(x, axis=None, keepdims=False):
    sq = (x * x.conj()).real if np.iscomplexobj(x) else x * x
    return np.sqrt(np.sum(sq, axis=axis, keepdims=keepdims))


def _norm2_vjp(g, ans, x, axis=None, keepdims=False):
    """x/‖x‖ (of complex x: conj(x)/‖x‖, HIPS's convention), 0 at 0."""
    a = expand(ans, x, axis, keepdims)
    zero = _data(a) == 0
    return expand(g, x, axis, keepdims) * where(zero, 0.0, conj(x) / where(zero, 1.0, a))


norm2 = Primitive("norm2", _norm2).defvjp(_norm2_vjp)
norm2.rule = "gradient 0 at 0"
norm2.complex_ok = True


def _max_from_zero(v, axis, keepdims=False):
    """The max along ``axis`` of values ≥ 0, and 0 where that axis is empty (NumPy's norms pass initial=0)."""
    empty = any(np.shape(v)[a] == 0 for a in _axes(axis, np.ndim(v)))
    return (sum if empty else max)(v, axis=axis, keepdims=keepdims)


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - NumPy's name
    """``np.linalg.norm``: vector norms (2, 1, ∞, −∞, p) and matrix norms ('fro', 'nuc', 1, −1,
    2, −2, ∞, −∞). The 2-norm has gradient 0 at 0; ∞-norms share ties like ``max``. Integers are taken as floats
    first, as NumPy does."""
    if not np.issubdtype(_data(x).dtype, np.inexact):
        x = as_dtype(x, np.float64)
    nd = np.ndim(x)
    if axis is None and (ord is None or (ord in ("fro", "f") and nd == 2)):
        return norm2(x, None, keepdims)
    axes = tuple(range(nd)) if axis is None else _axes(axis, nd)
    if len(axes) not in (1, 2):
        raise ValueError(f"norm: improper number of dimensions to norm: ord={ord!r} of an array of shape "
                         f"{np.shape(x)} over axes {axes} (one axis for a vector norm, two for a matrix norm)")
    if len(axes) == 1:
        ax = axes[0]
        if ord is None or ord == 2:
            return norm2(x, ax, keepdims)
        if ord == np.inf:
            return _max_from_zero(abs(x), ax, keepdims)
        if ord == -np.inf:
            return min(abs(x), axis=ax, keepdims=keepdims)
        if ord == 0:  # a count (gradient 0), in x's real dtype as NumPy's; a Tensor for a Tensor
            values = _data(x)
            count = np.sum(values != 0, axis=ax, keepdims=keepdims).astype(np.real(values).dtype)
            return Tensor._make(count, None) if isinstance(x, Tensor) else count
        if ord == 1:
            return sum(abs(x), axis=ax, keepdims=keepdims)
        return sum(abs(x) ** ord, axis=ax, keepdims=keepdims) ** (1.0 / ord)
    a, b = axes
    if ord in (None, "fro", "f"):
        return norm2(x, (a, b), keepdims)
    if ord in ("nuc", 2, -2):
        s = svd(moveaxis(x, (a, b), (-2, -1)), full_matrices=False, compute_uv=False)
        res = sum(s, axis=-1) if ord == "nuc" else (_max_from_zero(s, -1) if ord == 2 else min(s, axis=-1))
    elif ord in (1, -1):
        col = sum(abs(x), axis=a, keepdims=True)
        res = _max_from_zero(col, (a, b)) if ord == 1 else min(col, axis=(a, b))
    elif ord in (np.inf, -np.inf):
        row = sum(abs(x), axis=b, keepdims=True)
        res = _max_from_zero(row, (a, b)) if ord == np.inf else min(row, axis=(a, b))
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        shape = list(np.shape(x))
        shape[a] = shape[b] = 1
        res = reshape(res, tuple(shape))
    return res

