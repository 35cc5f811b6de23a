"""Losses."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..tensor import Tensor, as_array
from .module import Module

__all__ = ["cross_entropy", "binary_cross_entropy", "binary_cross_entropy_sum", "mse_loss", "l2_penalty"]


def _values(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else as_array(x)


def _class_targets(logits: Any, target: Any) -> Any:
    """``target`` as probability rows for ``logits`` (..., C), checked: class indices (integers of shape
    ``logits.shape[:-1]`` in [0, C)) become one-hot rows; probability rows must have ``logits``' shape and
    be finite and ≥ 0."""
    shape, t = (logits.shape if isinstance(logits, (Tensor, np.ndarray)) else np.shape(logits)), _values(target)
    if len(shape) == 0:
        raise ValueError("cross_entropy: logits must have a class axis (shape (..., C)), got a scalar")
    c = shape[-1]
    if t.dtype.kind not in "iuf":  # bool, strings, objects
        raise TypeError(f"cross_entropy: target of dtype {t.dtype}; expected class indices (integers) of shape "
                        f"{shape[:-1]} or probability rows (floats) of shape {shape}")
    if t.dtype.kind in "iu" and t.shape == shape[:-1]:
        if t.size and (t.min() < 0 or t.max() >= c):
            bad = t[(t < 0) | (t >= c)]
            raise ValueError(f"cross_entropy: class indices must lie in [0, {c}) for logits of shape {shape}; "
                             f"got {bad.ravel()[:5].tolist()}{' ...' if bad.size > 5 else ''}")
        dtype = logits.dtype if hasattr(logits, "dtype") else np.float64
        return (t[..., None] == np.arange(c)).astype(dtype)
    if t.shape != shape:
        hint = (" (float class labels: convert them with labels.astype(int), or make probability rows with "
                "anp.data.one_hot(labels, num_classes))" if t.shape == shape[:-1] else "")
        raise ValueError(f"cross_entropy: target of shape {t.shape} {t.dtype} for logits of shape {shape}; expected "
                         f"class indices (integers) of shape {shape[:-1]} or probability rows of shape {shape}{hint}")
    if t.dtype.kind == "f" and t.size and not (0 <= np.minimum.reduce(t, axis=None)
                                               and np.maximum.reduce(t, axis=None) < np.inf):  # (NaN: False)
        raise ValueError("cross_entropy: probability rows must be finite and ≥ 0 (got negative, NaN or Inf entries)")
    return target if t.dtype.kind == "f" else t.astype(getattr(logits, "dtype", np.float64))


def _same_shape(name: str, pred: Any, target: Any) -> None:
    """Refuse shapes that broadcast into another loss: (N, 1) against (N,) would average an (N, N) table."""
    ps, ts = np.shape(pred), np.shape(target)
    if ps != ts and ts != ():
        raise ValueError(f"{name}: prediction of shape {ps} and target of shape {ts}; they must have the same "
                         f"shape (broadcasting would pair every prediction with every target). Reshape one of them")


def _binary_targets(name: str, probs: Any, target: Any) -> None:
    """Shapes alike, targets numbers in [0, 1], and predictions probabilities in [0, 1] (PyTorch's checks: logits
    passed by mistake, or a model whose output left [0, 1], made log(1 − p) NaN in the loss and its gradient)."""
    _same_shape(name, probs, target)
    t = _values(target)
    if t.dtype.kind not in "biuf" or (t.size and not ((t >= 0) & (t <= 1)).all()):
        span = f", range {float(t.min())}..{float(t.max())}" if t.dtype.kind in "iuf" and t.size else ""
        raise ValueError(f"{name}: targets must be numbers in [0, 1] (got dtype {t.dtype}{span})")
    p = _values(probs)
    if p.size and not ((p >= 0) & (p <= 1)).all():
        lo, hi = float(np.min(p)), float(np.max(p))  # (numbers, not traced values, under anp.compile)
        raise ValueError(f"{name}: predictions must be probabilities in [0, 1] (got range {lo}..{hi}"
                         f"{', NaN among them' if np.isnan(p).any() else ''}); for logits, apply a sigmoid first")


def cross_entropy(logits: Any, target: Any) -> Tensor:
    """Mean over rows of −Σ target·log_softmax(logits). ``target``: class indices (integers in [0, C)) or
    probability rows of the logits' shape (checked). Fused: forward via log-softmax (stable; a −∞ logit
    masks its class), backward (softmax − target)/m in one step."""
    return ops.softmax_cross_entropy(logits, _class_targets(logits, target))


def _weighted_log(t: Any, p: Any) -> Any:
    """t·log p, with the definition's 0·log 0 = 0: a prediction exactly right (p = 0 for t = 0, p = 1 for t = 1)
    made 0·(−∞) = NaN, in the loss and its gradient, where the loss is 0 and ∂p of the term is 0 (PyTorch clamps
    log p at −100 instead). Only for targets that are data: a target that requires grad keeps t·log p (its
    ∂t = log p is −∞ there; PyTorch refuses target gradients)."""
    if isinstance(t, Tensor) and t.requires_grad:
        return t * ops.log(p)
    out = (_values(t) == 0) & (_values(p) == 0)
    if not out.any():
        return t * ops.log(p)
    return ops.where(out, 0.0, t * ops.log(ops.where(out, 1.0, p)))


def _binary_cross_entropy_terms(probs: Any, target: Any) -> Any:
    return _weighted_log(target, probs) + _weighted_log(1 - target, 1 - probs)


def binary_cross_entropy(probs: Any, target: Any) -> Tensor:
    """Mean over all elements of −[t·log p + (1−t)·log(1−p)]; ``target`` in [0, 1], shaped like ``probs``."""
    _binary_targets("binary_cross_entropy", probs, target)
    return -ops.mean(_binary_cross_entropy_terms(probs, target))


def binary_cross_entropy_sum(probs: Any, target: Any) -> Tensor:
    """The cost the blog prints: −Σ[Y·log a + (1−Y)·log(1−a)] / m, binary cross-entropy summed over
    the outputs of each row (for the blog, the ten softmax outputs) and averaged over the m rows.
    Its gradient is *not* the blog's a − Y; that is the gradient of ``cross_entropy``."""
    _binary_targets("binary_cross_entropy_sum", probs, target)
    m = np.shape(probs)[0]
    return -ops.sum(_binary_cross_entropy_terms(probs, target)) / m


def mse_loss(pred: Any, target: Any) -> Tensor:
    """Mean of (pred − target)²; ``target`` shaped like ``pred`` (or a number)."""
    _same_shape("mse_loss", pred, target)
    d = pred - target
    return ops.mean(d * d)


def l2_penalty(params: Module | list, weight: float) -> Tensor:
    """weight/2 · Σ‖W‖² over the weight matrices (parameters with ndim ≥ 2; biases are not decayed)."""
    ps = params.parameters() if isinstance(params, Module) else list(params)
    total: Any = 0.0
    for p in ps:
        if p.ndim >= 2:
            total = total + ops.sum(p * p)
    return total * (weight / 2)
