"""Every primitive's VJP against central finite differences (random shapes, broadcasting, keepdims),
and random composite expressions against HIPS autograd as an independent oracle."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import autonp as anp
from autonp import nn
from conftest import central_diff

SETTINGS = settings(max_examples=25, deadline=None)


def values(rng, shape, domain):
    x = rng.normal(size=shape)
    if domain == "positive":
        return np.abs(x) + 0.5
    if domain == "away_from_zero":
        return np.sign(x + 1e-12) * (np.abs(x) + 0.5)
    if domain == "unit":
        return rng.uniform(0.1, 0.9, size=shape)
    return x


def check_vjp(fn, arrays, rtol=1e-6, atol=1e-7):
    """d/dx Σ fn(*xs) ⊙ R  by backward() and by central differences, for each input x."""
    rng = np.random.default_rng(0)
    tensors = [anp.Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    R = rng.normal(size=out.shape)
    (out * R).sum().backward()
    for i, a in enumerate(arrays):
        def f(v, i=i):
            args = [anp.Tensor(b) for b in arrays]
            args[i] = anp.Tensor(v)
            return float((fn(*args).numpy() * R).sum())
        fd = central_diff(f, a)
        assert tensors[i].grad is not None, f"input {i} got no gradient"
        np.testing.assert_allclose(tensors[i].grad.numpy(), fd, rtol=rtol, atol=atol, err_msg=f"input {i}")


UNARY = {
    "exp": (anp.exp, "any"), "log": (anp.log, "positive"), "sqrt": (anp.sqrt, "positive"),
    "abs": (anp.abs, "away_from_zero"), "sigmoid": (anp.sigmoid, "any"), "tanh": (anp.tanh, "any"),
    "relu": (anp.relu, "away_from_zero"), "neg": (lambda x: -x, "any"),
    "pow_scalar": (lambda x: x ** 3, "any"), "pow_frac": (lambda x: x ** 0.5, "positive"),
    "rpow": (lambda x: 2.0 ** x, "any"), "rsub": (lambda x: 1 - x, "any"), "rdiv": (lambda x: 2 / x, "away_from_zero"),
    "clip": (lambda x: anp.clip(x, -0.3, 0.4), "any"),
    "T": (lambda x: x.T, "any"), "reshape": (lambda x: x.reshape(-1), "any"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=4), seed=st.integers(0, 2**16))
def test_unary_vjp(name, shape, seed):
    fn, domain = UNARY[name]
    x = values(np.random.default_rng(seed), shape, domain)
    if name == "clip":  # keep finite differences off the kinks
        x = np.where(np.isclose(x, -0.3, atol=1e-3) | np.isclose(x, 0.4, atol=1e-3), 1.0, x)
    check_vjp(fn, [x])


def test_astype_gradient_is_cast_back():
    x = anp.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = anp.astype(x, np.float32)
    assert y.dtype == np.float32
    (y * np.float32(3)).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


BINARY = {
    "add": (lambda x, y: x + y, "any", "any"), "sub": (lambda x, y: x - y, "any", "any"),
    "mul": (lambda x, y: x * y, "any", "any"), "div": (lambda x, y: x / y, "any", "away_from_zero"),
    "pow": (lambda x, y: x ** y, "positive", "any"), "maximum": (anp.maximum, "any", "any"),
    "minimum": (anp.minimum, "any", "any"), "where": (lambda x, y: anp.where(x.numpy() > 0, x, y), "any", "any"),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4), seed=st.integers(0, 2**16))
def test_binary_vjp_with_broadcasting(name, shapes, seed):
    fn, dx, dy = BINARY[name]
    rng = np.random.default_rng(seed)
    x, y = values(rng, shapes.input_shapes[0], dx), values(rng, shapes.input_shapes[1], dy)
    check_vjp(fn, [x, y])


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax"])
@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=4), keepdims=st.booleans(), data=st.data())
def test_reduction_vjp(name, shape, keepdims, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    x = np.random.default_rng(data.draw(st.integers(0, 2**16))).normal(size=shape)
    if name in ("softmax", "log_softmax"):
        ax = -1 if axis is None else axis
        check_vjp(lambda t: getattr(anp, name)(t, axis=ax), [x])
    else:
        check_vjp(lambda t: getattr(anp, name)(t, axis=axis, keepdims=keepdims), [x])


@pytest.mark.parametrize("xs,ys", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                   ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)),
                                   ((1, 2, 3), (4, 3, 2)), ((4,), (2, 4, 3)), ((2, 2, 4), (4,))])
def test_matmul_vjp_all_ranks(xs, ys):
    rng = np.random.default_rng(1)
    check_vjp(lambda a, b: a @ b, [rng.normal(size=xs), rng.normal(size=ys)])


@pytest.mark.parametrize("index", [
    (slice(1, 3),), (Ellipsis, 0), (np.array([0, 2, 2, 0]),), (np.array([1, 1]), np.array([0, 2])),
    (slice(None), np.array([2, 0, 2])), (np.array([[True, False, True, True]] * 3),), (None, 1),
])
def test_getitem_vjp_accumulates_repeated_indices(index):
    x = np.random.default_rng(2).normal(size=(3, 4))
    check_vjp(lambda t: t[index], [x])


def test_repeated_index_gradient_counts_repeats():
    x = anp.Tensor(np.zeros(3), requires_grad=True)
    x[np.array([0, 0, 0, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack_vjp(axis):
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    check_vjp(lambda x, y, z: anp.stack([x, y, z], axis=axis), [a, b, c])
    check_vjp(lambda x, y: anp.concatenate([x, y], axis=axis), [a, b[:, :2] if axis != 0 else b])


def test_transpose_permute_and_broadcast_ops():
    x = np.random.default_rng(4).normal(size=(2, 3, 4))
    check_vjp(lambda t: t.permute(2, 0, 1) * np.arange(24).reshape(4, 2, 3), [x])
    check_vjp(lambda t: anp.broadcast_to(t, (5, 2, 3, 4)), [x])
    check_vjp(lambda t: anp.sum_to(t, (1, 3, 1)), [x])


def test_softmax_cross_entropy_vjp():
    rng = np.random.default_rng(5)
    Y = np.eye(4)[rng.integers(0, 4, 6)]
    check_vjp(lambda z: anp.softmax_cross_entropy(z, Y), [rng.normal(size=(6, 4))])
    check_vjp(lambda z, t: anp.softmax_cross_entropy(z, t), [rng.normal(size=(6, 4)), rng.random((6, 4))])
    # second order: under create_graph the VJP recomputes from the Tensors instead of using what
    # the forward saved (which is a constant to the outer tape)
    assert anp.gradgradcheck(lambda z, t: anp.softmax_cross_entropy(z, t),
                             [rng.normal(size=(5, 3)), rng.random((5, 3))]).passed


LINEAR_SHAPES = [((6, 4), (4, 3), (1, 3)), ((6, 4), (4, 3), (3,)), ((2, 5, 4), (4, 3), (1, 3)),
                 ((6, 4), (4, 3), ()), ((6, 4), (4, 3), (6, 1)), ((6, 4), (4, 3), (6, 3)),
                 ((4,), (4, 3), (1, 3)),        # one sample: the bias makes the output (1, 3)
                 ((6, 4), (4, 3), (2, 1, 3)), ((4,), (4, 3), (2, 1, 3))]  # a bias of more dimensions broadcasts further


@pytest.mark.parametrize("xs, ws, bs", LINEAR_SHAPES)
def test_linear_is_x_at_w_plus_b_with_its_gradients_by_finite_differences(xs, ws, bs):
    rng = np.random.default_rng(len(xs) + len(bs))
    x, w, b = rng.normal(size=xs), rng.normal(size=ws), rng.normal(size=bs)
    np.testing.assert_array_equal(anp.linear(anp.Tensor(x), w, b).numpy(), x @ w + b)  # NumPy, to the last bit
    check_vjp(anp.linear, [x, w, b])
    assert anp.gradgradcheck(anp.linear, [x, w, b]).passed


def test_linear_keeps_numpys_dtype_and_leaves_its_inputs_alone():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    for b in (np.ones((1, 3), np.float32), np.ones((1, 3)), np.float32(2.0), 0.5):
        copies = [np.copy(v) for v in (x, w, b)]
        out = anp.linear(anp.Tensor(x, requires_grad=True), w, b)
        assert out.dtype == (x @ w + b).dtype, f"bias {type(b).__name__} {np.asarray(b).dtype}"
        np.testing.assert_array_equal(out.numpy(), x @ w + b)
        for v, c in zip((x, w, b), copies):
            np.testing.assert_array_equal(v, c)


def test_a_list_operand_of_a_product_differentiates_the_tensor_beside_it():
    """``[[1, 2]] @ w``: the VJPs read the list as the array NumPy made of it (it raised AttributeError)."""
    w = anp.Tensor(np.ones((2, 3)), requires_grad=True)
    ([[1.0, 2.0]] @ w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1, 1], [2, 2, 2]])  # ∂Σ(x·w)/∂w = xᵀ·1, by hand
    x = anp.Tensor(np.ones((1, 2)), requires_grad=True)
    anp.linear(x, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.zeros(3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[6, 15]])  # 1·wᵀ: the row sums of w


def test_linear_refuses_a_weight_that_is_not_a_matrix_naming_the_op():
    with pytest.raises(anp.OpError, match=r"linear.*\(4, 3, 2\)"):
        anp.linear(anp.Tensor(np.ones((5, 4)), requires_grad=True), np.ones((4, 3, 2)), np.ones(2))


def test_forward_saving_hands_its_residual_to_the_vjps_only_when_recording():
    seen = []

    def cube_saving(x):
        sq = x * x
        return sq * x, sq

    def vjp(g, ans, x, saved=None):
        seen.append(saved is not None)
        return g * 3 * (x * x if saved is None else saved)

    cube = anp.Primitive("cube", lambda x: x ** 3, forward_saving=cube_saving).defvjp(vjp)
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_array_equal(cube(x), x ** 3)            # plain NumPy: forward only
    t = anp.Tensor(x, requires_grad=True)
    cube(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 3 * x ** 2)
    (g,) = anp.gradients(cube(t).sum(), [t], create_graph=True)
    anp.sum(g).backward()                                       # d/dx Σ 3x² = 6x
    np.testing.assert_allclose(t.grad.numpy(), 3 * x ** 2 + 6 * x)
    assert seen[:2] == [True, False]
    assert anp.check_ops(cube(anp.Tensor(x, requires_grad=True)).sum()).passed


def test_max_tie_rule_splits_gradient_equally():
    x = anp.Tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    anp.max(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0.5, 0.5, 0])
    y = anp.Tensor([2.0, 2.0], requires_grad=True)
    anp.maximum(y, anp.Tensor([2.0, 1.0])).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.5, 1.0])


def test_softmax_family_is_stable_at_extremes():
    z = anp.Tensor([1000.0, 0.0, -1000.0], requires_grad=True)
    s = anp.softmax(z)  # RuntimeWarnings are errors in this suite (pyproject filterwarnings)
    np.testing.assert_array_equal(s.numpy(), [1.0, 0.0, 0.0])
    ls = anp.log(s)  # log of softmax: rewritten to log_softmax, so finite
    np.testing.assert_allclose(ls.numpy(), [0.0, -1000.0, -2000.0])
    (ls * np.array([0.0, 1.0, 0.0])).sum().backward()
    assert np.all(np.isfinite(z.grad.numpy()))
    np.testing.assert_allclose(z.grad.numpy(), [-1.0, 1.0, 0.0])
    sg = anp.sigmoid(anp.Tensor([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(sg.numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(anp.log_softmax(anp.Tensor([[1000.0, 0.0]])).numpy(), [[0.0, -1000.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows_whose_exponentials_overflow_or_underflow_are_shifted_by_their_max(dtype):
    """Row sums of exp(z) that are inf, 0, subnormal or NaN take the shifted path; closed forms as the oracle."""
    e1 = 1 / (1 + np.exp(-1.0))  # softmax([a, a − 1])[0] for any a
    for row in ([1000.0, 999.0], [-1000.0, -1001.0], [-745.0, -746.0], [-100.0, -101.0], [1.0, 0.0]):
        z = np.array([row, row], dtype)  # (the check is made over the whole batch: one kind of row at a time)
        np.testing.assert_allclose(anp.softmax(anp.Tensor(z), axis=1).numpy(), [[e1, 1 - e1]] * 2, rtol=1e-6)
        loss = nn.cross_entropy(anp.Tensor(z), np.array([0, 0]))
        np.testing.assert_allclose(loss.item(), -np.log(e1), rtol=1e-6, err_msg=str(row))
    assert np.isnan(anp.softmax(anp.Tensor(np.array([[np.nan, 0.0]], dtype)), axis=1).numpy()).all()


# ---------------------------------------------------------------- random composites vs HIPS autograd

agnp = pytest.importorskip("autograd.numpy")
autograd = pytest.importorskip("autograd")

UNARY_PAIRS = [(anp.tanh, agnp.tanh), (anp.sigmoid, lambda x: 1 / (1 + agnp.exp(-x))),
               (lambda x: anp.exp(x * 0.3), lambda x: agnp.exp(x * 0.3)),
               (lambda x: anp.log(x * x + 1), lambda x: agnp.log(x * x + 1)),
               (lambda x: anp.softmax(x, axis=-1), lambda x: agnp.exp(x - agnp.max(x, -1, keepdims=True)) /
                agnp.sum(agnp.exp(x - agnp.max(x, -1, keepdims=True)), -1, keepdims=True)),
               (lambda x: x ** 2, lambda x: x ** 2), (lambda x: anp.sqrt(x * x + 1), lambda x: agnp.sqrt(x * x + 1))]
BINARY_PAIRS = [(lambda a, b: a + b,) * 2, (lambda a, b: a * b,) * 2, (lambda a, b: a - b,) * 2,
                (lambda a, b: a / (b * b + 1),) * 2]


@settings(max_examples=40, deadline=None)
@given(program=st.lists(st.tuples(st.booleans(), st.integers(0, 100), st.integers(0, 100)), min_size=1, max_size=12),
       seed=st.integers(0, 2**16))
def test_random_composites_match_hips_autograd(program, seed):
    rng = np.random.default_rng(seed)
    x0, W = rng.normal(size=(3, 4)), rng.normal(size=(4, 4))

    def run(x, w, lib):
        vals = [x, x @ w]
        for unary, i, j in program:
            if unary:
                f = UNARY_PAIRS[i % len(UNARY_PAIRS)][lib]
                vals.append(f(vals[j % len(vals)]))
            else:
                f = BINARY_PAIRS[i % len(BINARY_PAIRS)][lib]
                vals.append(f(vals[j % len(vals)], vals[i % len(vals)]))
        return (vals[-1] * np.linspace(-1, 1, 12).reshape(3, 4)).sum()

    try:
        want = autograd.grad(lambda x, w: run(x, w, 1), argnum=(0, 1))(x0, W)
    except (RuntimeWarning, FloatingPointError):  # the program overflowed (x·x·x·...): not a comparison
        assume(False)
    got = anp.grad(lambda x, w: run(x, w, 0), argnums=(0, 1))(x0, W)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_narrow_last_axis_reductions_agree_with_numpy(dtype):
    x = np.random.default_rng(6).normal(size=(2048, 10)).astype(dtype)
    x[5, 3] = np.nan
    for keepdims in (False, True):
        np.testing.assert_array_equal(anp.max(x, axis=1, keepdims=keepdims), np.max(x, axis=1, keepdims=keepdims))
        np.testing.assert_array_equal(anp.min(x, axis=-1, keepdims=keepdims), np.min(x, axis=-1, keepdims=keepdims))
        np.testing.assert_allclose(anp.sum(x, axis=1, keepdims=keepdims), np.sum(x, axis=1, keepdims=keepdims),
                                   rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-6)
    assert np.isnan(anp.max(x, axis=1)[5]) and np.isnan(anp.sum(x, axis=1)[5])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_over_rows_agrees_with_numpy(dtype):
    """Axis-0 sums of 2-D float arrays (bias gradients) go through a product with ones."""
    x = np.random.default_rng(7).normal(size=(3000, 10)).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for axis in (0, -2, (0,)):
        for keepdims in (False, True):
            got = anp.sum(x, axis=axis, keepdims=keepdims)
            assert got.shape == np.sum(x, axis=axis, keepdims=keepdims).shape and got.dtype == dtype
            # the oracle: exact sums in float64 of the same numbers
            np.testing.assert_allclose(got, np.sum(x.astype(np.float64), axis=axis, keepdims=keepdims), **tol)
    np.testing.assert_allclose(anp.sum_to(x, (1, 10)), x.astype(np.float64).sum(0, keepdims=True), **tol)
    x[7, 2] = np.inf
    assert np.isinf(anp.sum(x, axis=0)[2]) and np.isfinite(anp.sum(x, axis=0)[3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tall_narrow_matmul_and_its_gradients(dtype):
    """Products above the size where matmul turns the BLAS call around (X @ W with 5 columns,
    Xᵀ @ dz): the values and both gradients against an independent einsum computation."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(1500, 300)).astype(dtype)
    W = rng.normal(size=(300, 5)).astype(dtype)
    G = rng.normal(size=(1500, 5)).astype(dtype)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    want = np.einsum("ik,kj->ij", X.astype(np.float64), W.astype(np.float64))
    np.testing.assert_allclose(anp.matmul(X, W), want, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(anp.matmul(X.T, G), np.einsum("ki,kj->ij", X.astype(np.float64), G), rtol=rtol,
                               atol=rtol * 10)
    Xt, Wt = anp.Tensor(X, requires_grad=True), anp.Tensor(W, requires_grad=True)
    (Xt @ Wt).backward(G)
    assert Xt.grad.dtype == dtype and Wt.grad.dtype == dtype and Wt.grad.shape == (300, 5)
    np.testing.assert_allclose(Wt.grad.numpy(), np.einsum("ki,kj->ij", X.astype(np.float64), G), rtol=rtol,
                               atol=rtol * 10)
    np.testing.assert_allclose(Xt.grad.numpy(), np.einsum("ij,kj->ik", G.astype(np.float64), W), rtol=rtol,
                               atol=rtol * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 80.0, 500.0, 1e4])
