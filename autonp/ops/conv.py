"""Convolution (stride 1, NCHW) as three primitives that are each other's VJPs, so gradients of every
order stay convolutions:

    y  = conv2d(x, w, b)                    y[n,f,i,j]  = Σ_{c,p,q} w[f,c,p,q] · x_pad[n,c,i+p,j+q] + b[f]
    dx = conv2d_input_grad(g, w)            the adjoint in x:  <dx, a> = <g, conv2d(a, w)>
    dw = conv2d_weight_grad(g, x)           the adjoint in w:  <dw, b> = <g, conv2d(x, b)>

Each is a few matrix products over the *padded grid*: the input is laid out channel by channel on the
zero-padded (N, H+2p, W+2p) grid (or (N, H+p, W+p) where images can share their margins, see ``_grid``),
flattened, and the kernel offset (p, q) becomes a shift of p·W_pad + q along it. The kw column shifts
are kw contiguous row copies (``_rows``); the kh row shifts are views into them, which BLAS reads with
their row stride, so no kh·kw-row im2col matrix is made. The forward is one product per kernel row,
added into the output, and the input gradient one product per offset, added into the input's grid at
that offset: ``_blas.gemm`` writes each sum straight into its view (BLAS's beta = 1), NumPy's matmul and
an addition where that library is not there. The weight gradient is a chunked product per kernel row,
all in one batched call (``_kernels.shifted_long_products``).
The product runs at every grid position (the few past the valid edge are computed and dropped; the
gradient there is zero). On 128×8×28×28 → 16 channels, float32, forward and backward: 0.28x the time
of the hand-written strided-window im2col (``benchmarks/run.py --only conv``), and 16.9 -> 13.2 ms
against the one-im2col-product version this replaced (the same process, interleaved).

The bias is the weight of one more row of ones: the first product adds it, and the weight gradient's
first product has the bias gradient as one more row. The backward places the output gradient on the
grid once, for both (``conv2d.vjp_all``).

With autonp[fast], a 3×3 kernel's forward and input gradient are instead a compiled correlation on the
same grid (``_numba.correlate_3x3``, on two threads); the input gradient is the correlation of the output
gradient, placed on its own grid with margins kh−1−p, with the kernel flipped and its channels swapped.
The weight gradient reads the forward's grid, saved instead of the shifted rows: a chunked product per
kernel offset, all in one call, or (where that measured slower, ``_weight_grad_from_grid``) the shifted
rows made from it.

The grid's extra positions hold zeros where the definition has no term at all: 0·inf is NaN where the
definition's sum is ±inf or finite. Two cases reach them: an infinite weight in the input gradient (it
meets the output gradient's zero margins), and an infinite input in the weight gradient (it meets the
zero gradient of a position past the valid edge). So a weight that is not finite takes the input gradient
by its definition, one offset at a time (``_input_grad_by_offsets``), and a weight gradient that comes out
not finite is made again the same way (``_weight_grad_by_offsets``); finite arrays pay one check of the
weight and one of the weight gradient, each the kernel's size. (The padding is part of the definition: an
infinite weight times its zeros is NaN in the forward, as the strided path's explicit padding gives.)"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..tensor import Primitive, Tensor
from . import _numba
from ._blas import gemm
from ._kernels import ones, shifted_long_products, workspace
from .reductions import sum as ops_sum


class _Grid(NamedTuple):
    n: int
    h: int
    w: int
    hp: int   # a block's height and width: the image and its zero margins (shared with the next block)
    wp: int
    ho: int   # output height and width
    wo: int
    size: int   # n · hp · wp: the grid's positions
    extra: int  # the largest shift, (kh−1)·wp + kw−1: zeros after the grid so that every shift is in bounds


def _grid(x_shape, kernel, padding) -> _Grid:
    """The grid's geometry. Images share their zero margins where that is exact: an image's bottom padding
    is the next one's top padding and a row's right padding the next row's left (a window that runs past
    an image's edge reads the zeros that start the next block or row), so a block is (H+p)×(W+p), not
    (H+2p)×(W+2p) — 12% fewer positions for a 14×14 input with padding 1. It needs p ≤ k−1 (the outputs
    fit a block) and k ≤ H+p (no window reaches past the next block's margin); otherwise each image keeps
    margins of its own."""
    n, _, h, w = x_shape
    (kh, kw), (ph, pw) = kernel, padding
    if min(ph, pw) < 0 or min(kh, kw) < 1:  # (the compiled correlation would write outside its arrays)
        raise ValueError(f"conv2d: padding {padding} must be ≥ 0 and the kernel {kernel} at least 1×1")
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"a {kh}×{kw} kernel does not fit an input of spatial size {h}×{w} padded by {padding}")
    ho, wo = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
    shared = ph <= kh - 1 and pw <= kw - 1 and kh <= h + ph and kw <= w + pw
    hp, wp = (h + ph, w + pw) if shared else (h + 2 * ph, w + 2 * pw)
    return _Grid(n, h, w, hp, wp, ho, wo, n * hp * wp, (kh - 1) * wp + kw - 1)


def _on_grid(a, grid: _Grid, top: int, left: int, tag: str) -> np.ndarray:
    """(C, size + one padded image): ``a`` (N, C, rows, cols) placed channel-major at (top, left) of the zero
    grid. The extra image of zeros at the end covers every shift (``grid.extra`` < hp·wp). On arrays, the
    grid is a workspace (``_zero_grid``); a compile stand-in gets ``np.pad``, which stays traced."""
    rows, cols = a.shape[2:]
    if type(a) is not np.ndarray:
        widths = ((0, 0), (0, 1), (top, grid.hp - top - rows), (left, grid.wp - left - cols))
        return np.pad(a.transpose(1, 0, 2, 3), widths).reshape(a.shape[1], -1)
    flat = _zero_grid(a, grid, top, left, tag)
    flat.reshape(-1, grid.n + 1, grid.hp, grid.wp)[:, :grid.n, top:top + rows, left:left + cols] = \
        a.transpose(1, 0, 2, 3)
    return flat


def _zero_grid(a, grid: _Grid, top: int, left: int, tag: str | None, ones_row: bool = False) -> np.ndarray:
    """(C, size + hp·wp) of zeros, or what was placed before in its interior (the (rows, cols) of ``a`` at (top,
    left) of each block): a workspace whose margins stay zero because only that interior is ever written;
    with ``tag`` None, a fresh array (one kept past the call), with ``ones_row`` a last row of ones."""
    c, (rows, cols) = a.shape[1], a.shape[2:]
    shape = (c + ones_row, (grid.n + 1) * grid.hp * grid.wp)
    if tag is not None:
        return workspace(f"conv {tag} {top} {left} {rows} {cols}", shape, a.dtype)
    flat = np.zeros(shape, a.dtype)
    if ones_row:
        flat[c] = 1
    return flat


def _rows(x, grid: _Grid, kernel, padding, ones_row: bool = False) -> np.ndarray:
    """The shifted rows (``_shifted_rows``) of the input ``x`` placed on the grid."""
    return _shifted_rows(_on_grid(x, grid, padding[0], padding[1], "input"), grid, kernel, ones_row)


def _shifted_rows(flat, grid: _Grid, kernel, ones_row: bool = False) -> np.ndarray:
    """(C·kw, size + (kh−1)·wp): row (c, q) is channel c of the padded input on the grid, shifted by q.
    The product for kernel row p reads its columns from p·wp on (a view: BLAS takes the row stride), so
    kh·kw offsets cost kw row copies, not an im2col matrix of kh·kw. With ``ones_row``, one more row of
    ones: the bias's column of the weights adds it in the first product, and the same row makes the bias
    gradient a column of the weight gradient's first product."""
    kw, length = kernel[1], grid.size + (kernel[0] - 1) * grid.wp
    shifted = [flat[:, q:q + length] for q in range(kw)]
    k = flat.shape[0] * kw
    if type(flat) is not np.ndarray:  # a compile stand-in: traced calls only
        rows = np.stack(shifted, axis=1).reshape(k, length)
        return np.concatenate([rows, np.ones((1, length), flat.dtype)]) if ones_row else rows
    rows = np.empty((k + ones_row, length), flat.dtype)
    np.stack(shifted, axis=1, out=rows[:k].reshape(flat.shape[0], kw, length))
    if ones_row:
        rows[k] = 1
    return rows


def _at_row(rows, grid: _Grid, p: int, count: int):
    """The first ``count`` rows of ``rows``, read from kernel row p's offset: (count, size)."""
    return rows[:count, p * grid.wp:p * grid.wp + grid.size]


def _output_grad_on_grid(g, grid: _Grid) -> np.ndarray:
    """(F, size): the output gradient at the grid positions where an output exists, zero elsewhere."""
    return _on_grid(g, grid, 0, 0, "output grad")[:, :grid.size]


class _InputOnGrid(NamedTuple):
    """What the compiled forward saves for the weight gradient: the input on its grid, (C, size + hp·wp),
    and, with a bias, one more row of ones (the bias gradient is then a row of the first product)."""
    flat: np.ndarray


def _conv_saving(x, w, b, padding):
    """(output, the shifted rows the weight gradient reuses). One product per kernel row p, each added
    into the output where BLAS allows (``_blas.gemm``); the bias rides in the first, as the weight of a
    row of ones. The output is copied out of the grid once, contiguous, so that the layers after it read
    it in order. With autonp[fast] and a 3×3 kernel: the compiled correlation, saving the input's grid."""
    f, c, kh, kw = w.shape
    grid = _grid(x.shape, (kh, kw), padding)
    if _numba.correlates(x, w, *(() if b is None else (b,)), kernel=(kh, kw), channels=f):
        flat = _zero_grid(x, grid, padding[0], padding[1], None, ones_row=b is not None)
        out = _numba.correlate_3x3(x, padding[0], padding[1], flat[:c], w, None if b is None else np.reshape(b, f),
                                   grid.wp, grid.hp * grid.wp, (grid.n, f, grid.ho, grid.wo))
        if out is not None:
            return out, _InputOnGrid(flat)
    rows = _rows(x, grid, (kh, kw), padding, ones_row=b is not None)
    dtype = np.result_type(w, x) if b is None else np.result_type(w, x, b)
    by_row = w.transpose(2, 0, 1, 3).reshape(kh, f, c * kw).astype(dtype, order="C")  # (p, f, (c, q))
    first = by_row[0] if b is None else np.concatenate([by_row[0], np.reshape(b, (f, 1)).astype(dtype)], axis=1)
    out = np.empty_like(rows, shape=(f, grid.size), dtype=dtype)
    gemm(first, _at_row(rows, grid, 0, first.shape[1]).astype(dtype, copy=False), out=out)
    for p in range(1, kh):
        gemm(by_row[p], _at_row(rows, grid, p, c * kw).astype(dtype, copy=False), out=out, accumulate=True)
    out = out.reshape(f, grid.n, grid.hp, grid.wp)[:, :, :grid.ho, :grid.wo].transpose(1, 0, 2, 3)
    return out.copy(), rows  # .copy(): C order, and a compile stand-in stays traced


def _conv(x, w, b, padding):
    return _conv_saving(x, w, b, padding)[0]


def _finite(a) -> bool:
    """Whether every entry is finite (a guard in a compiled replay: a change of answer traces again)."""
    return bool(np.isfinite(a).all())


def _input_grad(g, w, x_shape, padding):
    if not _finite(w):
        return _input_grad_by_offsets(g, w, x_shape, padding)
    compiled = _input_grad_compiled(g, w, x_shape, padding)
    if compiled is not None:
        return compiled[0]
    grid = _grid(x_shape, w.shape[2:], padding)
    return _input_grad_on_grid(_output_grad_on_grid(g, grid), w, grid, padding)


def _input_grad_compiled(g, w, x_shape, padding):
    """(dx, g on its grid, that grid) by the compiled correlation: g with margins kh−1−p correlated with the
    flipped kernel, its channels swapped; None where the compiled path does not apply (padding ≥ kernel)."""
    f, c, kh, kw = w.shape
    ph, pw = padding
    if ph > kh - 1 or pw > kw - 1 or not _numba.correlates(g, w, kernel=(kh, kw), channels=c):
        return None
    margins = (kh - 1 - ph, kw - 1 - pw)
    grid = _grid(g.shape, (kh, kw), margins)  # its output is the input's height and width
    flat = _zero_grid(g, grid, *margins, "output grad, flipped kernel")
    flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    dx = _numba.correlate_3x3(g, *margins, flat, flipped, None, grid.wp, grid.hp * grid.wp, tuple(x_shape))
    return None if dx is None else (dx, flat, grid)


def _input_grad_on_grid(g_grid, w, grid: _Grid, padding):
    """dx from the output gradient on the grid: for each kernel offset, the weights' product with it added
    into the input's grid at that offset (col2im without the kh·kw-row matrix of products)."""
    f, c, kh, kw = w.shape
    dtype = np.result_type(g_grid, w)
    by_offset = w.transpose(2, 3, 1, 0).astype(dtype, order="C")  # (p, q, c, f): each wᵀ contiguous
    dflat = np.zeros_like(g_grid, shape=(c, grid.size + grid.extra), dtype=dtype)
    g_grid = g_grid.astype(dtype, copy=False)
    for p in range(kh):
        for q in range(kw):
            shift = p * grid.wp + q
            gemm(by_offset[p, q], g_grid, out=dflat[:, shift:shift + grid.size], accumulate=True)
    ph, pw = padding
    return dflat[:, :grid.size].reshape(c, grid.n, grid.hp, grid.wp)[:, :, ph:ph + grid.h, pw:pw + grid.w] \
        .transpose(1, 0, 2, 3)


def _input_grad_by_offsets(g, w, x_shape, padding):
    """dx by its definition, one kernel offset (p, q) at a time: the gradient of each output that exists
    times w[:, :, p, q], added where that output's window reads the (padded) input; the padding cut off."""
    (n, c, h, wd), (ph, pw), (kh, kw), (ho, wo) = x_shape, padding, w.shape[2:], g.shape[2:]
    dx = np.zeros_like(g, shape=(n, c, h + 2 * ph, wd + 2 * pw), dtype=np.result_type(g, w))
    for p in range(kh):
        for q in range(kw):
            dx[:, :, p:p + ho, q:q + wo] += np.einsum("nfij,fc->ncij", g, w[:, :, p, q])
    return dx[:, :, ph:ph + h, pw:pw + wd]


def _weight_grad(g, x, w_shape, padding, rows=None):
    grid = _grid(x.shape, w_shape[2:], padding)
    saved = _rows(x, grid, w_shape[2:], padding) if rows is None else rows
    return _weight_and_bias_grad_from(_output_grad_on_grid(g, grid), saved, w_shape, grid, g, x, padding)[0]


def _weight_grad_by_offsets(g, x, w_shape, padding):
    """dw by its definition, one kernel offset (p, q) at a time: Σ over images and the outputs that exist
    of g times the padded input their windows read at (p, q)."""
    (ph, pw), (kh, kw), (ho, wo) = padding, w_shape[2:], g.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    by_offset = [np.tensordot(g, padded[:, :, p:p + ho, q:q + wo], axes=([0, 2, 3], [0, 2, 3]))
                 for p in range(kh) for q in range(kw)]  # each (F, C)
    return np.stack(by_offset, axis=-1).reshape(w_shape).astype(np.result_type(g, x), copy=False)


def _weight_and_bias_grad_from(g_grid, saved, w_shape, grid: _Grid, g, x, padding):
    """(dw, db or None) from what the forward saved: the input's grid (the compiled forward's) or its
    shifted rows (the BLAS path's). An infinite input makes NaN there without the definition doing so
    (0·inf at a position past the valid edge, silenced): a dw that is not finite is made again from g and x
    by its definition. (db = Σ g does not read x.)"""
    with np.errstate(invalid="ignore"):
        if isinstance(saved, _InputOnGrid):
            dw, db = _weight_grad_from_grid(g_grid, saved.flat, w_shape, grid)
        else:
            dw, db = _weight_and_bias_grad(g_grid, saved, w_shape, grid)
    return (dw if _finite(dw) else _weight_grad_by_offsets(g, x, w_shape, padding)), db


def _weight_grad_from_grid(g_grid, flat, w_shape, grid: _Grid):
    """(dw, db or None) from the input on its grid (the compiled forward's): for each kernel offset, the input
    read from that offset, @ gᵀ, all in one call (``shifted_long_products``). With the grid's row of ones,
    offset (0, 0)'s last row is Σ g, the bias gradient (g is zero on the grid where no output is). Where
    C < 3, or (C + 1)·F > 2048 (too large an output for the chunked products), the shifted rows are made here
    and the BLAS path's kh products run instead. Measured, the weight gradient alone after a product, batch
    128, float32, from the grid against from rows: 1->16 on 28×28 0.96 against 0.82 ms, 2->16 1.20 against
    1.09, 3->16 1.13 against 1.49, 8->16 2.21 against 2.79, 16->32 on 14×14 4.01 against 4.75, 32->32 6.78
    against 7.50, 32->64 on 7×7 5.35 against 3.69."""
    f, c, kh, kw = w_shape
    if c < 3 or (c + 1) * f > 2048:
        rows = _shifted_rows(flat[:c], grid, (kh, kw), ones_row=flat.shape[0] > c)
        return _weight_and_bias_grad(g_grid, rows, w_shape, grid)
    products = shifted_long_products(flat, g_grid.T, grid.size, kh, kw, grid.wp)  # (p, q, c + ones, f)
    return products[:, :, :c].transpose(3, 2, 0, 1).copy(), (products[0, 0, c] if flat.shape[0] > c else None)


def _weight_and_bias_grad(g_grid, rows, w_shape, grid: _Grid):
    """(dw, db or None): for each kernel row p, (rows read from p's offset) @ gᵀ — the orientation OpenBLAS
    runs faster, in chunks, all in one call (``shifted_long_products``). If ``rows`` has the forward's row of
    ones, the first product's last row is Σ g, the bias gradient (g is zero on the grid where no output is)."""
    f, c, kh, kw = w_shape
    k = c * kw
    products = shifted_long_products(rows, g_grid.T, grid.size, kh, 1, grid.wp)[:, 0]  # (p, (c, q) + ones, f)
    dw = products[:, :k].reshape(kh, c, kw, f).transpose(3, 1, 0, 2)
    return dw.copy(), (products[0, k] if rows.shape[0] > k else None)


def _bias_grad(g):
    """Σ over images and positions: products with ones on (N, F, H·W) (NumPy's multi-axis sum is several
    times slower there)."""
    if isinstance(g, Tensor):
        return ops_sum(g, axis=(0, 2, 3))
    if not g.flags.c_contiguous:
        g = np.moveaxis(g, 1, 0)  # (F, N, H, W): contiguous for a transposed view (how dx arrives)
        return np.matmul(g.reshape(g.shape[0], -1), ones(g[0].size, g.dtype))
    n, f = g.shape[:2]
    return ones(n, g.dtype) @ np.matmul(g.reshape(n, f, -1), ones(g[0, 0].size, g.dtype))


class _ConvGradients:
    """conv2d's gradients for one backward step (its ``vjp_all``), each made when the pass asks for it
    and sharing the work they share: the output gradient placed on the grid once, for dx and dw, and the
    bias gradient taken from the weight gradient's product (the forward's row of ones). Gradients of
    Tensors (``create_graph``) and of entries without saved columns take the VJPs below, one by one."""

    def __init__(self, g, ans, vals, kwargs):
        self.g, self.ans, self.vals, self.kwargs = g, ans, vals, kwargs
        self.shared = not isinstance(g, Tensor) and kwargs.get("saved") is not None
        self.g_grid = self.db = None

    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int):
        if i == 2 and self.db is not None:  # made with dw, from the ones row
            return self.db
        if not self.shared or i not in (0, 1):
            return conv2d.vjps[i](self.g, self.ans, *self.vals, **self.kwargs)
        x, w, _, padding = self.vals
        if i == 0 and not _finite(w):
            return _input_grad_by_offsets(self.g, w, x.shape, padding)
        grid = _grid(x.shape, w.shape[2:], padding)
        if i == 0:
            compiled = _input_grad_compiled(self.g, w, x.shape, padding)
            if compiled is not None:
                dx, flat, g_grid = compiled
                if g_grid.hp == grid.hp and g_grid.wp == grid.wp:  # g on x's grid is a view of it (margins zero)
                    shift = (w.shape[2] - 1 - padding[0]) * grid.wp + w.shape[3] - 1 - padding[1]
                    self.g_grid = flat[:, shift:shift + grid.size]
                return dx
        if self.g_grid is None:
            self.g_grid = _output_grad_on_grid(self.g, grid)
        if i == 0:
            return _input_grad_on_grid(self.g_grid, w, grid, padding)
        dw, self.db = _weight_and_bias_grad_from(self.g_grid, self.kwargs["saved"], w.shape, grid, self.g, x,
                                                 padding)
        return dw


conv2d = Primitive("conv2d", _conv, forward_saving=_conv_saving)
conv2d_input_grad = Primitive("conv2d_input_grad", _input_grad)
conv2d_weight_grad = Primitive("conv2d_weight_grad", _weight_grad)

conv2d.defvjp(
    lambda g, ans, x, w, b, padding, saved=None: conv2d_input_grad(g, w, np.shape(x), padding),
    lambda g, ans, x, w, b, padding, saved=None: conv2d_weight_grad(g, x, np.shape(w), padding, rows=saved),
    lambda g, ans, x, w, b, padding, saved=None: _bias_grad(g))
conv2d.vjp_all = _ConvGradients
conv2d_input_grad.defvjp(
    lambda d, ans, g, w, x_shape, padding: conv2d(d, w, None, padding),
    lambda d, ans, g, w, x_shape, padding: conv2d_weight_grad(g, d, np.shape(w), padding))
conv2d_weight_grad.defvjp(
    lambda d, ans, g, x, w_shape, padding, rows=None: conv2d(x, d, None, padding),
    lambda d, ans, g, x, w_shape, padding, rows=None: conv2d_input_grad(g, d, np.shape(x), padding))
