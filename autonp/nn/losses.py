"""Losses."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..tensor import Tensor, as_array
from .module import Module

__all__ = ["cross_entropy", "binary_cross_entropy", "binary_cross_entropy_sum", "mse_loss", "l2_penalty"]


def _one_hot_like(target: Any, logits: Any) -> Any:
    t = target.data if isinstance(target, Tensor) else as_array(target)
    if t.dtype.kind in "iu" and t.ndim == np.ndim(logits) - 1:
        dtype = logits.dtype if hasattr(logits, "dtype") else np.float64
        return (t[..., None] == np.arange(np.shape(logits)[-1])).astype(dtype)
    return target


def cross_entropy(logits: Any, target: Any) -> Tensor:
    """Mean over rows of −Σ target·log_softmax(logits). ``target``: class indices or probability rows
    (one-hot). Fused: forward via log-softmax (stable), backward (softmax − target)/m in one step."""
    return ops.softmax_cross_entropy(logits, _one_hot_like(target, logits))


def binary_cross_entropy(probs: Any, target: Any) -> Tensor:
    """Mean over all elements of −[t·log p + (1−t)·log(1−p)]."""
    return -ops.mean(target * ops.log(probs) + (1 - target) * ops.log(1 - probs))


def binary_cross_entropy_sum(probs: Any, target: Any) -> Tensor:
    """The cost the blog prints: −Σ[Y·log a + (1−Y)·log(1−a)] / m, binary cross-entropy summed over
    the outputs of each row (for the blog, the ten softmax outputs) and averaged over the m rows.
    Its gradient is *not* the blog's a − Y; that is the gradient of ``cross_entropy``."""
    m = np.shape(probs)[0]
    return -ops.sum(target * ops.log(probs) + (1 - target) * ops.log(1 - probs)) / m


def mse_loss(pred: Any, target: Any) -> Tensor:
    """Mean of (pred − target)²."""
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
