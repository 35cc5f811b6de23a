"""The checking tools, each shown passing on correct gradients and failing on wrong ones."""
import numpy as np
import pytest

import autonp as anp


def wrong_tanh():
    """tanh with a VJP that forgets the square: g·(1 − y) instead of g·(1 − y²)."""
    p = anp.primitive(np.tanh, name="my_tanh")
    p.defvjp(lambda g, ans, x: g * (1 - ans))
    return p


def good_tanh():
    p = anp.primitive(np.tanh, name="my_tanh")
    p.defvjp(lambda g, ans, x: g * (1 - ans ** 2))
    return p


def test_gradcheck_passes_a_correct_gradient_at_tight_tolerance():
    rng = np.random.default_rng(0)
    W = anp.Tensor(rng.normal(size=(4, 3)), requires_grad=True, name="W")
    b = anp.Tensor(rng.normal(size=(3,)), requires_grad=True, name="b")
    x = rng.normal(size=(5, 4))
    report = anp.gradcheck(lambda W, b: anp.softmax(anp.tanh(x @ W + b)), [W, b], atol=1e-9, rtol=1e-7)
    assert report.passed and [c.name for c in report.checks] == ["W", "b"]
    assert all(c.max_abs < 1e-9 for c in report.checks)


def test_gradcheck_catches_a_wrong_vjp_at_the_right_index():
    f = wrong_tanh()
    x = np.array([[0.1, 0.2], [-2.0, 0.05]])
    with pytest.raises(anp.GradcheckError) as e:
        anp.gradcheck(lambda t: anp.sum(f(t)), [x])
    check = e.value.report.checks[0]
    assert not check.passed
    # the error g·(y − y²) is largest where |tanh| is largest: element (1, 0)
    assert check.worst == (1, 0)
    y = np.tanh(-2.0)
    assert check.numeric == pytest.approx(1 - y ** 2, rel=1e-6)
    assert check.analytic == pytest.approx(1 - y, rel=1e-12)
    assert "FAIL" in str(e.value)


def test_fast_gradcheck_on_blog_sized_weights():
    rng = np.random.default_rng(1)
    X = rng.random((256, 784))
    Y = np.eye(10)[rng.integers(0, 10, 256)]
    W1 = anp.Tensor(rng.normal(0, 0.01, (784, 5)), requires_grad=True, name="W1")
    W2 = anp.Tensor(rng.normal(0, 0.01, (5, 10)), requires_grad=True, name="W2")
    loss = lambda W1, W2: -anp.sum(Y * anp.log(anp.softmax(anp.sigmoid(X @ W1) @ W2))) / 256  # noqa: E731
    report = anp.gradcheck(loss, [W1, W2], fast=True)
    assert report.passed and report.checks[0].worst[0] == "direction"
    # the VJP of the argument W1 is 1% off (argument 0, the data, has none: it never requires grad)
    bad = anp.primitive(lambda a, b: a @ b, name="bad_matmul").defvjp(None, lambda g, ans, a, b: 1.01 * (a.T @ g))
    with pytest.raises(anp.GradcheckError):
        anp.gradcheck(lambda W1: -anp.sum(Y * anp.log(anp.softmax(bad(X, W1) @ W2.data))) / 256, [W1], fast=True)


def test_gradcheck_float32_input_is_checked_in_float64_with_a_note():
    x = anp.Tensor(np.array([0.3, 0.7], np.float32), requires_grad=True)
    report = anp.gradcheck(lambda t: anp.exp(t), [x])
    assert report.passed and "float32" in report.notes[0] and "float64" in report.notes[0]


def test_gradgradcheck_passes_and_fails():
    x = np.array([0.3, -0.8, 1.1])
    assert anp.gradgradcheck(lambda t: anp.tanh(t) * anp.sigmoid(t), [x]).passed
    # first derivative right, second wrong: the vjp treats ans as a constant
    f = anp.primitive(np.exp, name="exp_flat_vjp")
    f.defvjp(lambda g, ans, x: g * anp.Tensor(np.exp(anp.Tensor(x).numpy())).numpy())
    assert anp.gradcheck(lambda t: f(t), [x]).passed
    with pytest.raises(anp.GradcheckError):
        anp.gradgradcheck(lambda t: f(t), [x])


