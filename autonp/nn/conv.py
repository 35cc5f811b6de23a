"""Convolution and pooling layers (NCHW)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .module import Module, Parameter

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d"]


class Conv2d(Module):
    """``conv2d`` with a learned weight (F, C/groups, kh, kw) and bias (F,); He-uniform initialisation
    (PyTorch's default scale: U(±1/√fan_in) for the bias, U(±√(6/fan_in)) for ReLU networks' weights)."""

    ops_only = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, rng: np.random.Generator | None = None,
                 dtype: Any = np.float64, name: str = ""):
        kh, kw = F._pair(kernel_size, "Conv2d", "kernel_size", 1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: {in_channels} in and {out_channels} out channels are not divisible by "
                             f"groups={groups}")
        rng = rng if rng is not None else np.random.default_rng()
        fan_in = in_channels // groups * kh * kw
        limit = np.sqrt(6.0 / fan_in)
        self.weight = Parameter(rng.uniform(-limit, limit, (out_channels, in_channels // groups, kh, kw)).astype(dtype),
                                name=f"K{name}")
        self.bias = Parameter(np.zeros(out_channels, dtype=dtype), name=f"c{name}") if bias else None
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x: Any) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class MaxPool2d(Module):
    ops_only = True

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Any) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(MaxPool2d):
    def forward(self, x: Any) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)
