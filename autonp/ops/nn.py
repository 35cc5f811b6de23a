"""The ops networks are made of: sigmoid, relu, the softmax family, and the fused softmax
cross-entropy (which keeps its softmax for the backward). ``log`` lives here because
``log(softmax(z))`` on the tape is computed as ``log_softmax(z)``.
"""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Primitive, Tensor, _data
from . import _numba
from ._kernels import columnwise, dot_all, exp_rows, fast_sum
from .elementwise import exp, log_
from .reductions import expand, sum
from .shape import _window_geometry, reshape, transpose, unwindows, windows


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


def _relu(x):
    return np.maximum(x, 0)


def _relu_vjp(g, ans, x):
    """g · (y > 0) with y = max(x, 0), the same mask as x > 0 (NaN included): read from the output, so that a
    compiled replay may compute the ReLU in the memory of its input, which nothing reads afterwards."""
    y = _data(ans)
    fast = _numba.relu_backward(g, y)  # None without autonp[fast], on Tensors (create_graph) and small arrays
    return g * (y > 0) if fast is None else fast


relu = Primitive("relu", _relu).defvjp(_relu_vjp)
relu.rule = "gradient 0 at 0"

# --------------------------------------------------------------------------- softmax family


def _softmax(x, axis=-1):
    _, e, s = exp_rows(x, axis)
    e /= s
    return e


def _log_softmax(x, axis=-1):
    shifted, _, s = exp_rows(x, axis)
    return shifted - np.log(s) if np.size(x) else np.copy(x)  # (an empty row's Σ is 0: no log of it)


def _logsumexp(x, axis=None, keepdims=False):
    return _logsumexp_saving(x, axis, keepdims)[0]


def _logsumexp_saving(x, axis=None, keepdims=False):
    """m + log Σ exp(x − m), m the largest x; kept for the backward: (m, log Σ exp(x − m))."""
    if np.size(x) == 0:  # a sum over no terms: log 0 = −∞, as SciPy and PyTorch (a max over nothing has no value)
        with np.errstate(divide="ignore"):
            return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)), None
    m = _finite_max(x, axis)
    r = np.log(fast_sum(np.exp(x - m), axis=axis, keepdims=True))
    out = m + r
    return (out if keepdims else np.squeeze(out, axis=axis)), (m, r)


def _finite_max(x, axis):
    """The largest x along ``axis`` (kept), 0 where it is not finite: the shift that keeps exp from overflowing."""
    m = columnwise(np.maximum, _data(x), axis, True)
    return np.where(np.isfinite(m), m, 0)


def _logsumexp_vjp(g, ans, x, axis=None, keepdims=False, saved=None):
    """g·exp(x − logsumexp x), as exp((x − m) − log Σ exp(x − m)): exp(x − ans) would carry ans's rounding, an ulp
    of the largest x, into the exponent (0.1% of the gradient where x is ~6e13: the fuzzer's long run)."""
    g = expand(g, x, axis, keepdims)
    if np.size(x) == 0:
        return g * (x * 0.0)  # (x's own empty shape)
    if saved is None:  # recompute, from Tensors under create_graph (m a constant: the weights do not depend on it)
        e = exp(x - _finite_max(x, axis))
        return g * (e / sum(e, axis=axis, keepdims=True))
    m, r = saved
    return g * np.exp((x - m) - r)


softmax = Primitive("softmax", _softmax).defvjp(        # s ⊙ (g − Σ g⊙s)
    lambda g, ans, x, axis=-1: ans * (g - sum(g * ans, axis=axis, keepdims=True)))
log_softmax = Primitive("log_softmax", _log_softmax).defvjp(  # g − softmax ⊙ Σ g
    lambda g, ans, x, axis=-1: g - exp(ans) * sum(g, axis=axis, keepdims=True))
logsumexp = Primitive("logsumexp", _logsumexp, forward_saving=_logsumexp_saving).defvjp(_logsumexp_vjp)


def log(x):
    """Natural logarithm, ∂ = g / x. ``log(softmax(z))`` on the tape is computed as
    ``log_softmax(z)``: finite where softmax underflows to 0, same value elsewhere."""
    node = x.node if isinstance(x, Tensor) else None
    if node is not None and node.prim is softmax and node.vals is not None:
        return log_softmax(node.args[0], **node.kwargs)
    return log_(x)


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
    shifted, e, s = exp_rows(logits, axis)
    if shifted is logits:
        shifted = shifted - np.log(s)                              # log_softmax
    else:
        np.subtract(shifted, np.log(s), out=shifted)
    loss = -dot_all(target, shifted) / _rows(logits, axis)
    if not np.isfinite(loss) and np.isneginf(shifted).any():  # a −∞ logit (a masked class): 0·log 0 is 0
        loss = -dot_all(target, np.where(target != 0, shifted, 0.0)) / _rows(logits, axis)
    return loss, e, s


