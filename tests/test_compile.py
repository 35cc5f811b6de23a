"""anp.compile: the replayed NumPy code gives what eager autonp gives — on new values, not only on
the traced ones — for every op of the op table (whose replayed gradients are also checked against
central differences of the plain-NumPy function), second order, training steps with nn and optim,
random numbers and guards; and what it cannot follow, it refuses by name and line."""
import linecache
import re
import threading
import warnings

import numpy as np
import pytest
from test_op_table import _weights

import autonp as anp
from autonp import nn, optim
from conftest import central_diff
from op_db import CASES

# rows whose own test code leaves NumPy (np.asarray on a value to fix signs): refused, loudly
ESCAPING_ROWS = {"eigh_vectors", "svd_vectors_tall", "svd_vectors_wide"}


def _close(got, want, rtol=1e-12):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(want), initial=0))))


def _row_function(case):
    def f(*ts):
        out = case.f(np, *ts)
        loss = (out * _weights(case, out.shape)).sum()
        return out, anp.gradients(loss, list(ts))
    return f


def _eager(f, xs):
    out, grads = f(*[anp.Tensor(x, requires_grad=True) for x in xs])
    return out.numpy(), [None if g is None else g.numpy() for g in grads]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_op_replays_to_the_eager_values_and_gradients(case):
    f = _row_function(case)
    compiled = anp.compile(f)
    xs = case.inputs()
    if case.name in ESCAPING_ROWS:
        with pytest.raises(anp.CompileError, match="converted to a plain NumPy array"):
            compiled(*[anp.Tensor(x, requires_grad=True) for x in xs])
        return
    for scale in (1.0, 1.01, 0.995):  # the trace, then two replays on other values
        moved = [x * scale for x in xs]
        out, grads = compiled(*[anp.Tensor(x, requires_grad=True) for x in moved])
        want_out, want_grads = _eager(f, moved)
        _close(out.numpy(), want_out)
        for g, w in zip(grads, want_grads):
            if w is None:
                assert g is None
            else:
                _close(g.numpy(), w)
    # and, independently of eager autonp, the last replay's gradients against central differences of
    # the same function in plain NumPy
    R = _weights(case, out.shape)
    for i, x in enumerate(moved):
        def plain(v, i=i):
            args = list(moved)
            args[i] = v
            return float(np.sum(case.f(np, *args) * R))
        np.testing.assert_allclose(grads[i].numpy(), central_diff(plain, x), rtol=case.rtol, atol=case.atol,
                                   err_msg=f"{case.name}: input {i} vs finite differences")
    assert compiled.traces <= 2, compiled.source  # replays, not a trace per call


SECOND = [c for c in CASES if c.second_order and c.name not in ESCAPING_ROWS]


@pytest.mark.parametrize("case", SECOND, ids=[c.name for c in SECOND])
def test_second_order_replays_to_the_eager_hessian_vector_product(case):
    """A compiled function that differentiates twice (create_graph inside) gives eager's H·v."""
    def hvp(*ts_and_vs):
        ts, vs = ts_and_vs[:len(ts_and_vs) // 2], ts_and_vs[len(ts_and_vs) // 2:]
        out = case.f(np, *ts)
        loss = (out * _weights(case, out.shape)).sum()
        grads = anp.gradients(loss, list(ts), create_graph=True)
        gv = sum((g * v).sum() for g, v in zip(grads, vs) if g is not None and g.requires_grad)
        if not isinstance(gv, anp.Tensor):
            return [None] * len(ts)
        return anp.gradients(gv, list(ts))

    compiled = anp.compile(hvp)
    rng = np.random.default_rng(3)
    xs = case.inputs()
    vs = [rng.normal(size=x.shape) for x in xs]
    for scale in (1.0, 1.01):
        moved = [x * scale for x in xs]
        got = compiled(*[anp.Tensor(x, requires_grad=True) for x in moved], *vs)
        want = hvp(*[anp.Tensor(x, requires_grad=True) for x in moved], *vs)
        for g, w in zip(got, want):
            if w is None:
                assert g is None or not np.any(g.numpy())
            else:
                _close(g.numpy(), w.numpy(), rtol=1e-11)


def test_the_function_transforms_compile():
    """grad, value_and_grad over two arguments, hessian (a Jacobian of a gradient) and jvp."""
    def loss(w, x):
        return (anp.tanh(x @ w) ** 2).sum()

    def tangent(w, x, t):
        return anp.jvp(lambda w: anp.tanh(x @ w), (w,), (t,))[1]

    transforms = {"grad": anp.grad(loss), "value_and_grad": anp.value_and_grad(loss, argnums=(0, 1)),
                  "hessian": anp.hessian(loss), "jvp": tangent}
    rng = np.random.default_rng(0)
    for name, fn in transforms.items():
        compiled = anp.compile(fn)
        for _ in range(3):
            args = [rng.normal(size=(3, 2)), rng.normal(size=(4, 3))]
            args += [rng.normal(size=(3, 2))] if name == "jvp" else []
            got, want = compiled(*args), fn(*args)
            for g, w in zip(anp.pytree.flatten(got)[0], anp.pytree.flatten(want)[0], strict=True):
                _close(np.asarray(g), np.asarray(w))
        assert compiled.traces == 1, name


def test_a_replay_returns_what_eager_autonp_returns_down_to_0_d_arrays():
    """A 0-d array's gradient is a 0-d array eagerly, but a replay gave np.float64: NumPy's 0-d results are scalars,
    and the trace held them as they came, where eager autonp converts them (np.asarray). The conversion is
    recorded now. Types and values of every result, eager against replay."""
    fns = {"grad of a 0-d array": (anp.grad(lambda s, x: np.sum(x * s) * s), (np.array(2.0), np.ones(3))),
           "grad of a 0-d leaf in a dict": (anp.grad(lambda p: np.sum(p["W"] ** 2) * p["s"]),
                                            ({"W": np.ones((2, 2)), "s": np.array(2.0)},)),
           "value_and_grad": (anp.value_and_grad(lambda s: s ** 3), (np.array(1.5),)),
           "a loss's values": (lambda x: (anp.Tensor(x) ** 2).mean().numpy(), (np.ones(3),)),
           "hessian of a 0-d": (anp.hessian(lambda s: s ** 4), (np.array(1.5),)),
           "a Python number's gradient": (anp.grad(lambda s: s * 3.0), (2.0,))}
    for name, (fn, args) in fns.items():
        want = fn(*args)
        compiled = anp.compile(fn)
        for _ in range(2):
            got = compiled(*args)
            for g, w in zip(anp.pytree.flatten(got)[0], anp.pytree.flatten(want)[0], strict=True):
                assert type(g) is type(w), f"{name}: {type(g).__name__}, eagerly {type(w).__name__}"
                np.testing.assert_array_equal(g, w, err_msg=name)


# --------------------------------------------------------------------------- training steps

def _model(seed=0, dropout=True, norm=True):
    rng = np.random.default_rng(seed)
    layers = [nn.Linear(6, 8, rng=rng)] + ([nn.BatchNorm1d(8)] if norm else []) + [nn.ReLU()]
    layers += ([nn.Dropout(0.3, seed=1)] if dropout else []) + [nn.Linear(8, 3, rng=rng)]
    return nn.Sequential(*layers)


DATA_X = np.random.default_rng(1).normal(size=(40, 6))
DATA_Y = np.random.default_rng(2).integers(0, 3, 40)


def _step(model, opt, compiled):
    """One training step on cross-entropy (compiled or eager); returns the loss as a float."""
    def step(xb, yb):
        opt.zero_grad()
        loss = nn.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()
    return anp.compile(step) if compiled else step


def _train(compiled, make_opt, steps=12, **model_kw):
    model = _model(**model_kw)
    opt = make_opt(model.parameters())
    run = _step(model, opt, compiled)
    losses = [run(DATA_X[i % 4 * 10:(i % 4 + 1) * 10], DATA_Y[i % 4 * 10:(i % 4 + 1) * 10]) for i in range(steps)]
    return losses, model, opt, run


OPTIMIZERS = {"sgd": lambda p: optim.SGD(p, lr=0.1), "momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
              "nesterov": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
              "adam": lambda p: optim.Adam(p, lr=0.01), "adamw": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
              "adagrad": lambda p: optim.Adagrad(p, lr=0.1), "rmsprop": lambda p: optim.RMSprop(p, lr=0.01)}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_compiled_training_step_follows_the_eager_one(name):
    """Parameters, optimizer state, BatchNorm's running statistics and Dropout's masks: the same
    after 12 steps (momentum buffers created in the first step, a step counter, running means)."""
    want_losses, want_model, want_opt, _ = _train(False, OPTIMIZERS[name], dropout=True)
    got_losses, got_model, got_opt, run = _train(True, OPTIMIZERS[name], dropout=True)
    assert all(isinstance(v, float) for v in got_losses)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-12)
    want, got = want_model.state_dict(), got_model.state_dict()
    for k in want:
        # Adam-like updates divide by √v: the noise-level gradient of the bias before BatchNorm
        # (0 mathematically) makes parameters differ far below the gradients' own rounding
        _close(got[k], want[k], rtol=1e-9)
    sw, sg = want_opt.state_dict(), got_opt.state_dict()
    assert sw["counters"] == sg["counters"] and all(type(v) is int for v in sg["counters"].values())
    assert run.traces <= 2, run.source


