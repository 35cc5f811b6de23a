"""A user's program, checked by mypy in `make test` (`mypy tests/typing`): the public API's type hints, as
py.typed ships them, accept what the docs show and give the types the docs promise. Not collected by pytest."""
from __future__ import annotations

import numpy as np

import autonp as anp
from autonp import nn, optim
from autonp.data import minibatches, one_hot
from autonp.datasets import MNIST, load_mnist
from autonp.gradcheck import GradcheckError

W: anp.Tensor = anp.Tensor(np.ones((3, 2)), requires_grad=True, name="W")
x: np.ndarray = np.ones((4, 3))
loss: anp.Tensor = anp.sum(anp.tanh(x @ W) ** 2)
entries: anp.Tape = anp.tape(loss)
first: str = entries[0].op
loss.backward(retain_graph=True)
grad: anp.Tensor | None = W.grad
values: np.ndarray = W.numpy()
number: float = loss.item()
shape: tuple[int, ...] = W.shape

page: str = anp.viz.explore(loss, "explore.html")
picture: str = anp.viz.render(loss, "graph", format="svg", grads=True)
dot_source: str = anp.viz.to_dot(loss, summary=True)

model = nn.Sequential(nn.Linear(784, 10), nn.ReLU())
opt = optim.Adam(model.parameters(), lr=1e-3)
for xb, yb in minibatches(np.ones((8, 784)), np.zeros(8, int), batch_size=4):
    opt.zero_grad()
    out: anp.Tensor = nn.cross_entropy(model(xb), yb)
    out.backward()
    opt.step()

targets: np.ndarray = one_hot(np.arange(3), 10)
data: MNIST = load_mnist(allow_download=False)
try:
    anp.gradcheck(lambda W: anp.sum(W ** 2), [W])
except GradcheckError as e:
    print(e)

with anp.no_grad():
    W -= 0.1 * W
with anp.name_scope("layer"):
    h = W * 2
