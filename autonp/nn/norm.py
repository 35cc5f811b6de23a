"""Normalisation layers. Running statistics are plain arrays (buffers): they carry no graph."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


class BatchNorm1d(Module):
    """Batch normalisation over (N, C) or (N, C, L): the batch's statistics in training (moving the
    running ones), the running statistics after ``eval()``."""

    ops_only = True

    buffers = ("running_mean", "running_var")
    ndims: tuple[int, ...] = (2, 3)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 dtype: Any = np.float64, name: str = ""):
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(np.ones(num_features, dtype=dtype), name=f"gamma{name}") if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype), name=f"beta{name}") if affine else None
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)

    def forward(self, x: Any) -> Tensor:
        if np.ndim(x) not in self.ndims:
            raise ValueError(f"{type(self).__name__}: expected an input of {' or '.join(map(str, self.ndims))} "
                             f"dimensions, got shape {np.shape(x)}")
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                            self.momentum, self.eps)


class BatchNorm2d(BatchNorm1d):
    """Batch normalisation of (N, C, H, W) per channel."""

    ndims = (4,)


class LayerNorm(Module):
    """Normalises each sample over its last dimensions ``normalized_shape``, with a learned scale and shift."""

    ops_only = True

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, dtype: Any = np.float64,
                 name: str = ""):
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype), name=f"ln_gamma{name}")
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype), name=f"ln_beta{name}")

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