def test_a_convolutional_step_follows_the_eager_one():
    """Conv2d (padding, two layers), BatchNorm2d, max and average pooling, Dropout, LayerNorm, Adam."""
    def make():
        rng = np.random.default_rng(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(4, 6, 3, rng=rng), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                             nn.Dropout(0.2, seed=3), nn.Linear(6, 5, rng=rng), nn.LayerNorm(5))

    X = np.random.default_rng(1).normal(size=(8, 1, 10, 10))
    y = np.random.default_rng(2).integers(0, 5, 8)
    runs = []
    for compiled in (False, True):
        model = make()
        run = _step(model, optim.Adam(model.parameters(), lr=0.01), compiled)
        runs.append(([run(X * (1 + 0.01 * k), y) for k in range(5)], model.state_dict()))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-12)
    for k, want in runs[0][1].items():
        _close(runs[1][1][k], want, rtol=1e-9)
    assert "    gemm(" in run.source  # the replay adds into the grid as the eager convolution does (_blas.gemm)


def test_a_recurrent_loss_unrolls_to_the_eager_gradients():
    cell = nn.LSTMCell(3, 4, rng=np.random.default_rng(0))

    def sequence_loss(xs):
        state, total = None, 0.0
        for t in range(xs.shape[0]):
            state = cell(xs[t], state)
            total = total + (state[0] * state[0]).sum()
        cell.zero_grad()
        total.backward()
        return total.item(), [p.grad.numpy() for p in cell.parameters()]

    compiled = anp.compile(sequence_loss)
    for seed in (3, 4, 5):
        xs = np.random.default_rng(seed).normal(size=(6, 2, 3))
        got, want = compiled(xs), sequence_loss(xs)
        assert got[0] == pytest.approx(want[0], rel=1e-14)
        for g, w in zip(got[1], want[1]):
            _close(g, w)
    assert compiled.traces <= 2


def test_a_functional_step_takes_parameters_and_returns_the_updated_ones_and_the_loss():
    """The JAX style: parameters in (plain arrays), updated parameters and the loss out."""
    def loss(W1, b1, W2, b2, X, Y):
        return nn.cross_entropy(anp.sigmoid(X @ W1 + b1) @ W2 + b2, Y)

    def step(params, X, Y):
        value, grads = anp.value_and_grad(loss, argnums=(0, 1, 2, 3))(*params, X, Y)
        return [p - 0.5 * g for p, g in zip(params, grads)], value.item()

    rng = np.random.default_rng(0)
    X, Y = rng.random((50, 8)), np.eye(3)[rng.integers(0, 3, 50)]
    params = [rng.normal(size=(8, 4)) * 0.1, np.zeros((1, 4)), rng.normal(size=(4, 3)) * 0.1, np.zeros((1, 3))]
    compiled, eager = anp.compile(step), params
    for _ in range(5):
        params, got = compiled(params, X, Y)
        eager, want = step(eager, X, Y)
        assert got == pytest.approx(want, rel=1e-14) and type(got) is float
        for p, e in zip(params, eager):
            assert type(p) is np.ndarray
            _close(p, e)
    assert compiled.traces == 1


def test_a_compiled_step_changes_parameters_in_place_and_grads_are_fresh_arrays():
    _, model, _, run = _train(True, OPTIMIZERS["sgd"], steps=3, dropout=False)
    w = model.parameters()[0]
    before = w.data
    run(DATA_X[:10], DATA_Y[:10])
    assert w.data is before  # SGD updates in place, as eagerly
    g1 = w.grad.numpy()
    kept = g1.copy()
    run(DATA_X[10:20], DATA_Y[10:20])
    assert w.grad.numpy() is not g1 and np.array_equal(g1, kept)  # the next step did not write into it


def test_large_values_are_released_after_their_last_use_and_the_results_stay_right():
    """Arrays of 4 KiB and more are deleted in the generated code after their last use (views keep
    their memory alive, x.T written where it is used keeps x)."""
    rng = np.random.default_rng(0)
    W1 = anp.Tensor(rng.normal(size=(50, 40)) * 0.1, requires_grad=True, name="W1")
    W2 = anp.Tensor(rng.normal(size=(40, 30)) * 0.1, requires_grad=True, name="W2")

    def f(X, Y):
        W1.grad = W2.grad = None
        h = anp.tanh(X @ W1)
        out = anp.softmax(h @ W2, axis=1)
        loss = ((out - Y) ** 2).sum() + (h[:, :20].T @ h[:, 20:]).sum()
        loss.backward()
        return loss.item(), W1.grad, W2.grad, h.detach().T

    compiled = anp.compile(f)
    for seed in (1, 2, 3):
        r = np.random.default_rng(seed)
        X, Y = r.normal(size=(64, 50)), r.random((64, 30))
        got, want = compiled(X, Y), f(X, Y)
        assert got[0] == pytest.approx(want[0], rel=1e-13)
        for g, w in zip(got[1:], want[1:]):
            _close(g.numpy(), w.numpy())
    assert "\n    del " in compiled.source


def test_backward_in_blocks_compiles_to_the_same_full_batch_gradient():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(1000, 7)), np.eye(3)[rng.integers(0, 3, 1000)]
    W = anp.Tensor(rng.normal(size=(7, 3)) * 0.1, requires_grad=True, name="W")
    b = anp.Tensor(np.zeros((1, 3)), requires_grad=True, name="b")

    def step(X, Y):
        W.grad = b.grad = None
        total = anp.backward_in_blocks(lambda x, y: nn.cross_entropy(x @ W + b, y), X, Y, block_rows=256)
        return total, W.grad, b.grad

    compiled = anp.compile(step)
    for scale in (1.0, 1.1):
        loss, gw, gb = compiled(X * scale, Y)
        want_loss, want_w, want_b = step(X * scale, Y)
        assert loss == pytest.approx(want_loss, rel=1e-12)
        _close(gw.numpy(), want_w.numpy())
        _close(gb.numpy(), want_b.numpy())
    assert compiled.traces <= 2  # the .grad that is None or not at the call is part of the signature
    assert compiled.source.count("@") >= 8  # 4 blocks, straight-line


