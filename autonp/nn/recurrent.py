"""Recurrent cells: one time step each; unroll them in a Python loop."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["RNNCell", "LSTMCell"]


def _uniform(rng, hidden, shape, dtype):
    k = 1.0 / np.sqrt(hidden)
    return rng.uniform(-k, k, shape).astype(dtype)


class RNNCell(Module):
    """h' = tanh(x W_ih + h W_hh + b) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 rng: np.random.Generator | None = None, dtype: Any = np.float64, name: str = ""):
        rng = rng if rng is not None else np.random.default_rng()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.hidden_size = hidden_size
        self.weight_ih = Parameter(_uniform(rng, hidden_size, (input_size, hidden_size), dtype), name=f"W_ih{name}")
        self.weight_hh = Parameter(_uniform(rng, hidden_size, (hidden_size, hidden_size), dtype), name=f"W_hh{name}")
        self.bias = Parameter(np.zeros(hidden_size, dtype=dtype), name=f"b_h{name}")

    def forward(self, x: Any, h: Any = None) -> Tensor:
        if h is None:
            h = np.zeros((np.shape(x)[0], self.hidden_size), dtype=self.bias.dtype)
        z = x @ self.weight_ih + h @ self.weight_hh + self.bias
        return ops.tanh(z) if self.nonlinearity == "tanh" else ops.relu(z)


class LSTMCell(Module):
    """Gates i, f, g, o from x W_ih + h W_hh + b; c' = f⊙c + i⊙g, h' = o⊙tanh(c'). Returns (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator | None = None,
                 dtype: Any = np.float64, name: str = ""):
        rng = rng if rng is not None else np.random.default_rng()
        self.hidden_size = hidden_size
        self.weight_ih = Parameter(_uniform(rng, hidden_size, (input_size, 4 * hidden_size), dtype),
                                   name=f"W_ih{name}")
        self.weight_hh = Parameter(_uniform(rng, hidden_size, (hidden_size, 4 * hidden_size), dtype),
                                   name=f"W_hh{name}")
        self.bias = Parameter(np.zeros(4 * hidden_size, dtype=dtype), name=f"b{name}")

    def forward(self, x: Any, state: tuple[Any, Any] | None = None) -> tuple[Tensor, Tensor]:
        n, hs = np.shape(x)[0], self.hidden_size
        if state is None:
            zeros = np.zeros((n, hs), dtype=self.bias.dtype)
            state = (zeros, zeros)
        h, c = state
        z = x @ self.weight_ih + h @ self.weight_hh + self.bias
        i, f, g, o = (z[:, k * hs:(k + 1) * hs] for k in range(4))
        c_next = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        return ops.sigmoid(o) * ops.tanh(c_next), c_next