def _xent_vjp_logits(g, ans, z, t, axis=-1, saved=None):
    """(softmax(z)·Σt − t)·g/m, which is (softmax(z) − t)·g/m for one-hot or probability rows."""
    if saved is None:  # recompute, from Tensors under create_graph
        return (softmax(z, axis=axis) * sum(t, axis=axis, keepdims=True) - t) * (g / _rows(z, axis))
    out = saved * fast_sum(t, axis=axis, keepdims=True)  # saved: plain arrays, so one buffer suffices
    out -= t
    out *= g / _rows(z, axis)
    return out


def _xent_vjp_target(g, ans, z, t, axis=-1, saved=None):
    """−log_softmax(z)·g/m."""
    return log_softmax(z, axis=axis) * (-g / _rows(z, axis))


softmax_cross_entropy = Primitive("softmax_cross_entropy", _xent, forward_saving=_xent_saving).defvjp(
    _xent_vjp_logits, _xent_vjp_target)

# --------------------------------------------------------------------------- pooling


def _pool_slices(shape, kernel, stride):
    """For each kernel offset (p, q): the strided slice of an NCHW array that holds that element of
    every window."""
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = _window_geometry(shape, kernel, stride, (1, 1))  # a kernel larger than the input refuses: its slices
    return [(slice(None), slice(None), slice(p, p + sh * (ho - 1) + 1, sh), slice(q, q + sw * (wo - 1) + 1, sw))
            for p in range(kh) for q in range(kw)]  # would end below 0, which counts from the far edge


def _max_pool(x, kernel, stride):
    """The max of every window: kh·kw − 1 elementwise maxima of strided slices (no window copy)."""
    fast = _numba.max_pool_2x2(x, kernel, stride)  # None without autonp[fast], or for other windows
    if fast is not None:
        return fast
    slices = _pool_slices(x.shape, kernel, stride)
    out = x[slices[0]].copy()
    for s in slices[1:]:
        np.maximum(out, x[s], out=out)
    return out


def _max_pool_vjp(g, ans, x, kernel, stride):
    """Each window's gradient goes to its maximum; ties share it equally (as ``max``)."""
    if isinstance(g, Tensor) or isinstance(x, Tensor):  # create_graph: the same rule from differentiable ops
        win = windows(x, kernel, stride, (1, 1))
        top = expand_window(ans)
        hit = (_data(win) == _data(top)) | np.isnan(_data(win))  # (a window with a NaN has the NaN as its max)
        share = hit / np.sum(hit, axis=(4, 5), keepdims=True)
        return unwindows(expand_window(g) * share, np.shape(x), kernel, stride, (1, 1))
    tiling = type(x) is np.ndarray and tuple(kernel) == tuple(stride)  # no element of x is in two windows
    if tiling:
        gx = _numba.max_pool_backward(x, ans, g, kernel, stride)  # None without autonp[fast], or other shapes
        if gx is not None:
            return gx
    slices = _pool_slices(x.shape, kernel, stride)
    hits = [x[s] == ans for s in slices]
    if np.isnan(ans).any():  # a NaN wins its window (NumPy's maximum): its NaNs take the gradient
        hits = [hit | np.isnan(x[s]) for s, hit in zip(slices, hits)]
    if tiling:
        count = hits[0].astype(np.uint8 if len(hits) < 256 else np.int32)
        for hit in hits[1:]:
            count += hit
        share = g / count
        tiled = x.shape[2] % kernel[0] == 0 and x.shape[3] % kernel[1] == 0
        gx = np.empty_like(x) if tiled else np.zeros_like(x)  # every element written, or the edge stays 0
        for s, hit in zip(slices, hits):
            np.multiply(share, hit, out=gx[s])
        return gx
    count = np.stack(hits).sum(axis=0)
    gx = np.zeros_like(x)
    share = g / count
    for s, hit in zip(slices, hits):
        gx[s] += share * hit
    return gx


def expand_window(t):
    """(N, C, Ho, Wo) → (N, Ho, Wo, C, 1, 1): per-window values against ``windows``' layout."""
    n, c, ho, wo = np.shape(t)
    return reshape(transpose(t, (0, 2, 3, 1)), (n, ho, wo, c, 1, 1))


max_pool = Primitive("max_pool", _max_pool).defvjp(_max_pool_vjp)
max_pool.rule = "each window's gradient goes to its maximum (its NaNs, if any); ties share it"