# --------------------------------------------------------------------------- guards

def test_python_branch_on_a_value_retraces_when_the_other_branch_is_taken():
    def f(x):
        loss = (x * x).sum()
        if loss.item() > 1:  # a guard on the comparison, not on the value
            loss = loss * 10.0
        loss.backward()
        return loss.item(), x.grad

    compiled = anp.compile(f)
    for v, traces in ((2.0, 1), (3.0, 1), (0.1, 2), (0.2, 2), (5.0, 2)):
        x = anp.Tensor(np.full(3, v), requires_grad=True)
        value, g = compiled(x)
        want = 3 * v * v * (10.0 if 3 * v * v > 1 else 1.0)
        assert value == pytest.approx(want, rel=1e-15) and isinstance(value, float)
        _close(g.numpy(), np.full(3, 2 * v * (10.0 if 3 * v * v > 1 else 1.0)))
        assert compiled.traces == traces


@pytest.mark.parametrize("conversion", ["bool", "float", "int", "tolist", "index"])
def test_each_way_a_value_reaches_python_is_guarded(conversion):
    def f(x):
        s = x.sum()
        if conversion == "bool":
            k = 2.0 if bool(s > 0) else 3.0
        elif conversion == "float":
            k = float(s)
        elif conversion == "int":
            k = float(int(s))
        elif conversion == "tolist":
            k = float(len([v for v in x.tolist() if v > 0]))
        else:
            k = float([1.0, 2.0, 3.0, 4.0][anp.Tensor(np.int64(0)) + (s > 0).astype(np.int64)[()]])
        return x * k

    compiled = anp.compile(f)
    for v in (1.0, 1.0, -1.0, 2.5, -1.0):
        x = np.full(2, v)
        _close(compiled(anp.Tensor(x)).numpy(), f(anp.Tensor(x)).numpy())
    assert compiled.traces >= 2  # the other value traced again


def test_a_shape_that_depends_on_the_values_is_guarded():
    """x[x > 0] has as many elements as x has positive ones: the gradient's code after it was traced
    for one count (the broadcast in sum's VJP), so another count traces again."""
    def f(x):
        y = x[x > 0]
        loss = (y * y).sum() + np.nonzero(x.detach().numpy())[0].size
        loss.backward()
        return loss.item(), x.grad

    compiled = anp.compile(f)
    for v in ([1.0, -2.0, 3.0], [1.0, 2.0, 3.0], [-1.0, 0.0, 3.0], [4.0, -2.0, 1.0]):
        got, want = compiled(anp.Tensor(v, requires_grad=True)), f(anp.Tensor(v, requires_grad=True))
        assert got[0] == want[0]
        _close(got[1].numpy(), want[1].numpy())
    assert compiled.traces == 3  # 2, 3 and 1 positive values; the fourth call replays the first trace


def test_a_guard_failing_after_an_in_place_update_puts_the_inputs_back():
    """BatchNorm moves its running statistics before the loss's softmax checks its sums: a replay
    whose guard fails must not leave the statistics moved twice."""
    model = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.BatchNorm1d(4))
    eager_model = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.BatchNorm1d(4))

    def make(m):
        def f(x):
            out = m(x)
            if out.sum().item() > 0:
                return out * 2.0
            return out
        return f

    compiled, eager = anp.compile(make(model)), make(eager_model)
    rng = np.random.default_rng(5)
    for _ in range(12):
        x = rng.normal(size=(5, 3))
        _close(compiled(x).numpy(), eager(x).numpy())
    _close(model.layers[1].running_mean, eager_model.layers[1].running_mean)
    _close(model.layers[1].running_var, eager_model.layers[1].running_var)


def test_a_signature_whose_guard_keeps_failing_runs_eagerly_with_a_warning():
    compiled = anp.compile(lambda x: x * float(x.sum()), max_traces=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for v in range(6):
            _close(compiled(anp.Tensor(np.full(2, float(v)))).numpy(), np.full(2, 2.0 * v * v))
    assert compiled.traces == 3
    assert any("runs eagerly" in str(w.message) for w in caught)



def _decaying_lr_run(compiled: bool, as_numpy: bool, epochs: int, per_epoch: int) -> tuple:
    """Train with ``opt.lr`` set anew each epoch (a Python float, or a NumPy scalar); the parameters and the
    function (its ``traces``), and the warnings raised, each with its line."""
    rng = np.random.default_rng(3)
    model = nn.Linear(4, 3, rng=rng)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)

    def step(x, y):
        opt.zero_grad()
        loss = nn.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss
    f = anp.compile(step) if compiled else step
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(epochs):
            lr = 0.1 * 0.9 ** epoch
            opt.lr = np.float64(lr) if as_numpy else lr
            for _ in range(per_epoch):
                f(x, y)  # (the line the warning names)
    return model.weight.numpy().copy(), f, [(str(w.message), w.filename, w.lineno) for w in caught]


def test_a_python_number_that_changes_on_every_call_is_named_once_and_a_numpy_scalar_follows_without_tracing():
    """``opt.lr = lr`` with a new Python float before every call: each value is a constant of its trace, so every
    call traced (6 ms against 0.2 ms a replay, for a small MLP step) and nothing said so. The third such trace in a
    row warns, once, at the user's line, naming the number and the values; the steps stay right. A NumPy scalar,
    as the warning advises, is an input: one trace follows the whole schedule."""
    want, _, _ = _decaying_lr_run(False, False, 8, 1)
    got, f, caught = _decaying_lr_run(True, False, 8, 1)
    _close(got, want)
    assert f.traces == 8 and len(caught) == 1
    message, filename, lineno = caught[0]
    # (the first call traces with no velocity yet, the second with one: the third to fifth only for the number)
    assert "traced again on each of the last 3 calls" in message and "lr (0.0729 -> 0.06561)" in message, message
    assert "np.float64" in message and filename == __file__
    assert linecache.getline(filename, lineno).strip().startswith("f(x, y)")
    got, f, caught = _decaying_lr_run(True, True, 8, 1)
    _close(got, want)
    assert f.traces == 2 and caught == []


def test_a_schedule_that_changes_a_python_number_once_an_epoch_traces_once_an_epoch_without_a_warning():
    want, _, _ = _decaying_lr_run(False, False, 5, 3)
    got, f, caught = _decaying_lr_run(True, False, 5, 3)
    _close(got, want)
    assert f.traces == 6 and caught == []  # (one more: the momentum's velocity is None on the first call)

# --------------------------------------------------------------------------- random numbers

def test_np_random_inside_is_drawn_anew_on_every_replay():
    def f(x):
        return x * np.random.rand(3)

    compiled = anp.compile(f)
    x = anp.Tensor(np.ones(3))
    np.random.seed(0)
    got = [compiled(x).numpy() for _ in range(3)]
    np.random.seed(0)
    want = [f(x).numpy() for _ in range(3)]
    for g, w in zip(got, want):
        _close(g, w)
    assert not np.allclose(got[0], got[1])


def test_random_numbers_the_tracer_cannot_see_are_refused():
    from numpy.random import rand  # bound before tracing: not recorded

    with pytest.raises(anp.CompileError, match="global generator"):
        anp.compile(lambda x: x * rand(3))(anp.Tensor(np.ones(3)))


