"""Dense layers and activations. Weights are stored ``(in_features, out_features)`` so that a layer
is ``x @ W + b``, as in the blog post (PyTorch stores the transpose)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import ops
from ..tensor import Tensor
from . import functional as F
from .module import Module, Parameter

__all__ = ["Linear", "Sigmoid", "Tanh", "ReLU", "Softmax", "LogSoftmax", "Flatten", "Dropout", "Embedding"]


def _init_weight(init: str | Callable, n_in: int, n_out: int, rng: np.random.Generator | None) -> np.ndarray:
    if callable(init):
        return np.asarray(init((n_in, n_out)), dtype=np.float64)
    if init == "blog":
        # the post: np.random.randn(...) * 0.01 from NumPy's global generator (seed it with np.random.seed)
        return np.random.randn(n_in, n_out) * 0.01
    rng = rng if rng is not None else np.random.default_rng()
    if init == "he":
        return rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out))
    if init == "xavier":
        limit = np.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-limit, limit, (n_in, n_out))
    raise ValueError(f"Linear: unknown init {init!r}; use 'xavier', 'he', 'blog' or a function of the shape")


class Linear(Module):
    """``y = x @ W + b`` with W of shape (in_features, out_features) and b of shape (1, out_features), recorded
    as one ``linear`` op (``anp.linear``: one tape entry, the bias added into the product's own array).

    init: 'xavier' (uniform, default), 'he' (normal, for ReLU), 'blog' (randn·0.01 from the global
    NumPy generator, so ``np.random.seed(42)`` then W1 then W2 reproduces the post bit for bit),
    or a function of the shape. Biases start at zero.
    """

    ops_only = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str | Callable = "xavier",
                 rng: np.random.Generator | None = None, dtype: Any = np.float64, name: str = ""):
        w = _init_weight(init, in_features, out_features, rng).astype(dtype)
        self.weight = Parameter(w, name=f"W{name}")
        self.bias = Parameter(np.zeros((1, out_features), dtype=dtype), name=f"b{name}") if bias else None

    def forward(self, x: Any) -> Tensor:
        if self.bias is None:
            return x @ self.weight
        if self.weight._arr.ndim == 2:
            return ops.linear(x, self.weight, self.bias)  # one tape entry
        return x @ self.weight + self.bias


class _Activation(Module):
    ops_only = True

    fn: Callable = staticmethod(lambda x: x)

    def forward(self, x: Any) -> Tensor:
        return type(self).fn(x)


class Sigmoid(_Activation):
    fn = staticmethod(ops.sigmoid)


class Tanh(_Activation):
    fn = staticmethod(ops.tanh)


class ReLU(_Activation):
    fn = staticmethod(ops.relu)


class Softmax(Module):
    ops_only = True

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x: Any) -> Tensor:
        return ops.softmax(x, axis=self.axis)


class LogSoftmax(Softmax):
    def forward(self, x: Any) -> Tensor:
        return ops.log_softmax(x, axis=self.axis)


class Flatten(Module):
    """(N, ...) → (N, product of the rest)."""

    ops_only = True

    def __init__(self, start_dim: int = 1):
        self.start_dim = start_dim

    def forward(self, x: Any) -> Tensor:
        return F.flatten(x, self.start_dim)


class Dropout(Module):
    """Zeroes each element with probability p in training (scaling the rest by 1/(1−p)); the identity
    after ``eval()``. ``seed`` (or ``rng``) makes the masks reproducible."""

    ops_only = True

    def __init__(self, p: float = 0.5, seed: int | None = None, rng: np.random.Generator | None = None):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng(seed)

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``; ``forward(indices)`` picks rows."""

    ops_only = True

    def __init__(self, num_embeddings: int, embedding_dim: int, rng: np.random.Generator | None = None,
                 dtype: Any = np.float64, name: str = ""):
        rng = rng if rng is not None else np.random.default_rng()
        self.weight = Parameter(rng.normal(0.0, 1.0, (num_embeddings, embedding_dim)).astype(dtype), name=f"E{name}")

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight)
