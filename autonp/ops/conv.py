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
an addition where that library is not there. The weight gradient is one chunked product per kernel row.
The product runs at every grid position (the few past the valid edge are computed and dropped; the
gradient there is zero). On 128×8×28×28 → 16 channels, float32, forward and backward: 0.28x the time
of the hand-written strided-window im2col (``benchmarks/run.py --only conv``), and 16.9 -> 13.2 ms
against the one-im2col-product version this replaced (the same process, interleaved).

The bias is the weight of one more row of ones: the first product adds it, and the weight gradient's
first product has the bias gradient as one more row. The backward places the output gradient on the
grid once, for both (``conv2d.vjp_all``)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..tensor import Primitive, Tensor
from ._blas import gemm
from ._kernels import long_product, ones, workspace
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
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"a {kh}×{kw} kernel does not fit an input of spatial size {h}×{w} padded by {padding}")
    ho, wo = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
    shared = ph <= kh - 1 and pw <= kw - 1 and kh <= h + ph and kw <= w + pw
    hp, wp = (h + ph, w + pw) if shared else (h + 2 * ph, w + 2 * pw)
    return _Grid(n, h, w, hp, wp, ho, wo, n * hp * wp, (kh - 1) * wp + kw - 1)


def _on_grid(a, grid: _Grid, top: int, left: int, tag: str) -> np.ndarray:
    """(C, size + one padded image): ``a`` (N, C, rows, cols) placed channel-major at (top, left) of the zero
    grid. The extra image of zeros at the end covers every shift (``grid.extra`` < hp·wp). On arrays, the
    grid is a workspace whose margins stay zero (only the interior is ever written); a compile stand-in
    gets ``np.pad``, which stays traced."""
    rows, cols = a.shape[2:]
    if type(a) is not np.ndarray:
        widths = ((0, 0), (0, 1), (top, grid.hp - top - rows), (left, grid.wp - left - cols))
        return np.pad(a.transpose(1, 0, 2, 3), widths).reshape(a.shape[1], -1)
    c = a.shape[1]
    flat = workspace(f"conv {tag} {top} {left} {rows} {cols}", (c, grid.n + 1, grid.hp, grid.wp), a.dtype)
    flat[:, :grid.n, top:top + rows, left:left + cols] = a.transpose(1, 0, 2, 3)
    return flat.reshape(c, -1)


def _rows(x, grid: _Grid, kernel, padding, ones_row: bool = False) -> np.ndarray:
    """(C·kw, size + (kh−1)·wp): row (c, q) is channel c of the padded input on the grid, shifted by q.
    The product for kernel row p reads its columns from p·wp on (a view: BLAS takes the row stride), so
    kh·kw offsets cost kw row copies, not an im2col matrix of kh·kw. With ``ones_row``, one more row of
    ones: the bias's column of the weights adds it in the first product, and the same row makes the bias
    gradient a column of the weight gradient's first product."""
    flat = _on_grid(x, grid, padding[0], padding[1], "input")
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


def _conv_saving(x, w, b, padding):
    """(output, the shifted rows the weight gradient reuses). One product per kernel row p, each added
    into the output where BLAS allows (``_blas.gemm``); the bias rides in the first, as the weight of a
    row of ones. The output is copied out of the grid once, contiguous, so that the layers after it read
    it in order."""
    f, c, kh, kw = w.shape
    grid = _grid(x.shape, (kh, kw), padding)
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


def _input_grad(g, w, x_shape, padding):
    grid = _grid(x_shape, w.shape[2:], padding)
    return _input_grad_on_grid(_output_grad_on_grid(g, grid), w, grid, padding)


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


def _weight_grad(g, x, w_shape, padding, rows=None):
    grid = _grid(x.shape, w_shape[2:], padding)
    rows = _rows(x, grid, w_shape[2:], padding) if rows is None else rows
    return _weight_and_bias_grad(_output_grad_on_grid(g, grid), rows, w_shape, grid)[0]


def _weight_and_bias_grad(g_grid, rows, w_shape, grid: _Grid):
    """(dw, db or None): for each kernel row p, (rows read from p's offset) @ gᵀ — the orientation OpenBLAS
    runs faster, in chunks (``long_product``). If ``rows`` has the forward's row of ones, the first
    product's last row is Σ g, the bias gradient (g is zero on the grid where no output is)."""
    f, c, kh, kw = w_shape
    k = c * kw
    first = long_product(_at_row(rows, grid, 0, rows.shape[0]), g_grid.T)
    parts = [first[:k]] + [long_product(_at_row(rows, grid, p, k), g_grid.T) for p in range(1, kh)]
    dw = np.stack(parts).reshape(kh, c, kw, f).transpose(3, 1, 0, 2)
    return dw.copy(), (first[k] if rows.shape[0] > k else None)


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
        grid = _grid(x.shape, w.shape[2:], padding)
        if self.g_grid is None:
            self.g_grid = _output_grad_on_grid(self.g, grid)
        if i == 0:
            return _input_grad_on_grid(self.g_grid, w, grid, padding)
        dw, self.db = _weight_and_bias_grad(self.g_grid, self.kwargs["saved"], w.shape, grid)
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