def test_a_generator_argument_and_dropout_masks_advance_as_eagerly():
    def f(x, rng):
        return nn.functional.dropout(x, 0.5, True, rng) * rng.normal(size=x.shape)

    compiled = anp.compile(f)
    x = anp.Tensor(np.ones((4, 5)), requires_grad=True)
    r1, r2 = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(3):
        _close(compiled(x, r1).numpy(), f(x, r2).numpy())


# --------------------------------------------------------------------------- refusals and the cache

def test_leaving_numpy_is_refused_with_the_users_line():
    def f(x):
        y = anp.exp(x)
        return anp.Tensor(np.asarray(y.detach().numpy()) + 1)  # np.asarray: the replay cannot follow

    with pytest.raises(anp.CompileError) as err:
        anp.compile(f)(anp.Tensor(np.ones(2), requires_grad=True))
    assert "test_compile.py" in str(err.value) and "np.asarray(y.detach().numpy())" in str(err.value)


class _Hidden:
    buffer = np.zeros(3)  # a class attribute: the tracer does not look into classes


def test_writing_a_traced_value_into_an_array_it_did_not_receive_is_refused():
    def f(x):
        np.add(x.detach().numpy(), 1.0, out=_Hidden.buffer)
        return x

    with pytest.raises(anp.CompileError, match="did not receive"):
        anp.compile(f)(anp.Tensor(np.ones(3)))


def test_tensors_in_the_closure_of_a_function_it_calls_are_read_on_every_call():
    def make_loss(W):
        return lambda x: (x @ W).sum()

    W = anp.Tensor(np.ones((3, 2)), requires_grad=True)
    loss = make_loss(W)

    def f(x):  # reads W only inside loss
        return loss(x).item()

    compiled = anp.compile(f)
    x = np.arange(6.0).reshape(2, 3)
    assert compiled(x) == 30.0
    W.data = W.data * 2.0  # out of place, between calls
    assert compiled(x) == 60.0


SEEN_BUFFER = np.zeros(3)


def test_an_array_the_function_names_is_an_input_and_written_on_every_replay():
    def f(x):
        np.add(x.detach().numpy(), 1.0, out=SEEN_BUFFER)
        return x * 2.0

    compiled = anp.compile(f)
    for v in (1.0, 5.0, 7.0):
        compiled(anp.Tensor(np.full(3, v)))
        assert SEEN_BUFFER.tolist() == [v + 1.0] * 3
    assert compiled.traces == 1


def test_signatures_are_cached_up_to_the_bound():
    compiled = anp.compile(lambda x, k: (x * k).sum(), max_signatures=2)
    for n in (2, 3, 2, 4, 2):  # shapes 2, 3, 4: 3 signatures for a cache of 2
        compiled(anp.Tensor(np.ones(n)), 2.0)
    assert compiled.traces == 3
    compiled(anp.Tensor(np.ones(3)), 2.0)  # 3 was dropped (least recently used)
    assert compiled.traces == 4
    compiled(anp.Tensor(np.ones(3)), 5.0)  # Python numbers are part of the signature
    assert compiled.traces == 5
    assert compiled(anp.Tensor(np.ones(3)), 5.0).item() == 15.0


SCALE = 2.0


def test_numbers_the_function_reads_from_globals_closures_and_modules_are_part_of_the_signature():
    global SCALE
    drop = nn.Dropout(0.5, seed=0)
    offset = 1.0

    def f(x):
        return drop(x * SCALE + offset)

    compiled = anp.compile(f)
    x = anp.Tensor(np.ones(4))
    drop.eval()
    assert compiled(x).numpy().tolist() == [3.0] * 4
    SCALE = 3.0
    assert compiled(x).numpy().tolist() == [4.0] * 4
    offset = 2.0  # noqa: F841 - read by f through its closure
    assert compiled(x).numpy().tolist() == [5.0] * 4
    drop.train()
    drop.p = 0.0  # a module's number
    assert compiled(x).numpy().tolist() == [5.0] * 4
    assert compiled.traces == 4
    SCALE = 2.0


def test_numpy_scalars_are_inputs_so_a_changing_rate_does_not_retrace():
    model = _model(dropout=False, norm=False)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(xb, yb, lr):
        opt.lr = lr
        opt.zero_grad()
        loss = nn.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    compiled = anp.compile(step)
    eager_model = _model(dropout=False, norm=False)
    eager_opt = optim.SGD(eager_model.parameters(), lr=0.1)
    for k in range(6):
        lr = np.float64(0.1 * 0.5 ** k)
        got = compiled(DATA_X[:10], DATA_Y[:10], lr)
        eager_opt.lr = lr
        eager_opt.zero_grad()
        loss = nn.cross_entropy(eager_model(DATA_X[:10]), DATA_Y[:10])
        loss.backward()
        eager_opt.step()
        assert got == pytest.approx(loss.item(), rel=1e-14)
    assert compiled.traces <= 2


class Recorder:
    def __init__(self):
        self.last = None
        self.history = []


def test_values_the_function_stores_on_objects_are_stored_by_every_replay():
    rec = Recorder()

    def f(x):
        y = (x * x).sum()
        rec.last = y
        return x * 2.0

    compiled = anp.compile(f)
    for v in (1.0, 2.0, 3.0):
        compiled(anp.Tensor(np.full(3, v)))
        assert isinstance(rec.last, anp.Tensor) and rec.last.item() == 3 * v * v
    assert compiled.traces <= 2  # rec.last was None, then a Tensor: the signature of rec changed once

    def g(x):
        rec.history.append(x.sum())
        return x

    with pytest.raises(anp.CompileError, match="into Recorder.history"):
        anp.compile(g)(anp.Tensor(np.ones(2)))


def test_returned_constants_are_copies():
    compiled = anp.compile(lambda x: (x * 2.0, anp.Tensor(np.ones(2))))
    a, c = compiled(anp.Tensor(np.ones(2)))
    c.data[:] = 7.0
    _, c2 = compiled(anp.Tensor(np.ones(2)))
    assert c2.numpy().tolist() == [1.0, 1.0]


def test_threads_replay_one_compiled_function_concurrently():
    compiled = anp.compile(lambda x: anp.gradients((anp.sin(x) * x).sum(), [x])[0])
    x0 = np.linspace(0, 1, 50)
    compiled(anp.Tensor(x0, requires_grad=True))
    errors = []

    def worker(k):
        for i in range(50):
            x = x0 + k + i * 1e-3
            got = compiled(anp.Tensor(x, requires_grad=True)).numpy()
            if not np.allclose(got, np.cos(x) * x + np.sin(x), rtol=1e-14):
                errors.append((k, i))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and compiled.traces == 1


# --------------------------------------------------------------------------- the source

def test_the_source_is_readable_numpy_with_names_and_the_users_lines():
    rng = np.random.default_rng(0)
    W1 = anp.Tensor(rng.normal(size=(4, 3)), requires_grad=True, name="W1")

    def loss_and_grad(X, Y):
        W1.grad = None
        z1 = X @ W1
        z1.name = "z1"
        a1 = anp.tanh(z1)
        a1.name = "a1"
        loss = ((a1 - Y) ** 2).mean()
        loss.backward()
        return loss

    compiled = anp.compile(loss_and_grad)
    compiled(rng.normal(size=(5, 4)), rng.normal(size=(5, 3)))
    src = compiled.source
    assert src.startswith("def loss_and_grad(X, Y, W1")
    assert re.search(r"^    z1 = X @ W1$", src, re.M), src
    assert re.search(r"^    a1 = np\.tanh\(z1, out=z1\)$", src, re.M), src  # z1 is read by nothing else: its memory
    assert re.search(r"^    dW1 = X\.T @ dz1$", src, re.M), src  # the gradient of z1, by name
    assert "# ∂ tanh    <- test_compile.py:" in src and "a1 = anp.tanh(z1)" in src
    assert "Tensor" not in src and "anp." not in src.split("#")[0]
    compile(src, "<check>", "exec")  # it is Python


