"""The blog's hand-derived gradients (its "Backpropagation" section) against autonp's backward()."""
import numpy as np
import pytest

import autonp as anp
from conftest import central_diff


def blog_network(rng, m, n_in, n_hidden, n_out):
    X = rng.random((m, n_in))
    Y = np.eye(n_out)[rng.integers(0, n_out, m)]
    params = {"W1": rng.normal(0, 0.5, (n_in, n_hidden)), "b1": rng.normal(0, 0.1, (1, n_hidden)),
              "W2": rng.normal(0, 0.5, (n_hidden, n_out)), "b2": rng.normal(0, 0.1, (1, n_out))}
    return X, Y, params


def blog_formulas(X, Y, p):
    """The post's formulas, written out again from its text (not from autonp)."""
    m = X.shape[0]
    a1 = 1 / (1 + np.exp(-(X @ p["W1"] + p["b1"])))
    z2 = a1 @ p["W2"] + p["b2"]
    a2 = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)
    dz2 = a2 - Y
    dz1 = dz2 @ p["W2"].T * a1 * (1 - a1)
    return {"W1": X.T @ dz1 / m, "b1": dz1.sum(axis=0, keepdims=True) / m,
            "W2": a1.T @ dz2 / m, "b2": dz2.sum(axis=0, keepdims=True) / m}


def forward(X, P):
    a1 = anp.sigmoid(X @ P["W1"] + P["b1"])
    return anp.softmax(a1 @ P["W2"] + P["b2"], axis=1)


def categorical_xent(a2, Y):
    return -anp.sum(Y * anp.log(a2)) / Y.shape[0]


def printed_cost(a2, Y):
    """The cost the blog prints: binary cross-entropy summed over the ten softmax outputs."""
    return -anp.sum(Y * anp.log(a2) + (1 - Y) * anp.log(1 - a2)) / Y.shape[0]


def autonp_grads(X, Y, params, cost):
    P = {k: anp.Tensor(v, requires_grad=True, name=k) for k, v in params.items()}
    cost(forward(X, P), Y).backward()
    return {k: P[k].grad.numpy() for k in P}


SIZES = [(64, 784, 5, 10), (32, 20, 7, 3), (1, 6, 2, 4), (200, 50, 16, 10)]


@pytest.mark.parametrize("m,n_in,n_hidden,n_out", SIZES)
def test_backward_equals_blog_formulas_for_categorical_cross_entropy(m, n_in, n_hidden, n_out):
    X, Y, params = blog_network(np.random.default_rng(m + n_in), m, n_in, n_hidden, n_out)
    want = blog_formulas(X, Y, params)
    got = autonp_grads(X, Y, params, categorical_xent)
    for k in params:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-15, err_msg=k)


def test_blog_init_on_real_digits_gradients_match(mnist_path):
    """The blog's own initialisation (seed 42, randn*0.01) on 500 real MNIST digits."""
    with np.load(mnist_path) as d:
        X = d["x_train"][:500].reshape(500, -1) / 255.0
        Y = np.eye(10)[d["y_train"][:500]]
    np.random.seed(42)
    params = {"W1": np.random.randn(784, 5) * 0.01, "b1": np.zeros((1, 5)),
              "W2": np.random.randn(5, 10) * 0.01, "b2": np.zeros((1, 10))}
    want = blog_formulas(X, Y, params)
    got = autonp_grads(X, Y, params, categorical_xent)
    for k in params:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-17, err_msg=k)


def test_printed_cost_has_a_different_gradient_and_autonp_follows_finite_differences():
    X, Y, params = blog_network(np.random.default_rng(7), 16, 12, 5, 10)
    blog = blog_formulas(X, Y, params)
    got = autonp_grads(X, Y, params, printed_cost)

    def cost_of(name):
        def f(value):
            p = dict(params, **{name: value})
            return printed_cost(forward(X, {k: anp.Tensor(v) for k, v in p.items()}), Y).item()
        return f

    for k in params:
        fd = central_diff(cost_of(k), params[k])
        np.testing.assert_allclose(got[k], fd, rtol=1e-6, atol=1e-8, err_msg=k)
        rel = np.abs(blog[k] - fd).max() / np.abs(fd).max()
        assert rel > 1e-2, f"{k}: the blog's formula should not be the printed cost's gradient (rel {rel})"


@pytest.mark.parametrize("block_rows", [1, 7, 64, 1000])
def test_gradient_in_row_blocks_equals_blog_formulas(block_rows):
    from autonp import nn
    X, Y, params = blog_network(np.random.default_rng(11), 200, 30, 5, 10)
    want = blog_formulas(X, Y, params)
    P = {k: anp.Tensor(v, requires_grad=True) for k, v in params.items()}
    loss = anp.backward_in_blocks(
        lambda Xb, Yb: nn.cross_entropy(anp.sigmoid(Xb @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"], Yb),
        X, Y, block_rows=block_rows)
    for k in params:
        np.testing.assert_allclose(P[k].grad.numpy(), want[k], rtol=1e-10, atol=1e-15, err_msg=k)
    a1 = 1 / (1 + np.exp(-(X @ params["W1"] + params["b1"])))
    z2 = a1 @ params["W2"] + params["b2"]
    a2 = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.sum(Y * np.log(a2)) / len(X), rel=1e-12)
