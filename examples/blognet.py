"""The blog's 784-5-10 network written with autonp (shared by the examples)."""
from __future__ import annotations

import numpy as np

import autonp as anp
from autonp import nn


class BlogNet(nn.Module):
    """sigmoid hidden layer, softmax output: a2 = softmax(sigmoid(X W1 + b1) W2 + b2).

    ``init="blog"`` draws W1 then W2 as ``np.random.randn(...) * 0.01`` after ``np.random.seed(seed)``,
    exactly as the post's ``initialize_network`` does, so the run can be reproduced bit for bit.
    """

    def __init__(self, n_in: int = 784, n_hidden: int = 5, n_out: int = 10, seed: int = 42, dtype=np.float64):
        np.random.seed(seed)
        self.hidden = nn.Linear(n_in, n_hidden, init="blog", dtype=dtype, name="1")
        self.output = nn.Linear(n_hidden, n_out, init="blog", dtype=dtype, name="2")

    def logits(self, X) -> anp.Tensor:
        """σ(X·W1 + b1)·W2 + b2, each layer written as the post writes it, a product and then the bias, so that
        the graph and the backward pass show each of its formulas (``nn.Linear`` records a layer as one op)."""
        with anp.name_scope("hidden"):
            a1 = anp.sigmoid(X @ self.hidden.weight + self.hidden.bias)
        with anp.name_scope("output"):
            return a1 @ self.output.weight + self.output.bias

    def forward(self, X) -> anp.Tensor:
        return anp.softmax(self.logits(X), axis=1)

    def params(self) -> dict[str, nn.Parameter]:
        return {p.name: p for p in self.parameters()}