def test_dead_values_are_not_computed():
    def f(x, y):
        unused = anp.exp(x) @ y  # noqa: F841 - never used
        loss = (x * 3.0).sum()
        loss.backward()
        return x.grad

    compiled = anp.compile(f)
    compiled(anp.Tensor(np.ones(3), requires_grad=True), np.ones((3, 2)))
    assert "exp" not in compiled.source and "@" not in compiled.source


def test_printing_or_formatting_a_traced_value_is_refused(capsys):
    """A replay would print nothing, and a returned f-string would be the traced call's text every call."""
    for f in (lambda x: print(f"sum {x.sum().item():.1f}") or x * 2.0,
              lambda x: (x * 2.0, f"loss {x.sum().item():.3f}"),
              lambda x: (x * 2.0, str(x.sum().item()))):
        with pytest.raises(anp.CompileError, match="printed or formatted"):
            anp.compile(f)(anp.Tensor(np.ones(3)))
    assert capsys.readouterr().out == ""


def test_source_before_the_first_call_is_an_error_that_says_so():
    with pytest.raises(RuntimeError, match="call the function once first"):
        _ = anp.compile(lambda x: x).source


def test_threads_tracing_at_once_leave_numpy_random_as_it_was():
    """Traces are taken one at a time (their stand-ins sit in shared objects): both right, np.random restored."""
    original = np.random.rand
    start = threading.Barrier(2)
    results = {}

    def worker(k):
        def f(x):
            noise = np.random.rand(3)
            return x * float(k) + noise * 0.0
        start.wait(timeout=10)
        results[k] = anp.compile(f)(anp.Tensor(np.ones(3))).numpy().tolist()

    threads = [threading.Thread(target=worker, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {1: [1.0] * 3, 2: [2.0] * 3}
    assert np.random.rand is original


def test_concurrent_first_calls_on_a_shared_model_leave_no_stand_in():
    """Four threads call one compiled step for the first time at once (issue 19: 165 of 400 calls raised
    CompileError, and a Parameter could be left holding the tracer's stand-in)."""
    from autonp.compiler._trace import Sym
    for _ in range(10):
        net = nn.Sequential(nn.Linear(4, 8, rng=np.random.default_rng(0)), nn.Tanh(),
                            nn.Linear(8, 3, rng=np.random.default_rng(1)))
        opt = optim.SGD(net.parameters(), lr=0.1)
        X, y = np.random.default_rng(2).normal(size=(16, 4)), np.arange(16) % 3
        compiled = _step(net, opt, compiled=True)
        start, errors, order = threading.Barrier(4), [], threading.Lock()

        def worker():
            start.wait(timeout=10)
            try:
                with order:  # the steps update one model: one at a time, as eager code would need too
                    compiled(X, y)
            except Exception as e:  # noqa: BLE001 - any exception is the failure
                errors.append(e)
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert not any(isinstance(p._arr, Sym) for p in net.parameters())
        net.state_dict()
        ref = nn.Sequential(nn.Linear(4, 8, rng=np.random.default_rng(0)), nn.Tanh(),
                            nn.Linear(8, 3, rng=np.random.default_rng(1)))
        ropt = optim.SGD(ref.parameters(), lr=0.1)
        for _ in range(4):  # four steps, whoever ran them: the parameters of four eager steps
            ropt.zero_grad()
            nn.cross_entropy(ref(X), y).backward()
            ropt.step()
        for p, q in zip(net.parameters(), ref.parameters()):
            np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12)


class _Holder:
    pass


def test_a_parameter_the_function_cannot_see_is_refused_not_frozen():
    """W sits where the walk does not look (a class attribute): tracing would bake in its values."""
    _Holder.W = anp.Tensor(np.ones((3, 2)), requires_grad=True, name="W")

    def f(x):
        return (x @ _Holder.W).sum().item()

    compiled = anp.compile(f)
    with pytest.raises(anp.CompileError, match=r"Tensor\(3, 2\) that requires grad \('W'\)"):
        compiled(np.ones((2, 3)))  # the first call's result stands; the second traces with more walked
        compiled(np.ones((2, 3)))


def test_inputs_named_like_the_names_the_generated_code_uses_do_not_shadow_them():
    def f(float, c0, v1):  # noqa: A002 - the point of the test
        return anp.Tensor(float) * bool((c0 > 0).all()) + np.ones(2) + v1

    compiled = anp.compile(f)
    for k in (1.0, 2.0):
        got = compiled(np.full(2, k), np.ones(2), np.full(2, 3.0)).numpy()
        assert got.tolist() == [k + 4.0] * 2


def test_an_exception_while_tracing_keeps_its_type_and_leaves_no_stand_in_behind():
    rec = Recorder()

    def f(x, fail):
        rec.last = x.sum()
        if fail:
            raise KeyError("the user's own error")
        return x * 2.0

    compiled = anp.compile(f)
    with pytest.raises(KeyError, match="the user's own error"):
        compiled(anp.Tensor(np.ones(3)), True)
    assert type(rec.last._arr) is np.ndarray and rec.last.item() == 3.0
    assert compiled(anp.Tensor(np.ones(3)), False).numpy().tolist() == [2.0] * 3


def test_an_error_on_replay_has_the_type_eager_autonp_gives_it_and_names_the_op_and_lines():
    def f(a):
        return np.linalg.inv(a).sum()

    compiled = anp.compile(f)
    compiled(anp.Tensor(np.eye(2), requires_grad=True))
    singular = np.zeros((2, 2))
    with pytest.raises(anp.OpError) as eager:
        f(anp.Tensor(singular, requires_grad=True))
    with pytest.raises(anp.OpError) as replayed:
        compiled(anp.Tensor(singular, requires_grad=True))
    text = str(replayed.value)
    assert "Singular matrix" in str(eager.value) and "Singular matrix" in text
    assert text.startswith("inv") and "np.linalg.inv(a)" in text and "return np.linalg.inv(a).sum()" in text


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-14)])
def test_an_sgd_step_whose_gradient_nothing_else_reads_adds_the_product_into_the_weights(dtype, rtol):
    """zero_grad after step: each weight's gradient is a product read only by its update, so the replay makes
    the update one BLAS call (w -= lr·(a @ b)); the parameters follow the eager ones to rounding, step by step.
    With the gradients kept (zero_grad first) or a momentum buffer, the gradient is read again: no fusion."""
    def make(after, momentum=0.0):
        rng = np.random.default_rng(0)
        model = nn.Sequential(nn.Linear(6, 16, rng=rng), nn.ReLU(), nn.Linear(16, 3, rng=rng))
        for p in model.parameters():
            p.data = p.data.astype(dtype)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=momentum)

        def step(xb, yb):
            if not after:
                opt.zero_grad()
            nn.cross_entropy(model(xb), yb).backward()
            opt.step()
            if after:
                opt.zero_grad()
        return model, step

    X = DATA_X.astype(dtype)
    for after, momentum, fused in ((True, 0.0, True), (False, 0.0, False), (True, 0.9, False)):
        (want_model, eager), (got_model, traced) = make(after, momentum), make(after, momentum)
        compiled = anp.compile(traced)
        for i in range(6):
            xb, yb = X[i % 4 * 10:(i % 4 + 1) * 10], DATA_Y[i % 4 * 10:(i % 4 + 1) * 10]
            eager(xb, yb)
            compiled(xb, yb)
            for got, want in zip(got_model.parameters(), want_model.parameters()):
                _close(got.numpy(), want.numpy(), rtol=rtol)
        assert ("subtract_scaled_product(" in compiled.source) == fused, compiled.source
        assert compiled.source.count("subtract_scaled_product(") == (2 if fused else 0)  # the two weights


