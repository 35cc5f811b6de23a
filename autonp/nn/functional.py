"""The layers as functions of Tensors (NCHW images): convolution, pooling, dropout, normalisation,
embedding. Each is written with autonp's primitives — sliding windows (im2col) and one matrix
product per convolution, no loop over pixels — so gradients of every order come from theirs."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..functional import check_positive_int, recomputing, refuse_in_blocks
from ..ops.conv import conv2d as conv2d_stride1
from ..ops.nn import max_pool
from ..ops.shape import windows
from ..tensor import Tensor, _data, as_array

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "dropout", "batch_norm", "layer_norm", "embedding", "flatten"]


def _pair(v: int | tuple[int, int], who: str, name: str, low: int) -> tuple[int, int]:
    """(v, v) or v as a pair of ints, each at least ``low`` (a stride of 0 divided by zero, and a negative padding
    made the compiled correlation write outside its arrays)."""
    pair = (v, v) if isinstance(v, (int, np.integer)) else tuple(v) if isinstance(v, (tuple, list)) else ()
    if len(pair) != 2 or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < low for k in pair):
        raise ValueError(f"{who}: {name} must be an integer ≥ {low} or a pair of them, got {v!r}")
    return int(pair[0]), int(pair[1])


def _padded(x, padding: tuple[int, int]):
    if padding == (0, 0):
        return x
    return ops.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """Cross-correlation of ``x`` (N, C, H, W) with ``weight`` (F, C/groups, kh, kw), as in PyTorch:
    out[n, f, i, j] = Σ_{c,p,q} weight[f, c, p, q] · x_pad[n, c, i·s + p·d, j·s + q·d] + bias[f].
    Stride 1, no dilation, one group: ``ops.conv.conv2d``, one product on the padded grid. Otherwise the
    windows of the padded input become rows of a matrix (im2col), one product per group."""
    n, c = np.shape(x)[:2]
    f, cg, kh, kw = np.shape(weight)
    check_positive_int("conv2d", "groups", groups)
    if c != cg * groups or f % groups:
        raise ValueError(f"conv2d: input has {c} channels and weight {np.shape(weight)} with groups={groups}; "
                         f"expected weight (F, C/groups, kh, kw) with F and C divisible by groups")
    stride, dilation = _pair(stride, "conv2d", "stride", 1), _pair(dilation, "conv2d", "dilation", 1)
    padding = _pair(padding, "conv2d", "padding", 0)
    if stride == (1, 1) and dilation == (1, 1) and groups == 1:  # the common case: one product on the padded grid
        return conv2d_stride1(x, weight, bias, padding)
    win = windows(_padded(x, padding), (kh, kw), stride, dilation)          # (N, Ho, Wo, C, kh, kw)
    ho, wo = np.shape(win)[1:3]
    fg = f // groups
    outs = []
    for g in range(groups):
        cols = win if groups == 1 else win[:, :, :, g * cg:(g + 1) * cg]
        w = weight if groups == 1 else weight[g * fg:(g + 1) * fg]
        outs.append(ops.reshape(cols, (n * ho * wo, cg * kh * kw)) @ ops.reshape(w, (fg, cg * kh * kw)).T)
    out = outs[0] if groups == 1 else ops.concatenate(outs, axis=1)          # (N·Ho·Wo, F)
    out = ops.transpose(ops.reshape(out, (n, ho, wo, f)), (0, 3, 1, 2))
    return out if bias is None else out + ops.reshape(bias, (1, f, 1, 1))


def _pool_input(x, kernel_size, stride, padding, pad_value):
    """(padded x, kernel, stride) for a pooling layer; the stride defaults to the kernel."""
    kernel = _pair(kernel_size, "pool2d", "kernel_size", 1)
    stride = kernel if stride is None else _pair(stride, "pool2d", "stride", 1)
    padding = _pair(padding, "pool2d", "padding", 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:  # (a window of padding alone: −∞ or 0)
        raise ValueError(f"pool2d: padding {padding} must be at most half the kernel {kernel}, as PyTorch")
    if padding != (0, 0):
        x = ops.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=pad_value)
    return x, kernel, stride


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """The max of each window (ties share the gradient, as ``max``); padding counts as −∞."""
    return max_pool(*_pool_input(x, kernel_size, stride, padding, -np.inf))


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """The mean of each window (padding counts as zeros, as PyTorch's default)."""
    x, kernel, stride = _pool_input(x, kernel_size, stride, padding, 0.0)
    win = windows(x, kernel, stride, (1, 1))                                 # (N, Ho, Wo, C, kh, kw)
    return ops.transpose(ops.mean(win, axis=(4, 5)), (0, 3, 1, 2))


def flatten(x: Any, start_dim: int = 1) -> Tensor:
    shape = np.shape(x)
    return ops.reshape(x, shape[:start_dim] + (-1,))


def dropout(x: Any, p: float, training: bool = True, rng: np.random.Generator | None = None) -> Any:
    """Inverted dropout: each element kept with probability 1−p and scaled by 1/(1−p) in training;
    the identity in evaluation."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    rng = rng if rng is not None else np.random.default_rng()
    keep = rng.random(np.shape(x)) >= p
    return x * (keep / (1 - p)).astype(as_array(_data(x)).dtype)


def batch_norm(x: Any, running_mean: np.ndarray | None, running_var: np.ndarray | None, weight: Any = None,
               bias: Any = None, training: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """(x − μ)/√(σ² + eps)·γ + β over every axis but the channels (axis 1). In training μ, σ² are the
    batch's (and the running statistics, plain arrays that carry no graph, move towards them:
    r ← (1−m)·r + m·stat, with the unbiased variance, as PyTorch); in evaluation the running ones."""
    shape = np.shape(x)
    _check_running_stats(shape, running_mean, running_var, training)
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, shape[1]) + (1,) * (len(shape) - 2)
    if training:
        refuse_in_blocks("batch_norm in training mode", "it would normalize each block by that block's own "
                         "statistics (and move the running statistics once per block)",
                         "Evaluate the blocks in eval mode (model.eval()), or compute the loss in one call")
        count = int(np.prod([shape[a] for a in axes]))
        if count == 1:  # the output would be 0 whatever x, and the running variance would move towards a made-up 0
            raise ValueError(f"batch_norm: training needs more than one value per channel to take its variance; got "
                             f"an input of shape {shape} (a larger batch, or eval mode), as PyTorch")
        mean = ops.mean(x, axis=axes, keepdims=True)
        centred = x - mean
        var = ops.mean(centred * centred, axis=axes, keepdims=True)
        if running_mean is not None and not recomputing():  # (checkpoint's run again: moved once already)
            batch_mean = as_array(_data(mean)).reshape(-1)
            batch_var = as_array(_data(var)).reshape(-1) * (count / (count - 1))
            running_mean *= 1 - momentum
            running_mean += momentum * batch_mean
            running_var *= 1 - momentum
            running_var += momentum * batch_var
    else:
        mean = np.reshape(running_mean, bshape)
        var = np.reshape(running_var, bshape)
        centred = x - mean
    out = centred / ops.sqrt(var + eps)
    if weight is not None:
        out = out * ops.reshape(weight, bshape)
    if bias is not None:
        out = out + ops.reshape(bias, bshape)
    return out


def _check_running_stats(shape: tuple, running_mean: Any, running_var: Any, training: bool) -> None:
    """An input (N, C, ...), and running statistics that are both given or both not, float arrays of C entries
    (they are updated in place), and given in evaluation, which normalizes by them (PyTorch's checks)."""
    if len(shape) < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got {shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if running_mean is None:
        if not training:
            raise ValueError("batch_norm: evaluation (training=False) normalizes by running_mean and running_var, "
                             "and none were given")
        return
    for name, r in (("running_mean", running_mean), ("running_var", running_var)):
        if not isinstance(r, np.ndarray) or r.shape != (shape[1],) or r.dtype.kind != "f":
            raise ValueError(f"batch_norm: {name} must be a float array of shape ({shape[1]},) for an input of shape "
                             f"{shape} (it is updated in place); got {type(r).__name__}"
                             f"{f' {r.shape} {r.dtype}' if isinstance(r, np.ndarray) else ''}")


def layer_norm(x: Any, normalized_shape: tuple[int, ...], weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """(x − μ)/√(σ² + eps)·γ + β over the last ``len(normalized_shape)`` axes, which must be ``normalized_shape``."""
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    if tuple(np.shape(x)[len(np.shape(x)) - len(normalized_shape):]) != normalized_shape:
        raise ValueError(f"layer_norm: normalized_shape {normalized_shape} is not the last axes of the input's shape "
                         f"{np.shape(x)}")
    axes = tuple(range(-len(normalized_shape), 0))
    mean = ops.mean(x, axis=axes, keepdims=True)
    centred = x - mean
    out = centred / ops.sqrt(ops.mean(centred * centred, axis=axes, keepdims=True) + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def embedding(indices: Any, weight: Any) -> Tensor:
    """Rows of ``weight`` picked by integer ``indices`` (a gather: repeated indices add their gradients)."""
    idx = as_array(_data(indices))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {idx.dtype}")
    rows = np.shape(weight)[0]
    if idx.size and (idx.min() < 0 or idx.max() >= rows):  # (−1 would pick the last row, as NumPy indexing does)
        raise IndexError(f"embedding: indices must lie in [0, {rows}), got {idx.min()}..{idx.max()}")
    return ops.getitem(weight, idx)
