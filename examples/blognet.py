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
        with anp.name_scope("hidden"):
            a1 = anp.sigmoid(self.hidden(X))
        with anp.name_scope("output"):
            return self.output(a1)

    def forward(self, X) -> anp.Tensor:
        return anp.softmax(self.logits(X), axis=1)

    def params(self) -> dict[str, nn.Parameter]:
        return {p.name: p for p in self.parameters()}