def test_an_update_is_not_fused_past_a_write_into_what_its_product_reads():
    """d = a @ b; u = c·d; a *= 2; w -= u: the product must read a before the write, so the three stay apart
    (and without the write they become one call, with the same result to rounding)."""
    def update(a, b, w, write):
        d = a @ b
        u = 0.5 * d
        if write:
            a *= 2
        w -= u

    rng = np.random.default_rng(3)
    for write in (True, False):
        a, b, w = rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
        want_a, want_w = a.copy(), w.copy()
        update(want_a, b, want_w, write)
        compiled = anp.compile(lambda a, b, w: update(a, b, w, write))
        got_a, got_w = a.copy(), w.copy()
        compiled(got_a, b, got_w)
        assert ("subtract_scaled_product(" in compiled.source) != write, compiled.source
        a2, w2 = a.copy(), w.copy()
        compiled(a2, b, w2)  # the replay, on fresh copies
        for got in (got_w, w2):
            np.testing.assert_allclose(got, want_w, rtol=1e-14, atol=1e-14)
        np.testing.assert_array_equal(a2, want_a)


def test_an_assignment_into_a_copy_of_a_fresh_value_is_replayed():
    """``out = x * 1.0; out[1:, ::2] = ...``: the trace copies the fresh product before the write, and the copy
    is elided (the product is read by nothing else) — the write then goes into the product's memory. It was
    dropped instead (found by the fuzzer's compiled check: the replay's value used the unwritten product)."""
    def f(x):
        out = x * 1.0
        out[1:, ::2] = x[:2, 1::2] * 2.0
        loss = (out * out).sum()
        loss.backward()
        return loss, out, x.grad

    def plain(x):  # the same in NumPy, and its gradient by hand: d/dx Σ out² = 2·out·∂out/∂x
        out = x * 1.0
        out[1:, ::2] = x[:2, 1::2] * 2.0
        g_out = 2 * out
        g = g_out.copy()
        g[1:, ::2] = 0.0
        g[:2, 1::2] += 2.0 * g_out[1:, ::2]
        return (out * out).sum(), out, g

    compiled = anp.compile(f)
    rng = np.random.default_rng(0)
    for _ in range(3):  # the trace, then two replays
        x = rng.normal(size=(3, 4))
        got = compiled(anp.Tensor(x, requires_grad=True))
        for g, w in zip(got, plain(x)):
            np.testing.assert_allclose(np.asarray(g.numpy()), w, rtol=1e-14, atol=1e-14)
    assert compiled.traces == 1


def test_an_assignment_through_a_mask_the_function_reads_follows_the_mask():
    """``out[mask] = ...`` and ``np.piecewise`` with a mask from the function's globals (an input of the trace):
    the backward asked which entries a repeated index overwrote by reading the mask's values, which a trace cannot
    (a CompileError); a single mask writes each entry once. The replays follow the mask as it changes in place."""
    def f(x):
        out = x * 1.0
        out[MASK] = x[MASK] * 2.0
        return np.sum(np.piecewise(out, [MASK, ~MASK], [np.sin, lambda v: v ** 2]) * np.arange(1.0, 13.0).reshape(3, 4))

    def plain(x):  # by hand: masked entries sin(2x), the others x²
        m = MASK
        return np.where(m, 2 * np.cos(2 * x), 2 * x) * np.arange(1.0, 13.0).reshape(3, 4)
    compiled = anp.compile(lambda x: anp.grad(f)(x))
    x = np.linspace(0.1, 1.2, 12).reshape(3, 4)
    for change in (lambda: None, lambda: None, lambda: MASK.__setitem__((0, 0), True), lambda: MASK.fill(False)):
        change()
        np.testing.assert_allclose(compiled(x), plain(x), rtol=1e-14)


MASK = np.arange(12).reshape(3, 4) % 3 == 1


@pytest.mark.parametrize("part", ["real", "imag"])
def test_views_of_complex_values_and_read_only_views_replay_to_the_eager_gradients(part):
    """z.real / z.imag changed in place, a diagonal and a broadcast that follow z: the replays equal eager autonp.
    The trace stopped with a CompileError: two constant gradients (a refreshed view's zeros for its old values) were
    added into an array of their own, and a traced one then written into it."""
    from test_never_wrong import changed_through_a_part

    def program(x):
        return changed_through_a_part(x, part)
    f = anp.value_and_grad(program)
    compiled = anp.compile(f)
    for k in range(3):
        x = np.arange(1.0, 25.0).reshape(4, 6) / 7 + 0.1 * k
        (v1, g1), (v2, g2) = compiled(x), f(x)
        assert float(v1) == float(v2)
        np.testing.assert_array_equal(np.asarray(g1), np.asarray(g2))