def test_check_ops_names_the_injected_faulty_op_and_no_other():
    rng = np.random.default_rng(2)
    X = rng.random((32, 20))
    Y = np.eye(4)[rng.integers(0, 4, 32)]
    W1 = anp.Tensor(rng.normal(size=(20, 6)), requires_grad=True, name="W1")
    W2 = anp.Tensor(rng.normal(size=(6, 4)), requires_grad=True, name="W2")
    my_tanh = wrong_tanh()
    h = anp.sigmoid(X @ W1)
    h2 = my_tanh(h * 2 - 1)  # the faulty line
    loss = -anp.sum(Y * anp.log(anp.softmax(h2 @ W2))) / 32
    report = anp.check_ops(loss)
    assert [c.op for c in report.failures] == ["my_tanh"]
    assert "h2 = my_tanh(h * 2 - 1)" in report.first_failure.site
    assert "test_gradcheck.py" in report.first_failure.site
    assert {c.op for c in report.checks} >= {"matmul", "sigmoid", "mul", "sub", "my_tanh", "log_softmax", "sum"}
    with pytest.raises(anp.GradcheckError, match="my_tanh"):
        anp.check_ops(loss, raise_on_failure=True)
    # the same network with a correct custom op passes
    ok = good_tanh()
    loss2 = -anp.sum(Y * anp.log(anp.softmax(ok(h * 2 - 1) @ W2))) / 32
    assert anp.check_ops(loss2).passed


def test_check_ops_does_not_blame_a_kink():
    x = anp.Tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    report = anp.check_ops(anp.relu(x).sum())
    assert report.passed and report.checks[0].status == "kink"


def test_check_ops_needs_the_tape():
    x = anp.Tensor(np.ones(2), requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        anp.check_ops(y)


def test_compare_gradients_table_and_verdict():
    e = {"W": np.array([[1.0, 2.0]]), "b": np.array([0.5])}
    W = anp.Tensor(np.zeros((1, 2)), requires_grad=True)
    W.grad = anp.Tensor(np.array([[1.0, 2.0 + 1e-13]]))
    ok = anp.compare_gradients(e, {"W": W, "b": np.array([0.5])})
    assert ok.passed and ok["W"][0] == pytest.approx(1e-13, rel=1e-2) and "agree" in str(ok)
    bad = anp.compare_gradients(e, {"W": W, "b": np.array([0.6])})
    assert not bad.passed and bad["b"][1] == pytest.approx(0.2) and "DIFFER" in str(bad)
    with pytest.raises(ValueError, match="shape"):
        anp.compare_gradients(e, {"W": np.zeros(3), "b": np.zeros(1)})


def test_detect_anomaly_names_the_op_that_made_log0():
    x = anp.Tensor(np.array([1.0, 0.0]), requires_grad=True)
    with anp.detect_anomaly():
        with pytest.raises(anp.AnomalyError) as e:
            anp.log(x * 1.0)  # the line to be named
    msg = str(e.value)
    assert msg.startswith("log produced Inf in its forward") and "(2,)" in msg and "anp.log(x * 1.0)" in msg


def test_detect_anomaly_in_backward():
    x = anp.Tensor(np.array([0.0, 4.0]), requires_grad=True)
    y = anp.sqrt(x).sum()   # forward is finite: sqrt(0) = 0; backward 1/(2·0) = inf
    with anp.detect_anomaly(), pytest.raises(anp.AnomalyError, match="sqrt produced Inf in its backward"):
        y.backward()
    # without anomaly mode, silently infinite
    with np.errstate(divide="ignore"):
        anp.sqrt(x).sum().backward()
    assert np.isinf(x.grad.numpy()[0])