def test_softmax_family_exact_in_and_out_of_the_exponents_range(dtype, scale):
    """Rows that overflow exp, rows whose exps all underflow, and ordinary rows in one array: each
    agrees with the max-shifted formula computed here in float64, with no warning."""
    rng = np.random.default_rng(9)
    z = (rng.normal(size=(6, 5)) * scale).astype(dtype)
    z[1] += dtype(scale * 3)
    z[2] -= dtype(scale * 3)
    z64 = z.astype(np.float64)
    shifted = z64 - z64.max(axis=1, keepdims=True)
    log_sm = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(anp.softmax(z, axis=1), np.exp(log_sm), **tol)
    np.testing.assert_allclose(anp.log_softmax(z, axis=1), log_sm, **tol)
    Y = np.eye(5, dtype=dtype)[rng.integers(0, 5, 6)]
    want = -np.sum(Y * log_sm) / 6
    zt = anp.Tensor(z, requires_grad=True)
    loss = anp.softmax_cross_entropy(zt, Y)
    assert float(loss.item()) == pytest.approx(want, rel=tol["rtol"] * 10, abs=tol["atol"])
    loss.backward()
    np.testing.assert_allclose(zt.grad.numpy(), (np.exp(log_sm) - Y) / 6, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_without_warnings(dtype):
    x = np.array([-1e4, -800.0, -30.0, 0.0, 30.0, 800.0, 1e4], dtype=dtype)
    got = anp.sigmoid(x)                     # pytest turns a RuntimeWarning into an error here
    assert got.dtype == dtype
    want = np.array([1 / (1 + np.exp(-float(v))) if v > -700 else 0.0 for v in x])
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-15, atol=0)
    assert anp.sigmoid(0.0) == 0.5 and anp.sigmoid(-1000.0) == 0.0