def test_an_elementwise_result_reuses_a_dead_operands_memory_and_nothing_else():
    """A layer's bias add and ReLU (and their masks) write into the product they came from, as a hand-written step
    would; an operand that is an input, returned, read later, viewed by another value, or of another shape or
    dtype keeps its memory. Every result is checked on replays against plain NumPy."""
    def layer(x, W, b):
        h = anp.relu(x @ W + b)
        loss = (h * h).sum()
        loss.backward()
        return loss, W.grad, b.grad

    compiled = anp.compile(layer)
    rng = np.random.default_rng(1)
    W0, b0 = rng.normal(size=(5, 3)), rng.normal(size=(1, 3))
    for _ in range(3):
        x = rng.normal(size=(4, 5))
        loss, gW, gb = compiled(x, anp.Tensor(W0, requires_grad=True), anp.Tensor(b0, requires_grad=True))
        z = x @ W0 + b0
        h = np.maximum(z, 0)
        dz = 2 * h * (z > 0)
        np.testing.assert_allclose(loss.item(), (h * h).sum(), rtol=1e-14)
        np.testing.assert_allclose(gW.numpy(), x.T @ dz, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(gb.numpy(), dz.sum(axis=0, keepdims=True), rtol=1e-13, atol=1e-14)
    src = compiled.source
    assert re.search(r"= np\.add\((\w+), b, out=\1\)", src), src
    assert re.search(r"= np\.maximum\((\w+), 0, out=\1\)", src), src

    def kept_apart(x, k):
        y = x * 2.0
        z = x + 1.0                           # x: an input
        t = y[::-1]                           # a view of y...
        q = y + 1.0                           # ...read below, after y's last read here
        u = np.exp(q) + t
        w = (x > 0) + 0.5                     # bool + float: another dtype
        s = u.sum(axis=0) + u                 # a smaller operand, broadcast
        r = np.tanh(z)                        # z: returned below
        return z, r, s, w, u * k

    compiled = anp.compile(kept_apart)
    for _ in range(3):
        x = rng.normal(size=(3, 3))
        x_before = x.copy()
        got = compiled(x, 1.5)
        want = kept_apart(x_before.copy(), 1.5)
        np.testing.assert_array_equal(x, x_before)  # the input is not written
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    assert compiled.traces == 1


def test_an_input_or_a_constant_a_call_returns_as_it_is_keeps_its_memory():
    """``np.broadcast_arrays(x, c)`` returns x and c themselves when the shapes agree: a value the program did not
    make, though an instruction returned it. Buffer reuse wrote ``b + 1`` into the constant c (every later replay
    then started from a changed c) and ``a * ...`` into the caller's x."""
    def f(x):
        c = np.array([1.0, 2.0, 3.0])
        a, b = np.broadcast_arrays(x, c)
        return a * (b + 1.0)

    compiled = anp.compile(f)
    for scale in (1.0, 2.0, 3.0):
        x = np.full(3, scale)
        got = compiled(x)
        np.testing.assert_array_equal(x, np.full(3, scale))  # the caller's array is as it was
        np.testing.assert_array_equal(got, scale * np.array([2.0, 3.0, 4.0]))
    assert compiled.traces == 1


def test_structured_dtypes_of_one_size_are_different_signatures():
    """The signature held ``dtype.str``, which is ``|V8`` for every 8-byte structured dtype: now the dtype itself."""
    def f(x):
        return x["a"] * 2.0

    compiled = anp.compile(f)
    x1 = np.zeros(3, dtype=[("a", "f4"), ("b", "i4")])
    x2 = np.zeros(3, dtype=[("b", "i4"), ("a", "f4")])
    for x in (x1, x2):
        x["a"], x["b"] = [1, 2, 3], [7, 8, 9]
        np.testing.assert_array_equal(compiled(x), [2.0, 4.0, 6.0])
    assert compiled.traces == 2


def test_scipy_special_reductions_of_plain_arrays_are_traced():
    """autonp.scipy.special's logsumexp, softmax and log_softmax gave a plain array's stand-in to SciPy's own
    function, which converts it with asarray: CompileError for a compiled function of plain arrays. They trace
    now, and replay on new values as NumPy computes them."""
    import scipy.special as sc

    import autonp.scipy.special as asp
    w = np.array([1.0, 0.0, 2.0, 0.5])

    def f(a):
        return (asp.logsumexp(a, axis=1) + asp.logsumexp(a, axis=1, b=w) + asp.softmax(a, axis=1)[:, 0]
                + asp.log_softmax(a)[:, 1])

    def f_scipy(a):
        return (sc.logsumexp(a, axis=1) + sc.logsumexp(a, axis=1, b=w) + sc.softmax(a, axis=1)[:, 0]
                + sc.log_softmax(a)[:, 1])

    compiled = anp.compile(f)
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.normal(size=(3, 4))
        np.testing.assert_allclose(compiled(x), f_scipy(x), rtol=1e-13)
    assert compiled.traces == 1


def test_scipy_stats_and_multigammaln_of_plain_arrays_are_traced():
    """The distributions gave plain arrays to SciPy's own functions, and multigammaln's forward was SciPy's: both
    convert a compile stand-in with asarray (CompileError). They trace now (the differentiable formula), replay on
    new values as SciPy computes them, and a replay off the support or the domain raises as SciPy does."""
    import scipy.special as sc
    import scipy.stats as ss

    import autonp.scipy.special as asp
    import autonp.scipy.stats as ast
    S = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, 0.2], [0.1, 0.2, 1.0]])

    def f(lib, special, x):
        return (lib.norm.logpdf(x, 0.1, 2.0) + lib.t.cdf(x, 3.0) + lib.gamma.logpdf(x, 2.0)
                + lib.beta.cdf(x / 2, 2.0, 3.0) + lib.multivariate_normal.logpdf(x, np.zeros(3), S)
                + lib.dirichlet.logpdf(x / np.sum(x), np.array([1.0, 2.0, 3.0])) + special.multigammaln(2 * x, 3))

    compiled = anp.compile(lambda x: f(ast, asp, x))
    rng = np.random.default_rng(6)
    for _ in range(3):
        x = rng.uniform(0.6, 1.5, size=3)
        np.testing.assert_allclose(compiled(x), f(ss, sc, x), rtol=1e-12)
    assert compiled.traces == 1
    with pytest.raises(ValueError, match="multigammaln: a must be greater than"):
        compiled(np.array([0.3, 1.0, 1.0]))  # 2x ≤ (d − 1)/2 = 1 at the first


@pytest.mark.parametrize("name", ["solve pos", "solve_triangular", "sqrtm", "solve_sylvester", "cholesky",
                                  "solve_banded"])
def test_scipy_linalg_replays_to_the_eager_values_and_gradients(name):
    """SciPy's solvers convert their arguments with np.asarray, which a trace cannot follow: compiling a function
    that used them raised. Each is recorded as one call now, and the replays equal eager autonp bit for bit."""
    import autonp.scipy.linalg as asl
    fn = {"solve pos": lambda A, b: asl.solve(A, b, assume_a="pos"),
          "solve_triangular": lambda A, b: asl.solve_triangular(A, b, lower=True, trans=1),
          "sqrtm": lambda A, b: asl.sqrtm(A @ A.T) @ b,
          "solve_sylvester": lambda A, b: asl.solve_sylvester(A, A.T + 2 * np.eye(4), b @ b.T),
          "cholesky": lambda A, b: asl.cholesky(A) @ b,
          "solve_banded": lambda A, b: asl.solve_banded((1, 1), A[:3], b)}[name]
    rng = np.random.default_rng(0)
    B = rng.normal(size=(4, 4))
    a, b = B @ B.T + 4 * np.eye(4) + np.triu(rng.normal(size=(4, 4)), 1), rng.normal(size=(4, 2))

    def f(A, b):
        x = fn(A, b)
        loss = (x * x).sum()
        return loss, anp.gradients(loss, [A, b])
    compiled = anp.compile(f)
    for scale in (1.0, 1.1, 0.9):
        got = compiled(anp.Tensor(a * scale, requires_grad=True), anp.Tensor(b, requires_grad=True))
        want = f(anp.Tensor(a * scale, requires_grad=True), anp.Tensor(b, requires_grad=True))
        assert got[0].item() == want[0].item()
        for g, w in zip(got[1], want[1]):
            np.testing.assert_array_equal(g.numpy(), w.numpy())
    assert compiled.traces == 1


def test_a_scipy_solver_that_raises_in_a_replay_puts_back_what_the_replay_changed():
    """A SciPy solver can raise (a matrix that is not positive definite): the replay is undone up to it, as for
    np.linalg, so an array the function added to in place before it is as the call found it."""
    import autonp.scipy.linalg as asl
    rng = np.random.default_rng(0)
    B = rng.normal(size=(4, 4))
    a, b, counts = B @ B.T + 4 * np.eye(4), rng.normal(size=(4, 2)), np.zeros(3)

    def f(A, b, counts):
        counts += 1.0
        return asl.solve(A, b, assume_a="pos")
    compiled = anp.compile(f)
    compiled(anp.Tensor(a, requires_grad=True), b, counts)
    compiled(anp.Tensor(a, requires_grad=True), b, counts)
    with pytest.raises(anp.OpError, match="scipy.linalg.solve"), warnings.catch_warnings():
        warnings.simplefilter("default")  # (the suite makes warnings errors: then any ufunc can raise, all is undone)
        compiled(anp.Tensor(-a, requires_grad=True), b, counts)
    np.testing.assert_array_equal(counts, [2.0, 2.0, 2.0])


# --------------------------------------------------------------------------- compiled functions inside transforms

def _sin_sq_times_sum(x):
    return anp.sum(anp.sin(x) ** 2) * anp.sum(x)


def _sin_sq_times_sum_grad(x):
    return 2 * np.sin(x) * np.cos(x) * np.sum(x) + np.sum(np.sin(x) ** 2)


def _pulled_back_by_hips_trace(f, x):
    from autonp.core import VJPNode, backward_pass
    from autonp.tracer import trace
    return backward_pass(1.0, trace(VJPNode.new_root(), f, x)[1])


def _pulled_back_by_hips_new_box(f, x):
    from autonp.core import VJPNode, backward_pass
    from autonp.tracer import new_box, trace_stack
    with trace_stack.new_trace() as t:
        out = f(new_box(x, t, VJPNode.new_root()))
        return backward_pass(1.0, out._node)


TRANSFORMS = {
    "grad": lambda f, x: anp.grad(f)(x),
    "value_and_grad": lambda f, x: anp.value_and_grad(f)(x)[1],
    "jacobian": lambda f, x: anp.jacobian(f)(x),
    "elementwise_grad": lambda f, x: anp.elementwise_grad(f)(x),
    "vjp": lambda f, x: anp.vjp(f, x)[1](1.0),
    "jvp": lambda f, x: np.array([anp.jvp(f, (x,), (e,))[1] for e in np.eye(len(x))]),
    "make_vjp": lambda f, x: anp.wrappers.make_vjp(f)(x)[0](1.0),
    "checkpoint": lambda f, x: anp.grad(lambda y: anp.checkpoint(f, y))(x),
    "a closure's argument": lambda f, x: anp.grad(lambda w: f(w * 2.0))(x / 2.0) / 2.0,
    "HIPS trace": _pulled_back_by_hips_trace,
    "HIPS new_box": _pulled_back_by_hips_new_box,
}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_a_compiled_function_inside_a_transform_is_differentiated(transform):
    """anp.grad(anp.compile(f)), as jax.grad(jax.jit(f)): the replay computes values and records no tape, so the
    gradient came out zeros, with only a warning that the output did not depend on the input. Inside a transform
    the compiled function now runs its ops on the transform's tape; outside, it replays as before."""
    x = np.array([0.3, 1.2, -0.7])
    compiled = anp.compile(_sin_sq_times_sum)
    compiled(x), compiled(x)  # traced, then replayed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (the zeros came with a warning: none now)
        got = TRANSFORMS[transform](compiled, x)
    _close(np.asarray(got, dtype=float), _sin_sq_times_sum_grad(x))
    assert compiled.traces == 1 and float(compiled(x)) == pytest.approx(float(_sin_sq_times_sum(x)), rel=1e-15)


def test_the_hessian_of_a_compiled_function_is_its_gradients_derivative():
    x = np.array([0.3, 1.2, -0.7])
    got = anp.hessian(anp.compile(_sin_sq_times_sum))(x)
    want = np.array([central_diff(lambda v, i=i: _sin_sq_times_sum_grad(v)[i], x) for i in range(len(x))])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_backward_on_what_a_compiled_function_returned_says_it_has_no_tape():
    model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    forward = anp.compile(lambda x: anp.sum(model(x) ** 2))
    for _ in range(2):  # the trace's result, then a replay's
        loss = forward(np.ones((4, 3)))
        with pytest.raises(RuntimeError, match="returned by a function compiled with anp.compile.*inside the function"):
            loss.backward()


def _log_step(shift: float = 0.0):
    """A step on the loss Σ log(z + shift), z = model(x): shift 0 makes NaNs of weights that turn z negative."""
    rng = np.random.default_rng(0)
    model = nn.Linear(3, 1, rng=rng)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        z = model(x)
        loss = anp.sum(anp.log(z * z + shift if shift else z))
        loss.backward()
        opt.step()
        return loss.item()
    return model, step, np.abs(rng.normal(size=(4, 3)))


def test_a_compiled_step_under_detect_anomaly_checks_each_op_as_eager_autonp_does():
    """detect_anomaly names the op that made a NaN; a replay checked nothing and returned NaN."""
    model, step, x = _log_step()
    compiled = anp.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (log of a negative, outside detect_anomaly)
        compiled(x), compiled(x)
        model.weight.data[:] = -1.0
        assert np.isnan(compiled(x))
    with anp.detect_anomaly(), pytest.raises(anp.AnomalyError, match="log produced NaN in its forward"):
        compiled(x)


def test_a_compiled_step_under_no_grad_refuses_as_the_eager_step_does_and_inference_replays():
    """Under no_grad the eager step's backward refuses (nothing was recorded); a replay of the step traced
    with grad on went ahead and updated the weights. The signature now says whether grad is on."""
    model, step, x = _log_step(shift=1.0)
    compiled = anp.compile(step)
    compiled(x), compiled(x)
    before = model.weight.numpy().copy()
    with anp.no_grad(), pytest.raises(RuntimeError, match="does not require grad"):
        compiled(x)
    np.testing.assert_array_equal(model.weight.numpy(), before)
    predict = anp.compile(lambda v: model(v))
    want = x @ model.weight.numpy() + model.bias.numpy()  # (the layer, in NumPy)
    np.testing.assert_allclose(predict(x).numpy(), want, rtol=1e-13)
    with anp.no_grad():
        got = [predict(x) for _ in range(2)]
    assert [t.requires_grad for t in got] == [False, False] and predict.traces == 2
    for t in got:
        np.testing.assert_allclose(t.numpy(), want, rtol=1e-13)


def test_a_compiled_function_called_by_another_while_it_traces_is_part_of_that_trace():
    """A compiled loss inside a compiled step: the inner function met the outer trace's stand-ins and refused
    ("a traced value from another trace"). It runs inline while the outer one traces; the step follows the eager
    steps, also after the weight the inner function reads is rebound between calls."""
    def run(compiled: bool) -> tuple:
        model = nn.Linear(3, 2, rng=np.random.default_rng(1))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)

        def loss_fn(x, y):
            return nn.mse_loss(model(x), y)
        inner = anp.compile(loss_fn) if compiled else loss_fn

        def step(x, y):
            opt.zero_grad()
            loss = inner(x, y)
            loss.backward()
            opt.step()
            return loss.item()
        outer = anp.compile(step) if compiled else step
        rng = np.random.default_rng(5)
        losses = []
        for i in range(6):
            if i == 4:
                model.weight.data = model.weight.numpy() * 0.5
            losses.append(outer(rng.normal(size=(4, 3)), rng.normal(size=(4, 2))))
        return losses, model.weight.numpy()
    got, want = run(True), run(False)
    _close(got[0], want[0])
    _close(got[1], want[1])


def test_a_module_that_keeps_its_optimizer_compiles_its_training_method():
    """``self.opt.step()`` in a Module's method: the walk took an optimizer held by a Module for a plain value, so its
    moments were not inputs and the trace refused (np.add(..., out=) into an array it did not receive). Compared with
    the eager steps, also after the learning rate changes and after the optimizer is replaced."""
    class Trainer(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(3, 2, rng=np.random.default_rng(0))
            self.opt = optim.Adam(self.layer.parameters(), lr=0.05)

        def step(self, x, y):
            self.opt.zero_grad()
            loss = nn.mse_loss(self.layer(x), y)
            loss.backward()
            self.opt.step()
            return loss.item()

    def run(compiled: bool) -> tuple:
        trainer = Trainer()
        step = anp.compile(trainer.step) if compiled else trainer.step
        rng = np.random.default_rng(4)
        losses = []
        for i in range(8):
            if i == 3:
                trainer.opt.lr = 0.01
            if i == 5:
                trainer.opt = optim.SGD(trainer.layer.parameters(), lr=0.2, momentum=0.5)
            losses.append(step(rng.normal(size=(4, 3)), rng.normal(size=(4, 2))))
        return losses, trainer.layer.weight.numpy(), trainer.opt.velocity[0]
    got, want = run(True), run(False)
    for g, w in zip(got, want):
        _close(g, w)
