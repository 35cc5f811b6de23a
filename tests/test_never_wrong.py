"""Issue 18: every way hostile testing found to get a wrong number without an error, each now the right
number (against a hand-derived value, central differences of plain NumPy, or NumPy's own forward
semantics) or a clear error."""
import operator
import threading
import warnings

import numpy as np
import pytest

import autonp as anp
from autonp import nn
from conftest import central_diff as central
from conftest import run_threads_switching

# --------------------------------------------------------------------------- 1. perturbation confusion

def test_nested_grad_counts_only_the_inner_variable():
    # d/dx [d/dy x·y at y = x] = d/dx x = 1 (HIPS, JAX); confusing y with x gives 2
    assert anp.grad(lambda x: anp.grad(lambda y: x * y)(x))(1.0).item() == 1.0


def test_nested_grad_through_a_function_of_the_outer_variable():
    # L(r, p) = r·p², p = r²: ∂L/∂r = p² = r⁴ at p = p(r); its derivative 4r³ = 108 at r = 3.
    # Confusion (∂/∂r counting the path through p too) gives d/dr (p² + 2rp·2r) = d/dr 5r⁴ = 540.
    inner = anp.grad(lambda r, p: r * p * p)
    assert anp.grad(lambda r: inner(r, r * r))(3.0).item() == pytest.approx(108.0, rel=1e-12)


def test_nested_grad_of_a_closure_over_a_constant_argument():
    # d/dx [∂/∂y (x·y²) at y = 1] = d/dx 2x = 2: the inner argument is a plain number
    assert anp.grad(lambda x: anp.grad(lambda y: x * y * y)(1.0))(5.0).item() == pytest.approx(2.0)


@pytest.mark.parametrize("argnum", [(0, 0), (0, -2), (0, 1, 0)])
def test_grad_of_an_argument_named_twice_is_its_gradient_twice(argnum):
    """grad(f, argnum=(0, 0)) made argument 0 a fresh variable twice, the second from the first, and f saw only the
    second: the first gradient came back 0 (HIPS autograd returns the same 0). Now one variable, listed twice."""
    f = lambda x, y: anp.sum(x * y * y)  # noqa: E731 - ∂x = y², ∂y = 2xy
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    want = {0: y * y, 1: 2 * x * y}
    got = anp.grad(f, argnum=argnum)(x, y)
    for i, g in zip(argnum, got):
        np.testing.assert_array_equal(np.asarray(g), want[i % 2])


def test_hessian_of_a_function_with_closure_matches_central_differences():
    a = np.array([0.3, -1.2, 2.0])

    def f_np(x):
        return np.sum(np.sin(x) * a) * np.sum(x ** 2)

    def f(x):
        return anp.sum(anp.sin(x) * a) * anp.sum(x ** 2)

    x0 = np.array([0.5, 1.5, -0.7])
    h = np.asarray(anp.hessian(f)(x0))
    want = np.stack([central(lambda x: central(f_np, x)[i], x0, 1e-4) for i in range(3)])
    np.testing.assert_allclose(h, want, rtol=1e-5, atol=1e-6)


def test_jvp_inside_grad_stays_on_the_tape():
    # d/dx [J_sin(x)·1] = d/dx cos(x) = −sin(x)
    g = anp.grad(lambda x: anp.jvp(anp.sin, (x,), (1.0,))[1])(0.7)
    assert g.item() == pytest.approx(-np.sin(0.7), rel=1e-12)


def test_checkpoint_with_random_draws_is_the_same_function_or_refuses():
    """checkpoint runs f again for the backward. A draw from NumPy's global generator inside f drew new numbers
    there, so the gradient was another function's (PyTorch's checkpoint keeps its RNG state for this). Now the
    generator is put back for the run again: value, gradient and the stream after equal the plain run's. A draw
    autonp cannot put back (nn.Dropout's own Generator) makes the run again differ, and the backward refuses."""
    x = np.random.default_rng(0).normal(size=(4, 5))

    def noisy(v):
        return np.sum(np.sin(v * np.random.normal(size=np.shape(v))))
    runs = []
    for wrap in (noisy, anp.checkpoint(noisy)):
        np.random.seed(3)
        t = anp.Tensor(x, requires_grad=True)
        value = wrap(t)
        value.backward()
        runs.append((value.item(), t.grad.numpy(), np.random.random()))
    assert runs[0][0] == runs[1][0] and runs[0][2] == runs[1][2]
    np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=1e-14)
    # under anp.compile too (each call traces again: a replay's two draws differ, and the check is a guard)
    step = anp.value_and_grad(lambda v: anp.checkpoint(noisy, v))
    compiled = anp.compile(step)
    for seed in (5, 6):
        np.random.seed(seed)
        got = compiled(x)
        np.random.seed(seed)
        want = step(x)
        assert float(got[0]) == float(want[0])
        np.testing.assert_allclose(np.asarray(got[1]), np.asarray(want[1]), rtol=1e-14)
    dropout = nn.Dropout(0.5, seed=1)
    t = anp.Tensor(x, requires_grad=True)
    out = anp.checkpoint(lambda v: np.sum(np.tanh(dropout(v)) ** 2), t)
    with pytest.raises(RuntimeError, match="not deterministic"):
        out.backward()


def test_checkpoint_second_order():
    # Σ checkpoint(x ↦ x³)(x): second derivative 6x
    hv = anp.hvp(lambda x: anp.sum(anp.checkpoint(lambda z: z * z * z, x)))(np.array([1.0, 2.0]), np.ones(2))
    np.testing.assert_allclose(np.asarray(hv), [6.0, 12.0], rtol=1e-12)


def test_checkpoint_of_a_module_gives_its_parameters_their_gradients():
    """checkpoint(model, x) differentiated only its arguments: the parameters the model reads gave None gradients,
    so an optimizer left them as they were (PyTorch's checkpoint differentiates them). Now every Tensor f reads from
    outside is an input of the checkpoint, differentiated partially (a Tensor f reads that is computed from another
    it reads is not counted twice), to any order; batch norm moves its running statistics once. Against the same
    model without checkpoint, and central differences."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5))

    def model():
        return nn.Sequential(nn.Linear(5, 8, rng=np.random.default_rng(1)), nn.BatchNorm1d(8), nn.Tanh(),
                             nn.Linear(8, 2, rng=np.random.default_rng(2)))
    plain, ckpt = model(), model()
    xa, xb = anp.Tensor(x, requires_grad=True), anp.Tensor(x, requires_grad=True)
    (plain(xa) ** 2).sum().backward()
    (anp.checkpoint(ckpt, xb) ** 2).sum().backward()
    for p, q in zip(plain.parameters(), ckpt.parameters()):
        assert q.grad is not None
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xb.grad.numpy(), xa.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(ckpt.layers[1].running_mean, plain.layers[1].running_mean)
    # a Tensor read from outside, and another computed from it, both read: d/dW Σ x·2W·W = 4xW
    w = anp.Tensor(np.array([1.5, -0.5, 2.0]), requires_grad=True)
    h2 = w * 1.0
    h1 = h2 * 2.0
    v = np.array([0.3, 1.1, -0.7])
    anp.checkpoint(lambda z: np.sum(z * h1 * h2), v).backward()
    np.testing.assert_allclose(w.grad.numpy(), 4 * v * w.numpy(), rtol=1e-14)
    # the variable of an outer transform, read from the closure, to second order
    def loss(s):
        return np.sum(anp.checkpoint(lambda z: np.sin(z * s) * s, v) ** 2)

    def direct(s):
        return float(np.sum((np.sin(v * s) * s) ** 2))
    assert float(anp.grad(loss)(0.7)) == pytest.approx(float(central(direct, np.array(0.7))), rel=1e-7)
    assert float(anp.hessian(loss)(0.7)) == pytest.approx(
        float(central(lambda s: float(anp.grad(loss)(s)), np.array(0.7))), rel=1e-6)


# --------------------------------------------------------------------------- 2. transforms under no_grad / in VJPs

def test_transforms_differentiate_under_no_grad():
    x = np.array([1.0, -2.0])
    with anp.no_grad():
        assert np.array_equal(np.asarray(anp.grad(lambda t: anp.sum(t * t))(x)), 2 * x)
        v, g = anp.value_and_grad(lambda t: anp.sum(t ** 3))(x)
        assert np.array_equal(np.asarray(g), 3 * x ** 2)
        out, pull = anp.vjp(lambda t: t * t, x)
        assert np.array_equal(np.asarray(pull(np.ones(2))), 2 * x)
        np.testing.assert_array_equal(np.asarray(anp.jacobian(lambda t: t ** 3)(x)), np.diag(3 * x ** 2))
        np.testing.assert_array_equal(np.asarray(anp.hessian(lambda t: anp.sum(t ** 3))(x)), np.diag(6 * x))
        np.testing.assert_array_equal(np.asarray(anp.jvp(anp.sin, (x,), (np.ones(2),))[1]), np.cos(x))
        np.testing.assert_allclose(np.asarray(anp.elementwise_grad(anp.tanh)(x)), 1 - np.tanh(x) ** 2, rtol=1e-15)
        np.testing.assert_array_equal(np.asarray(anp.hvp(lambda t: anp.sum(t ** 4))(x, np.ones(2))), 12 * x ** 2)


def test_a_transform_inside_a_custom_vjp():
    # the VJP of a custom square uses anp.grad of t² (= 2t): the outer gradient must be 2x·g
    square = anp.Primitive("square_by_grad", np.square)
    square.defvjp(lambda g, ans, x: g * np.asarray(anp.elementwise_grad(lambda t: t * t)(x)))
    x = anp.Tensor([1.5, -3.0], requires_grad=True)
    anp.sum(square(x)).backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [3.0, -6.0])


# --------------------------------------------------------------------------- 3. casts

def test_integer_casts_carry_no_gradient():
    x0 = np.array([0.3, 1.7, -2.2])
    x = anp.Tensor(x0, requires_grad=True)
    anp.sum(x * x.astype(np.int64)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), x0.astype(np.int64))   # d/dx x·int(x) = int(x)
    for dtype in (np.int64, np.int32, bool):
        c = anp.Tensor(x0, requires_grad=True).astype(dtype)
        assert not c.requires_grad and c.dtype == dtype
    assert np.array_equal(np.asarray(anp.grad(lambda t: anp.sum(t.astype(np.float32)))(x0)), np.ones(3))


def test_indexing_with_a_floored_tensor():
    table = np.array([10.0, 20.0, 30.0, 40.0])
    # Σ table[floor(t)]·t: ∂ = table[floor(t)]
    g = anp.grad(lambda t: anp.sum(table[np.floor(t).astype(int)] * t))(np.array([0.5, 2.9]))
    np.testing.assert_array_equal(np.asarray(g), [10.0, 30.0])


def test_casts_between_real_and_complex():
    """Real to complex is differentiable (the real input gets the real part); complex to real would drop the
    imaginary part, as NumPy's ComplexWarning says, and is refused on a Tensor that requires grad."""
    g = anp.grad(lambda t: anp.sum(np.abs(t.astype(np.complex128) * 1j + 1.0) ** 2))(np.array([1.0, -2.0]))
    np.testing.assert_allclose(np.asarray(g), [2.0, -4.0], rtol=1e-15)  # |1 + ix|² = 1 + x²
    with pytest.raises(TypeError, match="imaginary part"):
        anp.Tensor([1.0 + 1j], requires_grad=True).astype(np.float64)


# --------------------------------------------------------------------------- 4. in-place operators

def test_sgd_in_place_under_no_grad_updates_the_listed_parameters():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    params = [anp.Tensor(np.zeros(3), requires_grad=True)]
    losses = []
    for _ in range(50):
        for p in params:
            p.grad = None
        loss = anp.mean((X @ params[0] - y) ** 2)
        loss.backward()
        losses.append(loss.item())
        with anp.no_grad():
            for p in params:
                p -= 0.1 * p.grad
    w, want = np.zeros(3), []  # the same descent by hand: ∂ mean((Xw − y)²) = 2Xᵀ(Xw − y)/n
    for _ in range(50):
        want.append(np.mean((X @ w - y) ** 2))
        w = w - 0.1 * 2 * X.T @ (X @ w - y) / len(y)
    np.testing.assert_allclose(losses, want, rtol=1e-12)
    np.testing.assert_allclose(params[0].numpy(), w, rtol=1e-12)
    assert losses[-1] < losses[0] and params[0].requires_grad and params[0].is_leaf


def test_in_place_on_a_dict_entry_keeps_the_parameter():
    net = {"W": anp.Tensor(np.ones(2), requires_grad=True)}
    w = net["W"]
    with anp.no_grad():
        net["W"] -= np.array([0.5, 0.25])
    assert net["W"] is w and w.requires_grad
    np.testing.assert_array_equal(w.numpy(), [0.5, 0.75])


@pytest.mark.parametrize("op, np_op", [(operator.iadd, np.add), (operator.isub, np.subtract),
                                       (operator.imul, np.multiply), (operator.itruediv, np.true_divide),
                                       (operator.ipow, np.power)])
def test_in_place_operators_are_recorded_functionally(op, np_op):
    x0, v0 = np.array([1.5, 2.0, 0.5]), np.array([0.7, 1.3, 2.1])

    def f_np(xv):
        x, v = xv[:3], xv[3:]
        return np.sum(np_op(x * 2.0, v) * x)

    def f(xv):
        x, v = xv[:3], xv[3:]
        t = x * 2.0
        u = t          # the same object: it changes too, as with NumPy arrays
        assert op(t, v) is t  # t op= v
        return anp.sum(u * x)

    xv = np.concatenate([x0, v0])
    np.testing.assert_allclose(np.asarray(anp.grad(f)(xv)), central(f_np, xv), rtol=1e-7)


def test_in_place_keeps_earlier_uses_of_the_old_value():
    # y = x·x uses x before t (= x) changes: ∂/∂x Σ(x² + (3x)) where t ← t·3 after y was made
    def f(x):
        t = x * 1.0
        y = t * t
        t *= 3.0
        return anp.sum(y + t)

    x0 = np.array([0.5, -1.0])
    np.testing.assert_allclose(np.asarray(anp.grad(f)(x0)), 2 * x0 + 3, rtol=1e-12)
    h = np.asarray(anp.hessian(f)(x0))
    np.testing.assert_allclose(h, 2 * np.eye(2), atol=1e-12)


def test_in_place_with_itself_as_the_operand():
    # found by hostile testing after the fix above: t += t, t *= t, t[...] = t lost the gradient (None)
    x0 = np.array([1.0, 2.0])
    for op, want in [(operator.iadd, 8 * x0), (operator.imul, None)]:
        def f(x, op=op):
            t = x * 1.0
            op(t, t)
            return anp.sum(t * t) if op is operator.iadd else anp.sum(t)
        want = want if want is not None else 2 * x0   # Σ(2x)² → 8x; Σx² → 2x
        np.testing.assert_allclose(np.asarray(anp.grad(f)(x0)), want, rtol=1e-15)

    def g(x):
        t = x * 1.0
        t[...] = t
        t[1:] = t[:-1]
        return anp.sum(t * np.array([1.0, 10.0]))
    np.testing.assert_array_equal(np.asarray(anp.grad(g)(x0)), [11.0, 0.0])


def test_in_place_refusals():
    leaf = anp.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Tensor.*requires grad"):
        leaf += 1.0
    mid = leaf * 2
    with anp.no_grad(), pytest.raises(RuntimeError, match="result of recorded ops"):
        mid -= 1.0
    t = anp.Tensor(np.arange(3), dtype=np.int64)
    with pytest.raises(anp.OpError, match="dtype"):
        t += anp.Tensor([0.5, 0.5, 0.5], requires_grad=True)
    with pytest.raises(anp.OpError, match="shape"):
        u = leaf * 1
        u += anp.Tensor(np.ones((2, 2)))


def test_in_place_under_no_grad_on_an_array_a_kept_graph_holds():
    p = anp.Tensor([1.0, 2.0], requires_grad=True)
    loss = anp.sum(p * p)
    loss.backward(retain_graph=True)  # the graph keeps p's array read-only
    with anp.no_grad():
        p -= 1.0
    np.testing.assert_array_equal(p.numpy(), [0.0, 1.0])
    p.grad = None
    loss.backward()  # the graph recorded the old values: 2·[1, 2]
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 4.0])


# --------------------------------------------------------------------------- 5. repeated indices

def _assign_oracle(index, n=4):
    """∂/∂x Σ t after t = zeros; t[index] = x[1:]²·(1, 2, 3): by NumPy's own assignment, differenced."""
    w = np.array([1.0, 2.0, 3.0])

    def f_np(x):
        t = np.zeros(n)
        t[index] = x[1:] ** 2 * w
        return np.sum(t * np.arange(1, n + 1))

    def f(x):
        t = anp.Tensor(np.zeros(n))
        t[index] = x[1:] ** 2 * w
        return anp.sum(t * np.arange(1, n + 1))
    return f, f_np


@pytest.mark.parametrize("index", [np.array([0, 0, 2]), [1, 1, 1], (np.array([3, 0, 3]),), np.array([-1, 3, 0])])
def test_assignment_with_repeated_indices_follows_the_last_write(index):
    f, f_np = _assign_oracle(index)
    x0 = np.array([0.5, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(np.asarray(anp.grad(f)(x0)), central(f_np, x0), rtol=1e-7, atol=1e-9)


def test_issue_example_repeated_assignment():
    x = anp.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    t = anp.Tensor(np.zeros(2))
    t[np.array([0, 0])] = x[1:] ** 2
    anp.sum(t).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 6.0])  # t[0] = x[2]² (the last write)


def test_in_place_add_at_repeated_indices():
    # t[[0, 0]] += v: NumPy computes t[[0,0]] + v and writes both, the last wins: t[0] = t0 + v1
    def f_np(xv):
        t, v = xv[:3].copy(), xv[3:] ** 2
        t[[0, 0]] += v
        return np.sum(t * np.array([1.0, 2.0, 3.0]))

    def f(xv):
        t, v = xv[:3] * 1.0, xv[3:] ** 2
        t[[0, 0]] += v
        return anp.sum(t * np.array([1.0, 2.0, 3.0]))

    xv = np.array([1.0, 2.0, 3.0, 0.5, 1.5])
    np.testing.assert_allclose(np.asarray(anp.grad(f)(xv)), central(f_np, xv), rtol=1e-7, atol=1e-9)
    # second order: the Hessian of the same program against differences of the verified gradient
    h = np.asarray(anp.hessian(f)(xv))
    want = np.stack([central(lambda z: np.asarray(anp.grad(f)(z))[i], xv, 1e-5) for i in range(5)])
    np.testing.assert_allclose(h, want, atol=1e-6)


@pytest.mark.parametrize("index", [np.array([[True, False, True], [False, True, True]]),
                                   (slice(None), [2, 0, 2]), (np.array([1, 1]), slice(0, 2))])
def test_assignment_with_boolean_and_mixed_indices(index):
    v = np.array([0.3, 0.9, -1.1, 2.0])

    def run(lib, x):
        t = x.reshape(2, 3) * 1.0
        target = t[index]
        t[index] = (lib.reshape(x[:target.size], np.shape(target)) if lib is anp else
                    x[:target.size].reshape(np.shape(target))) ** 3
        return lib.sum(t * lib.reshape(lib.concatenate([v, v[:2]]), (2, 3)))

    x0 = np.array([0.5, -1.5, 1.0, 2.0, 0.3, -0.8])
    np.testing.assert_allclose(np.asarray(anp.grad(lambda x: run(anp, x))(x0)), central(lambda x: run(np, x), x0),
                               rtol=1e-7, atol=1e-9)


# --------------------------------------------------------------------------- 6. functions at special points

def test_std_over_a_length_one_axis_and_of_a_scalar():
    np.testing.assert_array_equal(np.asarray(anp.grad(lambda x: anp.sum(anp.std(x, axis=1)))(np.ones((3, 1)))),
                                  np.zeros((3, 1)))
    assert anp.grad(anp.std)(np.array(2.0)).item() == 0.0
    x0 = np.array([0.5, 1.5, -2.0])  # away from zero variance: the usual (x − μ)/(n·σ)
    np.testing.assert_allclose(np.asarray(anp.grad(anp.std)(x0)), central(np.std, x0), rtol=1e-7)


def test_eigvalsh_and_nuclear_norm_at_repeated_values():
    np.testing.assert_allclose(np.asarray(anp.grad(lambda A: anp.sum(np.linalg.eigvalsh(A)))(np.eye(3))), np.eye(3),
                               atol=1e-12)   # Σλ = trace: ∂ = I
    np.testing.assert_allclose(np.asarray(anp.grad(lambda A: np.linalg.norm(A, "nuc"))(2 * np.eye(3))), np.eye(3),
                               atol=1e-12)   # ‖A‖_* = tr A near 2I (positive definite): ∂ = I


def test_detect_anomaly_names_the_discarded_where_branch():
    x = anp.Tensor([0.0, 2.0], requires_grad=True)
    with np.errstate(all="ignore"):
        y = anp.sum(np.where(x.numpy() > 0, anp.sqrt(x), 0.0))
    with anp.detect_anomaly(), pytest.raises(anp.AnomalyError, match="(?s)sqrt produced NaN.*np.where discarded.*"
                                                                      "double-where"):
        y.backward()
    # the fix it names: a finite gradient, 1/(2√2) and 0
    g = anp.grad(lambda t: anp.sum(np.where(t.numpy() > 0, anp.sqrt(np.where(t.numpy() > 0, t, 1.0)), 0.0)))(
        np.array([0.0, 2.0]))
    np.testing.assert_allclose(np.asarray(g), [0.0, 1 / (2 * np.sqrt(2))], rtol=1e-15)


def test_eigenvector_gradient_at_a_repeated_eigenvalue_is_nan_not_a_number():
    with np.errstate(all="ignore"):
        g = np.asarray(anp.grad(lambda A: anp.sum(np.linalg.eigh(A)[1][:, 0]))(np.eye(2)))
    assert np.isnan(g).any()


def test_det_at_singular_matrices_is_the_cofactor_matrix():
    A = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])  # rank 2
    cof = np.array([[4.0, 4.0, -4.0], [-2.0, -2.0, 2.0], [0.0, 0.0, 0.0]])  # by hand
    np.testing.assert_allclose(np.asarray(anp.grad(np.linalg.det)(A)), cof, atol=1e-12)
    np.testing.assert_allclose(np.asarray(anp.grad(np.linalg.det)(np.zeros((3, 3)))), np.zeros((3, 3)), atol=1e-15)
    B = np.random.default_rng(1).normal(size=(4, 3, 3))
    np.testing.assert_allclose(np.asarray(anp.grad(lambda b: anp.sum(np.linalg.det(b)))(B)),
                               central(lambda b: np.sum(np.linalg.det(b)), B), rtol=1e-6)


def test_cumprod_and_prod_at_an_infinite_entry_do_not_divide_by_it():
    """∂ cumprod at an infinite xᵢ is a sum of products of the *other* entries, a number; dividing ansₖ by xᵢ gave
    ∞/∞ = NaN (HIPS autograd too). prod's Hessian-vector product, which goes through cumprod's gradient, had
    NaN in the infinite entry's row, where the definition Σ_{j≠i} vⱼ ∏_{k∉{i,j}} xₖ is finite (by hand: 6.95)."""
    x = np.array([2.0, np.inf, 3.0])
    with np.errstate(all="ignore"):
        g = np.asarray(anp.grad(lambda t: anp.sum(anp.cumprod(t) * np.array([0.0, 1.0, 0.0])))(x))
        assert g[1] == 2.0  # ∂(x₀x₁)/∂x₁ = x₀
        hv = np.asarray(anp.hvp(anp.prod)(np.array([2.0, np.inf, 3.0, 0.5]), np.array([0.3, -0.2, 0.5, 1.0])))
    assert hv[1] == pytest.approx(0.3 * 1.5 + 0.5 * 1.0 + 1.0 * 6.0, rel=1e-15)
    assert np.isinf(hv[[0, 2, 3]]).all()


def test_a_power_has_no_real_derivative_in_its_exponent_at_a_negative_base():
    """∂(x^y)/∂y = x^y·log x: NaN at x < 0, where x^y is real only at integer y (HIPS autograd and PyTorch agree);
    it was 0, a number with nothing behind it. 0 at x = 0 (as documented), x^y·log x elsewhere."""
    x = np.array([-2.0, 0.0, 3.0, -0.5])
    y0 = np.array([2.0, 2.0, 0.5, 3.0])
    with np.errstate(invalid="ignore"):
        g = np.asarray(anp.grad(lambda y: anp.sum(x ** y))(y0))
    assert np.isnan(g[[0, 3]]).all() and g[1] == 0.0
    assert g[2] == pytest.approx(3.0 ** 0.5 * np.log(3.0), rel=1e-14)


@pytest.mark.parametrize("program", [
    lambda t: t * (1 + 2j),
    lambda t: (-2.0 + 0.5j) ** t,
    lambda t: np.exp(1j * t),
    lambda t: np.sqrt(t - 1.0 + 0j),
    lambda t: np.asarray([1j]) @ anp.reshape(t, (1, 3)),
])
def test_a_complex_value_made_from_a_tensor_that_requires_grad_is_differentiated(program):
    """Complex values made from a Tensor that requires grad once flowed on through VJPs written for real values:
    np.real returned them unchanged (a complex "real part"), np.imag gave 0, and the gradient of Σ|exp(i·t)| = Σ1
    was not 0. Then the op that made them refused. Now they are differentiated in HIPS autograd's convention
    (test_complex.py): the real input gets the real part, equal to central differences of NumPy's program."""
    x = np.array([0.3, -1.2, 2.0])

    def loss(np_, t):
        y = program(t)
        return np_.sum(np_.real(y) * 1.5 + np_.imag(y) ** 2 + np_.abs(y))

    g = anp.grad(lambda t: loss(np, t))(x)
    assert np.asarray(g).dtype == np.float64
    np.testing.assert_allclose(np.asarray(g), central(lambda v: loss(np, v), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(anp.grad(lambda t: np.sum(np.abs(np.exp(1j * t))))(x)), 0.0, atol=1e-15)


def test_numpy_on_complex_constants_is_numpys():
    """autonp's ops are written for real values: np.var and np.std of a complex Tensor were means of (x − μ)²
    (complex, and wrong), np.linalg.norm a root of Σx², and eigvalsh's and svd's values came back complex.
    With nothing to record, NumPy's own function runs, and its arrays come back as constant Tensors; the
    same for methods."""
    rng = np.random.default_rng(4)
    z = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    m = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    h = m + m.conj().T
    t, th = anp.Tensor(z), anp.Tensor(h)
    x = anp.Tensor(np.ones((3, 4)), requires_grad=True)
    with anp.no_grad():
        mixed = np.var(t + x)  # under no_grad a Tensor that requires grad records nothing either
    cases = [(np.var(t), np.var(z)), (np.std(t, axis=1), np.std(z, axis=1)), (np.linalg.norm(t), np.linalg.norm(z)),
             (np.linalg.eigvalsh(th), np.linalg.eigvalsh(h)), (np.linalg.svd(th)[1], np.linalg.svd(h)[1]),
             (t.var(), z.var()), (t.std(axis=0), z.std(axis=0)), (mixed, np.var(z + 1)),
             (np.abs(t), np.abs(z)), (np.sort(t), np.sort(z))]
    for got, want in cases:
        assert isinstance(got, anp.Tensor) and got.dtype == want.dtype and not got.requires_grad
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-14)
    ones = anp.Tensor(np.ones((3, 4)), requires_grad=True)  # recorded: Σ conj(z)·1, as NumPy's
    np.testing.assert_allclose(np.vdot(t, ones).numpy(), np.vdot(z, np.ones((3, 4))), rtol=1e-14)


def test_real_imag_and_conjugate_of_complex_values_are_numpys():
    """They were identities written for real Tensors: np.real and np.conj returned complex values unchanged, and
    np.imag gave 0."""
    z = np.array([1.0 + 2.0j, -3.0 - 0.5j])
    t = anp.Tensor(z)
    for got, want in [(np.real(t), z.real), (np.imag(t), z.imag), (t.real, z.real), (t.imag, z.imag),
                      (np.conj(t), np.conj(z)), (np.conjugate(t), np.conj(z)), (np.real_if_close(t), z),
                      (np.real_if_close(anp.Tensor(z.real + 1e-20j)), z.real)]:
        assert isinstance(got, anp.Tensor) and got.dtype == want.dtype
        np.testing.assert_array_equal(got.numpy(), want)
    x = anp.Tensor(np.array([0.5, -1.0]), requires_grad=True)  # real values: real is x, imag is 0 · x
    np.testing.assert_array_equal(
        np.asarray(anp.grad(lambda v: anp.sum(v.real * 3.0 + np.imag(v) + np.conj(v) * v))(x.numpy())), [4.0, 1.0])


# --------------------------------------------------------------------------- 7. losses

def test_cross_entropy_refuses_bad_labels():
    logits = anp.Tensor(np.zeros((4, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        nn.cross_entropy(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        nn.cross_entropy(logits, np.array([0, -1, 2, 1]))
    with pytest.raises(ValueError, match="one_hot"):
        nn.cross_entropy(anp.Tensor(np.zeros((3, 3))), np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="dtype bool"):
        nn.cross_entropy(logits, np.array([True, False, True, True]))
    with pytest.raises(ValueError, match="shape"):
        nn.cross_entropy(logits, np.array([[0, 1]]))
    with pytest.raises(ValueError, match="≥ 0"):
        nn.cross_entropy(logits, np.full((4, 3), -0.5))
    for bad in (np.nan, np.inf, -1e-300):  # one entry is enough
        rows = np.eye(3)[[0, 1, 2, 0]]
        rows[2, 1] = bad
        with pytest.raises(ValueError, match="finite and ≥ 0"):
            nn.cross_entropy(logits, rows)


def test_cross_entropy_with_a_masked_logit():
    z = np.array([[0.0, -np.inf, 1.0]])
    loss = nn.cross_entropy(anp.Tensor(z, requires_grad=True), np.array([0]))
    assert loss.item() == pytest.approx(np.log(1 + np.e), rel=1e-12)  # −log(e⁰/(e⁰ + e¹)) = 1.3133
    g = np.asarray(anp.grad(lambda t: nn.cross_entropy(t, np.array([0])))(z))
    np.testing.assert_allclose(g, [[1 / (1 + np.e) - 1, 0.0, np.e / (1 + np.e)]], rtol=1e-12)


def test_regression_losses_refuse_shapes_that_broadcast_into_another_loss():
    pred = anp.Tensor(np.zeros((5, 1)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(5, 1\).*\(5,\)"):
        nn.mse_loss(pred, np.ones(5))
    with pytest.raises(ValueError, match="same shape"):
        nn.binary_cross_entropy(anp.Tensor(np.full((5, 1), 0.5)), np.ones(5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nn.binary_cross_entropy(anp.Tensor(np.full(3, 0.5)), np.array([0.0, 2.0, 1.0]))
    assert nn.mse_loss(pred, 1.0).item() == 1.0


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "binary_cross_entropy_sum"])
@pytest.mark.parametrize("probs", [[0.5, 1.2, 0.3], [-0.1, 0.5, 0.3], [0.5, np.nan, 0.3], [2.0, -3.0, 0.1]])
def test_binary_cross_entropy_refuses_predictions_outside_0_1(loss, probs):
    """Logits passed by mistake, or predictions that left [0, 1], made log(1 − p) or log p NaN: the loss and its
    gradient were NaN without an error. PyTorch refuses them; so does autonp, eagerly and in a compiled replay
    (whose guard sees the new values), naming the range. So are out-of-range targets under anp.compile, which raised
    a CompileError from formatting a traced value instead of the loss's own message."""
    t = np.array([0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"predictions must be probabilities in \[0, 1\]"):
        getattr(nn, loss)(anp.Tensor(np.array(probs), requires_grad=True), t)
    compiled = anp.compile(lambda p, t: getattr(nn, loss)(p * 1.0, t))
    ok = compiled(anp.Tensor(np.array([0.5, 0.9, 0.3]), requires_grad=True), t)
    assert ok.item() == pytest.approx(getattr(nn, loss)(np.array([0.5, 0.9, 0.3]), t).item(), rel=1e-15)
    with pytest.raises(ValueError, match=r"predictions must be probabilities in \[0, 1\]"):
        compiled(anp.Tensor(np.array(probs), requires_grad=True), t)
    with pytest.raises(ValueError, match=r"targets must be numbers in \[0, 1\].*range 0.5..1.5"):
        compiled(anp.Tensor(np.array([0.5, 0.9, 0.3]), requires_grad=True), t * 0 + np.array([0.5, 1.5, 1.0]))


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "binary_cross_entropy_sum"])
def test_binary_cross_entropy_of_an_exactly_right_prediction(loss):
    """−[t·log p + (1−t)·log(1−p)] at p = 0 for t = 0 (and p = 1 for t = 1) is 0 by the definition's 0·log 0 = 0,
    and its derivative in p is 1/(1 − p) = 1 (−1/p = −1): autonp computed 0·(−∞) = NaN for both. PyTorch gives the
    loss 0 but the gradient 0 (it divides (p − t) by a clamped p(1 − p))."""
    p, t = np.array([0.0, 1.0, 0.25]), np.array([0.0, 1.0, 1.0])
    x = anp.Tensor(p, requires_grad=True)
    out = getattr(nn, loss)(x, t)
    out.backward()
    n = 3  # the mean over three entries; the sum over a row's outputs averaged over three rows
    assert float(out.numpy()) == pytest.approx(-np.log(0.25) / n, rel=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), np.array([1.0, -1.0, -4.0]) / n, rtol=1e-15)


# --------------------------------------------------------------------------- 12. structure, scale, threads

def test_sequential_runs_layers_appended_later():
    seq = nn.Sequential(nn.Linear(2, 2, rng=np.random.default_rng(0)))
    x = np.array([[1.0, -2.0]])
    before = seq(x).numpy()
    seq.layers.append(nn.Tanh())
    np.testing.assert_allclose(seq(x).numpy(), np.tanh(before), rtol=1e-15)


@pytest.mark.parametrize("join", ["stack", "concatenate", "array"])
def test_backward_through_many_parts_is_linear(join):
    import gc
    import time

    def run(n):
        x = anp.Tensor(np.arange(n, dtype=float), requires_grad=True)
        if join == "concatenate":
            y = np.concatenate([x[i:i + 1] * 2.0 for i in range(n)])
        elif join == "stack":
            y = anp.stack([x[i] * 2.0 for i in range(n)])
        else:
            y = anp.Tensor([x[i] * 2.0 for i in range(n)])
        gc.collect()
        gc.disable()  # a collection of the 16,000-Tensor graph landing in one timing is not the backward's cost
        try:
            start = time.perf_counter()
            anp.sum(y * y).backward()
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        np.testing.assert_array_equal(x.grad.numpy(), 8 * np.arange(n))
        return elapsed

    run(500)
    small, large = min(run(2000) for _ in range(3)), min(run(16000) for _ in range(3))
    assert large < 8 * 8 * small / 4  # 8× the parts: quadratic would be 64×; allow 16× for noise


def test_two_threads_racing_backward_on_one_graph():
    errors, wrong = [], []
    for _ in range(40):
        x = anp.Tensor(np.linspace(-1, 1, 50), requires_grad=True)
        h = x
        for _ in range(30):
            h = anp.tanh(h) * 1.1
        loss = anp.sum(h)
        barrier = threading.Barrier(2)

        def go():
            barrier.wait()
            try:
                loss.backward()
            except anp.GraphFreedError:
                pass
            except Exception as e:  # noqa: BLE001 - anything else is the bug
                errors.append(e)

        ts = [threading.Thread(target=go) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ref = anp.Tensor(x.numpy(), requires_grad=True)
        h = ref
        for _ in range(30):
            h = anp.tanh(h) * 1.1
        anp.sum(h).backward()
        ratio = x.grad.numpy() / ref.grad.numpy()
        if not (np.allclose(ratio, 1.0) or np.allclose(ratio, 2.0)):  # one pass, or two whole passes
            wrong.append(ratio)
    assert not errors and not wrong


# --------------------------------------------------------------------------- 9–10. saving and resuming

RESUME = r"""
import sys, numpy as np, autonp as anp
from autonp import nn
X = np.random.default_rng(5).normal(size=(32, 4)); y = np.random.default_rng(6).integers(0, 3, 32)
rng = np.random.default_rng(0)
net = nn.Sequential(nn.Linear(4, 16, rng=rng), nn.ReLU(), nn.Dropout(0.3, seed=7), nn.BatchNorm1d(16),
                    nn.Linear(16, 3, rng=rng))
opt = anp.optim.Adam(net.parameters(), lr=0.02)
sched = anp.optim.StepLR(opt, step_size=4, gamma=0.5)
mode, path = sys.argv[1], sys.argv[2]
if mode == "resume":
    state = anp.load(path)
    net.load_state_dict(state["model"]); opt.load_state_dict(state["optimizer"]); sched.load_state_dict(state["lr"])
costs = []
for step in (range(10) if mode == "first" else range(10, 20) if mode == "resume" else range(20)):
    opt.zero_grad()
    loss = nn.cross_entropy(net(X), y)
    loss.backward()
    opt.step()
    sched.step()
    costs.append(loss.item())
if mode == "first":
    anp.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "lr": sched.state_dict()}, path)
print(" ".join(repr(c) for c in costs))
"""


def test_resume_with_dropout_batchnorm_adam_and_a_schedule_is_bit_identical(tmp_path):
    import subprocess
    import sys
    script = tmp_path / "train.py"
    script.write_text(RESUME)

    def run(mode):
        out = subprocess.run([sys.executable, str(script), mode, str(tmp_path / "ck.npz")], capture_output=True,
                             text=True, check=True)
        return [float(c) for c in out.stdout.split()]
    straight = run("straight")
    assert run("first") + run("resume") == straight


def test_save_keeps_zero_d_arrays_and_scalar_parameters(tmp_path):
    for suffix in (".npz", ".safetensors"):
        pytest.importorskip("safetensors") if suffix == ".safetensors" else None
        p = nn.Parameter(np.array(1.5))
        anp.save({"p": p, "a": np.array(2, dtype=np.int32)}, tmp_path / f"s{suffix}")
        back = anp.load(tmp_path / f"s{suffix}")
        assert back["p"].shape == () and back["a"].shape == () and back["a"].dtype == np.int32
        # NumPy scalars come back as scalars of their type (they came back as 0-d arrays)
        scalars = {"f32": np.float32(1.5), "i64": np.int64(3), "f64": np.float64(1.25), "b": np.bool_(True)}
        anp.save(scalars, tmp_path / f"n{suffix}")
        for k, v in anp.load(tmp_path / f"n{suffix}").items():
            assert type(v) is type(scalars[k]) and v == scalars[k], k
    opt = anp.optim.Adam([p], lr=0.1)
    p.grad = np.array(0.5)
    opt.step()
    anp.save(opt.state_dict(), tmp_path / "o.npz")
    other = anp.optim.Adam([nn.Parameter(np.array(0.0))], lr=0.1)
    other.load_state_dict(anp.load(tmp_path / "o.npz"))
    assert other.m[0].shape == () and other.t == 1


@pytest.mark.parametrize("bad", ["shape", "dtype", "list"])
def test_optimizer_state_put_in_by_hand_is_refused_before_any_parameter_moves(bad):
    """``opt.velocity[1] = ...`` of another shape raised NumPy's broadcasting error from inside the update, after the
    first parameter had moved; now the step refuses first, naming the slot and the shapes."""
    from autonp import optim
    a, b = (anp.Tensor(np.ones(s), requires_grad=True) for s in ((2, 3), (3,)))
    for opt in (optim.SGD([a, b], lr=0.1, momentum=0.9), optim.Adam([a, b], lr=0.1)):
        (anp.sum(a * a) + anp.sum(b * b)).backward()
        opt.step()
        before = a.numpy().copy(), b.numpy().copy()
        slot = "velocity" if isinstance(opt, optim.SGD) else "v"
        getattr(opt, slot)[1] = {"shape": np.ones((2, 3)), "dtype": np.ones(3, int), "list": [1.0, 2.0, 3.0]}[bad]
        with pytest.raises(ValueError, match=rf"{slot}\[1\] is .* for a parameter \(3,\) float64"):
            opt.step()
        np.testing.assert_array_equal(a.numpy(), before[0])
        np.testing.assert_array_equal(b.numpy(), before[1])
        a.grad = b.grad = None


def test_load_state_dict_refuses_none_and_changes_nothing_on_a_bad_entry():
    net = nn.Sequential(nn.Linear(2, 3, rng=np.random.default_rng(0)), nn.Linear(3, 1, rng=np.random.default_rng(1)))
    before = {k: v.copy() for k, v in net.state_dict().items()}
    state = {k: v + 1.0 for k, v in before.items()}
    with pytest.raises(anp.FormatError, match="layers.1.bias"):
        net.load_state_dict({**state, "layers.1.bias": None})
    with pytest.raises(anp.FormatError, match="layers.1.bias"):
        net.load_state_dict({**state, "layers.1.bias": np.array(["x"])})
    with pytest.raises(anp.FormatError, match=r"layers.1.bias: dtype complex"):  # not its real part, silently
        net.load_state_dict({**state, "layers.1.bias": state["layers.1.bias"] + 2j})
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_optimizer_states_are_checked(tmp_path):
    p = nn.Parameter(np.ones(3))
    opt = anp.optim.Adam([p])
    p.grad = np.ones(3)
    opt.step()
    good = opt.state_dict()
    for bad, match in [({k: v for k, v in good.items() if k != "m"}, "missing"),
                       ({**good, "v": [-np.ones(3)]}, "negative"),
                       ({**good, "m": [np.ones(2)]}, "shape"),
                       ({**good, "counters": {"t": -1}}, "counter"),
                       ({**good, "steps": [np.array(1.5)]}, "not a count"),
                       ({**good, "type": "SGD"}, "SGD")]:
        fresh = anp.optim.Adam([nn.Parameter(np.ones(3))])
        before = fresh.state_dict()
        with pytest.raises(anp.FormatError, match=match):
            fresh.load_state_dict(bad)
        after = fresh.state_dict()
        assert after["counters"] == before["counters"] == {"t": 0}
        assert all(np.array_equal(a, b) for slot in ("m", "v") for a, b in zip(after[slot], before[slot]))


def test_damaged_and_crafted_files_raise_format_error_naming_the_file(tmp_path):
    import json
    import os
    path = tmp_path / "ok.npz"
    anp.save({"w": np.ones(3), "n": [1, 2]}, path)
    raw = path.read_bytes()
    cases = {"truncated.npz": raw[: len(raw) // 2], "garbage.npz": b"PK\x03\x04" + b"\x00" * 50, "empty.npz": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    manifests = {"badtensor.npz": {"list": [{"tensor": "w", "requires_grad": "yes", "name": None}]},
                 "unknown.npz": {"dict": {"w": {"array": "nope"}}},
                 "weird.npz": {"value": {"a": 1}}, "badkind.npz": ["x"]}
    for name, manifest in list(manifests.items()) + [("recursive.npz", None)]:
        with open(tmp_path / name, "wb") as f:
            text = json.dumps(manifest) if name != "recursive.npz" else "[" * 100000
            np.savez(f, __autonp_manifest__=np.frombuffer(text.encode(), dtype=np.uint8), w=np.ones(2))
    os.mkfifo(tmp_path / "fifo.npz")
    import zipfile
    with zipfile.ZipFile(tmp_path / "notnpy.npz", "w") as z:  # a zip whose member is not an .npy file
        z.writestr("w.npy", b"not an npy")
    raw_st = None
    try:
        anp.save({"w": np.ones(3)}, tmp_path / "ok.safetensors")
        raw_st = (tmp_path / "ok.safetensors").read_bytes()
        (tmp_path / "cut.safetensors").write_bytes(raw_st[: len(raw_st) // 2])
    except ImportError:
        pass
    extra = ["notnpy.npz"] + (["cut.safetensors"] if raw_st is not None else [])
    for name in list(cases) + list(manifests) + ["recursive.npz", "fifo.npz"] + extra:
        with pytest.raises(anp.FormatError, match=name):
            anp.load(tmp_path / name)


SAVER = r"""
import sys, numpy as np, autonp as anp
for i in range(30):
    anp.save({"who": int(sys.argv[2]), "w": np.full(1000, float(sys.argv[2]))}, sys.argv[1])
"""


def test_two_processes_saving_to_one_path(tmp_path):
    import subprocess
    import sys
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    target = tmp_path / "shared.npz"
    procs = [subprocess.Popen([sys.executable, str(script), str(target), str(k)], stderr=subprocess.PIPE)
             for k in (1, 2)]
    errs = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    back = anp.load(target)
    assert back["who"] in (1, 2) and np.all(back["w"] == back["who"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saver.py", "shared.npz"]


# --------------------------------------------------------------------------- 8. load_mnist

def _mnist_file(path, **override):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (6, 28, 28)).astype(np.uint8), "y_train": np.arange(6, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (2, 28, 28)).astype(np.uint8), "y_test": np.array([9, 0], np.uint8)}
    arrays.update(override)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("override, match", [
    ({"y_train": np.array([0, 1, 2, 10, 4, 5])}, r"\[10\] outside the digits"),
    ({"y_train": np.array([0, 1, 2, 255, 4, 5], np.uint8)}, r"\[255\]"),
    ({"y_test": np.array([-1, 0])}, r"\[-1\]"),
    ({"y_test": np.array([3.7, 1.0])}, "dtype float64"),
    ({"y_test": np.array(["3", "1"])}, "dtype <U1"),
    ({"x_test": np.full((2, 28, 28), 300, np.uint16)}, r"values in \[300, 300\]"),
    ({"x_test": np.full((2, 28, 28), -5, np.int8)}, r"values in \[-5, -5\]"),
    ({"x_test": np.full((2, 28, 28), np.nan)}, "float64 with values"),
])
def test_load_mnist_refuses_bad_labels_and_pixels(tmp_path, override, match):
    path = _mnist_file(tmp_path / "m.npz", **override)
    with pytest.raises(anp.datasets.MNISTFormatError, match=match) as e:
        anp.datasets.load_mnist(path)
    assert str(path) in str(e.value)


def test_load_mnist_accepts_wider_integer_pixels_within_range(tmp_path):
    x = np.full((2, 28, 28), 255, np.uint16)
    data = anp.datasets.load_mnist(_mnist_file(tmp_path / "m.npz", x_test=x))
    assert data.flat()[1].max() == 1.0


def test_load_mnist_on_damaged_archives_and_fifos(tmp_path):
    import os
    good = _mnist_file(tmp_path / "good.npz").read_bytes()
    damaged = bytearray(good)
    damaged[len(good) // 3: len(good) // 3 + 200] = b"\xff" * 200  # inside a member's data
    (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
    (tmp_path / "cut.npz").write_bytes(good[: len(good) // 2])
    os.mkfifo(tmp_path / "fifo.npz")
    for name in ("damaged.npz", "cut.npz", "fifo.npz"):
        with pytest.raises(anp.datasets.MNISTFormatError, match=name):
            anp.datasets.load_mnist(tmp_path / name)


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_and_cholesky_gradients_match_what_they_read_of_a_non_symmetric_matrix(uplo):
    """NumPy's eigh and cholesky read one triangle; their gradient used to be returned symmetrised, which
    finite differences in a general direction contradict (HIPS's own eigh tests found it)."""
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 4))
    w = rng.normal(size=4)
    f = lambda M: np.sum(np.linalg.eigh(M, uplo)[0] * w)  # noqa: E731
    got = np.asarray(anp.grad(f)(A))
    np.testing.assert_allclose(got, central(f, A), rtol=1e-7, atol=1e-9)
    untouched = np.triu(np.ones((4, 4)), 1) if uplo == "L" else np.tril(np.ones((4, 4)), -1)
    assert not np.any(got[untouched == 1])
    S = A @ A.T + 4 * np.eye(4) + np.triu(rng.normal(size=(4, 4)), 1)  # the upper triangle is never read
    g = lambda M: np.sum(np.linalg.cholesky(M) * np.arange(16.0).reshape(4, 4))  # noqa: E731
    np.testing.assert_allclose(np.asarray(anp.grad(g)(S)), central(g, S), rtol=1e-7, atol=1e-9)


def test_an_output_given_twice_gets_both_seeds():
    """gradients([y, y], x) counted y's inputs' uses twice but walked y once: x got no gradient at all."""
    x = anp.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    (g,) = anp.gradients([y, y], [x], grad_outputs=[np.ones(2), np.full(2, 2.0)])
    np.testing.assert_array_equal(np.asarray(g), [9.0, 9.0])
    _, pullback = anp.vjp(lambda t: (anp.sin(t),) * 2, np.array([0.3]))
    np.testing.assert_allclose(pullback((np.ones(1), np.ones(1))), 2 * np.cos([0.3]), rtol=1e-15)
    # and a tangent that is returned twice (the forward mode of a function returning [x, x])
    d = anp.jvp(lambda xv: anp.jvp(lambda x: [x, x], (xv[0],), (xv[1],))[1], ((1.0, 0.5),), ((0.0, 1.0),))[1]
    assert [float(v) for v in d] == [1.0, 1.0]


# --------------------------------------------------------------------------- 13. empty and 0-d arrays

@pytest.mark.parametrize("shape, axis, ddof", [((0, 4), 0, 1), ((2, 3), 0, 3), ((2, 3), None, 7), ((), None, 1)])
def test_var_and_std_with_ddof_at_least_n_are_numpys_inf_or_nan(shape, axis, ddof):
    """NumPy divides by max(n − ddof, 0): ∞ (or NaN for 0/0) once ddof ≥ n. autonp divided by n − ddof < 0,
    giving −0 for an empty axis and −4.5 for [[0, 1, 2], [3, 4, 5]] with ddof 3: numbers of the wrong sign."""
    x = np.arange(float(np.prod(shape))).reshape(shape)
    for f in (np.var, np.std):
        t = anp.Tensor(x, requires_grad=True)
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's own: "Degrees of freedom <= 0", "Mean of empty"
            want = f(x, axis=axis, ddof=ddof)
            got = f(t, axis=axis, ddof=ddof)
            got.sum().backward()
        np.testing.assert_array_equal(got.numpy(), want)
        assert t.grad.shape == x.shape and not np.isfinite(t.grad.numpy()).any()  # no number where there is none


@pytest.mark.parametrize("reduce", [np.sum, np.max, np.min, np.prod, np.add.reduce, np.maximum.reduce,
                                    np.cumsum, np.cumprod])
@pytest.mark.parametrize("axis", [0, -1])
def test_a_0d_array_reduced_along_axis_0_or_minus_1_is_itself(reduce, axis):
    """NumPy reduces a 0-d array along axis 0 or −1 as along none: f(x) = x (cumsum and cumprod as [x]), so
    the gradient is 1. The forward agreed; the backward raised NumPy's AxisError from inside autonp."""
    t = anp.Tensor(np.array(2.5), requires_grad=True)
    out = reduce(t, axis=axis)
    np.testing.assert_array_equal(out.numpy(), reduce(np.array(2.5), axis=axis))
    out.sum().backward()
    assert t.grad.shape == () and t.grad.item() == 1.0
    with pytest.raises(Exception, match="axis 1 is out of bounds"):  # any other axis: NumPy's refusal
        reduce(anp.Tensor(np.array(2.5), requires_grad=True), axis=1)


@pytest.mark.parametrize("shape, ord, axis", [((0,), np.inf, None), ((0, 4), 2, None), ((4, 0), 1, None),
                                              ((0, 3), np.inf, None), ((3, 0), np.inf, 1)])
def test_norms_over_nothing_are_numpys_zero(shape, ord, axis):
    """NumPy's ∞-, 1- and 2-norms take their max with initial=0: 0 over an empty vector or matrix. autonp
    refused with "zero-size array to reduction operation maximum"."""
    x = np.zeros(shape)
    t = anp.Tensor(x, requires_grad=True)
    got = np.linalg.norm(t, ord, axis)
    np.testing.assert_array_equal(got.numpy(), np.linalg.norm(x, ord, axis))
    got.sum().backward()
    assert t.grad.shape == shape


def test_logsumexp_softmax_and_log_softmax_over_an_empty_axis():
    """log Σ over no terms is log 0 = −∞ (SciPy's and PyTorch's value), and softmax of an empty row is empty;
    all three refused, from the max they take for stability."""
    scipy_special = pytest.importorskip("scipy.special")
    import autonp.scipy.special as asp
    for shape, axis in [((3, 0), 1), ((0, 3), 0), ((0,), None)]:
        x = np.zeros(shape)
        for lse in (anp.logsumexp, asp.logsumexp):
            t = anp.Tensor(x, requires_grad=True)
            got = lse(t, axis=axis)
            np.testing.assert_array_equal(got.numpy(), scipy_special.logsumexp(x, axis=axis))
            got.sum().backward()
            assert t.grad.shape == shape
    for f in (anp.softmax, anp.log_softmax):
        t = anp.Tensor(np.zeros((3, 0), np.float32), requires_grad=True)
        with np.errstate(all="raise"):  # no log of an empty row's zero sum on the way
            out = f(t, axis=1)
            out.sum().backward()
        assert out.shape == (3, 0) and out.dtype == np.float32 and t.grad.shape == (3, 0)


@pytest.mark.parametrize("a, b", [([np.inf, 0.0], [0.0, 1.0]), ([1000.0, 0.0], [0.0, 1.0]),
                                  ([[3.0, 800.0, -1.0], [np.inf, 2.0, 0.5]], [[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])])
def test_logsumexp_leaves_out_the_terms_of_weight_zero(a, b):
    """``scipy.special.logsumexp(a, b=b)`` leaves a term of weight 0 out whatever its a. autonp took the stabilising
    maximum over every a: log Σ b·exp(a − 1000) + 1000 = −∞ for a = [1000, 0], b = [0, 1], where SciPy gives 0;
    NaN (0·∞) for a = [∞, 0]. The gradient in a is b·exp(a − ans): 0 for the left-out term, here exactly."""
    scipy_special = pytest.importorskip("scipy.special")
    import autonp.scipy.special as asp
    a, b = np.array(a), np.array(b)
    for axis in (None, -1):
        want = scipy_special.logsumexp(a, b=b, axis=axis)
        t = anp.Tensor(a, requires_grad=True)
        got = asp.logsumexp(t, b=b, axis=axis)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-15)
        got.sum().backward()
        full = np.broadcast_to(np.expand_dims(want, -1) if axis is not None else want, a.shape)
        with np.errstate(invalid="ignore", over="ignore"):
            oracle = np.where(b == 0, 0.0, b * np.exp(a - full))  # hand-derived, the left-out terms 0
        np.testing.assert_allclose(t.grad.numpy(), oracle, rtol=1e-14)


def test_logsumexp_with_weights_differentiates_in_both_to_second_order():
    """∂/∂b of log Σ b·exp(a) is exp(a − ans), also where b is 0 (the term is left out of the value only);
    b broadcasting a, keepdims, against central differences of SciPy's logsumexp, and ∂²/∂a² against central
    differences of the hand-derived gradient b·exp(a)/Σ b·exp(a)."""
    scipy_special = pytest.importorskip("scipy.special")
    import autonp.scipy.special as asp
    rng = np.random.default_rng(3)
    a0, b0 = rng.normal(size=(2, 4)), rng.uniform(0.5, 2.0, size=(3, 1, 4))
    b0[1, 0, 2] = b0[0, 0, 0] = 0.0
    for axis, keepdims in [(-1, False), ((0, 2), True), (None, False)]:
        def value(a, b):
            return np.sum(np.cos(scipy_special.logsumexp(a, b=b, axis=axis, keepdims=keepdims)))

        ga, gb = anp.grad(lambda a, b: anp.sum(anp.cos(asp.logsumexp(a, b=b, axis=axis,
                                                                      keepdims=keepdims))),
                          argnum=(0, 1))(a0, b0)
        np.testing.assert_allclose(ga, central(lambda a: value(a, b0), a0), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(gb, central(lambda b: value(a0, b), b0), rtol=1e-7, atol=1e-9)
    b1 = np.array([1.0, 0.0, 2.0, 0.5])

    def hand_grad(a):
        e = b1 * np.exp(a - a.max())
        return e / e.sum()

    hess = anp.hessian(lambda a: asp.logsumexp(a, b=b1))(a0[0])
    want = np.stack([central(lambda a: hand_grad(a)[i], a0[0]) for i in range(4)])
    np.testing.assert_allclose(hess, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name, x, want", [
    # the exact derivatives (mpmath, 40 digits) at the float64 x given
    ("arcsin", 0.999999999, 22360.680096789679974),
    ("arccos", -0.999999999999, -707114.60252564535451),
    ("arctanh", 0.999999999, 500000014.39096613177),
    ("arcsinh", 1e200, 1.0000000000000000303e-200),
    ("arccosh", 1.000000001, 22360.678844342314009),
    ("arccosh", 1e200, 1.0000000000000000303e-200),
])
def test_inverse_trig_derivatives_keep_their_digits_near_one_and_far_out(name, x, want):
    """1 − x·x near |x| = 1 cancels: arctanh's derivative at 1 − 1e-9 was 5e-11 off relative (arcsin's 2.5e-11,
    and 5e-10 at 1 − 1e-12); x·x ± 1 overflows past 1e154, where arcsinh's and arccosh's derivatives came out 0
    instead of 1e-200. As (1 − x)(1 + x), √(x − 1)·√(x + 1) and hypot(x, 1) they are right to the last digits."""
    got = float(np.asarray(anp.grad(getattr(np, name))(x)))
    assert got == pytest.approx(want, rel=4e-16)


def test_expm1_gradient_keeps_its_digits_for_negative_x():
    """∂ expm1(x) = eˣ was computed as expm1(x) + 1: 0 at x = −40 (where it is 4.2e-18), 2e-8 off relative at −20."""
    for x, want in [(-40.0, 4.248354255291588995e-18), (-20.0, 2.0611536224385578280e-09), (1e-10, 1.0000000001)]:
        assert float(np.asarray(anp.grad(np.expm1)(x))) == pytest.approx(want, rel=2e-16, abs=0)


@pytest.mark.parametrize("a, b, da, db, daa", [
    # ψ(a) − ψ(a + b), ψ(b) − ψ(a + b) and ψ'(a) − ψ'(a + b), exact (mpmath, 50 digits)
    (1e8, 2.0, -1.9999999900000001e-8, -17.997896423853898224, 1.9999999800000003e-16),
    (1e15, 2.0, -1.999999999999999e-15, -34.115992059812219621, 1.999999999999998e-30),
    (1e8, 1e-3, -1.0000000049950000374e-11, -1018.9962526707726451, 1.0000000099900000707e-19),
    (30.0, 0.5, -0.016805536276136207873, -5.3647536949830845639, 0.00056481224493833568633),
])
def test_betaln_gradient_with_a_large_parameter(a, b, da, db, daa):
    """∂/∂a log B(a, b) = ψ(a) − ψ(a + b) was that difference of two ψ's of ~ln a: 9e-8 off relative at a = 1e8,
    b = 2; 2.7e-4 at b = 1e-3; 0 at a = 1e15 (it is −2e-15) — and scipy.stats.beta's gradients with it. Now from
    ψ's asymptotic series term by term, to second order."""
    import autonp.scipy.special as asp
    ga, gb = anp.grad(lambda x, y: asp.betaln(x, y), argnum=(0, 1))(a, b)
    assert (float(ga), float(gb)) == (pytest.approx(da, rel=1e-14, abs=0), pytest.approx(db, rel=1e-14, abs=0))
    h = anp.hessian(lambda v: asp.betaln(v[0], v[1]))(np.array([a, b]))
    assert float(h[0, 0]) == pytest.approx(daa, rel=1e-13, abs=0)


@pytest.mark.parametrize("df, value, d_df, rel", [
    # log p(0.7) and its derivative in the degrees of freedom, exact (mpmath, 50 digits)
    (1e5, -1.1639428829506309981, 4.3497419165455394958e-11, 1e-10),
    (1e8, -1.1639385375544227067, 4.349749991916633087e-17, 1e-7),
])
def test_student_t_with_many_degrees_of_freedom(df, value, d_df, rel):
    """scipy.stats.t.logpdf with Tensors wrote log Γ((ν + 1)/2) − log Γ(ν/2) as the difference of two numbers of
    ~ν·log ν: its value was 9e-9 off relative at ν = 1e8, and its gradient in ν 1.5e-5 off at 1e5 and all wrong at
    1e8 (SciPy's value is right). Now Stirling's series term by term (``lgamma_gap``): the value to the last digit;
    the gradient's other terms still cancel to ~ε·ν (1e-11 at 1e5, 1e-8 at 1e8)."""
    import autonp.scipy.stats as ast
    assert float(ast.t.logpdf(anp.Tensor(0.7), anp.Tensor(df)).numpy()) == pytest.approx(value, rel=1e-15, abs=0)
    assert float(np.asarray(anp.grad(lambda d: ast.t.logpdf(0.7, d))(df))) == pytest.approx(d_df, rel=rel, abs=0)


@pytest.mark.parametrize("name, args, x, want, rel", [
    # the Gamma(a) and Beta(a, b) densities at x, exact (mpmath, 60 digits); rel: what rounding x itself allows
    # (the density's relative change per ulp of x: ε·|x·∂log f/∂x|, 1.7e-12 at the third)
    ("gammainc", (1e5,), 100100.0, 0.001198879041310460129, 1e-14),
    ("gammainc", (1e9,), 1001000000.0, 1.2528277867810548535e-222, 1e-13),
    ("betainc", (1e7, 2e7), 0.333, 2.5585787695664863416, 2e-12),
    ("betainc", (30.0, 1e6), 2.87e-5, 73757.649750409045865, 1e-14),
])
def test_incomplete_gamma_and_beta_derivatives_with_large_parameters(name, args, x, want, rel):
    """∂/∂x gammainc(a, x) = x^(a−1)e^(−x)/Γ(a) was exp((a − 1)·log x − x − log Γ(a)), a difference of numbers of
    ~a·log a: 7e-11 off relative at a = 1e5, 1e-6 at 1e9 (Poisson and Gamma CDFs of large counts); betainc's the same,
    3.5e-8 off at a, b = 1e7, 2e7. Now Loader's saddle-point forms (stirlerr, bd0), as R computes these densities."""
    import autonp.scipy.special as asp
    f = getattr(asp, name)
    assert float(np.asarray(anp.grad(lambda t: f(*args, t))(x))) == pytest.approx(want, rel=rel, abs=0)


def test_arctan2_gradient_at_tiny_and_huge_arguments():
    """∂ arctan2(y, x) = (x, −y)/(x² + y²): x² + y² underflowed to 0 for entries of 1e-200, making the gradient ±∞
    where it is (4e199, −2e199), and overflowed for 1e200 (0 for (3e-201, −1e-201))."""
    for (y, x), want in [((1e-200, 2e-200), (4e199, -2e199)), ((1e200, 3e200), (3e-201, -1e-201)),
                         ((1.0, 2.0), (0.4, -0.2))]:
        got = anp.grad(lambda a, b: np.arctan2(a, b), argnum=(0, 1))(y, x)
        np.testing.assert_allclose([float(g) for g in got], want, rtol=4e-16)


@pytest.mark.parametrize("x, first, second", [
    # φ/Φ and its derivative −(φ/Φ)(x + φ/Φ), exact (mpmath, 60 digits)
    (-1e9, 1000000000.000000001, -0.999999999999999999),
    (-1e7, 10000000.0000001, -0.99999999999999),
    (-1e3, 1000.00099999800001, -0.99999900000599995),
    (-10.0, 10.098093233962511963, -0.99055462217434373884),
    (3.0, 0.0044378390421256637933, -0.013333211541740806209),
])
def test_log_ndtr_derivatives_far_in_the_lower_tail(x, first, second):
    """d/dx log Φ(x) = φ(x)/Φ(x) was exp(−x²/2 − log Φ(x))/√(2π): two numbers of ~x²/2 subtracted, 1% off at
    x = −1e7 and 0.4 where it is 1e9 at x = −1e9 (∞ further out) — scipy.stats.norm.logcdf's gradient too, as a
    probit model's far tail meets it. Now √(2/π)/erfcx(−x/√2) below 0, and its second derivative through
    erfcx's (an asymptotic series past 50, where 2x·erfcx(x) − 2/√π cancels)."""
    import autonp.scipy.special as asp
    assert float(np.asarray(anp.grad(asp.log_ndtr)(x))) == pytest.approx(first, rel=1e-15)
    assert float(np.asarray(anp.grad(anp.grad(asp.log_ndtr))(x))) == pytest.approx(second, rel=1e-14)


def test_erfcx_derivative_where_its_formula_cancels():
    """erfcx'(x) = 2x·erfcx(x) − 2/√π loses digits as 4e-16·x² (all of them by 1e8); exact values (mpmath)."""
    import autonp.scipy.special as asp
    for x, want in [(100.0, -0.000056410497625993184868), (1e6, -5.6418958354691000257e-13), (0.3, None)]:
        got = float(np.asarray(anp.grad(asp.erfcx)(x)))
        if want is None:  # below 50: the formula itself, against central differences of SciPy's erfcx
            import scipy.special as sc
            want = (sc.erfcx(x + 1e-6) - sc.erfcx(x - 1e-6)) / 2e-6
            assert got == pytest.approx(want, rel=1e-9)
        else:
            assert got == pytest.approx(want, rel=1e-15)


# --------------------------------------------------------------------------- 14. optimizers

@pytest.mark.parametrize("scale", [1.0, 1e-6])
def test_adam_is_algorithm_1_as_hips_autograd_and_pytorch_run_it(scale):
    """Adam added eps to √v and scaled the step by √(1 − β₂ᵗ)/(1 − β₁ᵗ) (the paper's "efficient" form), which
    is eps/√(1 − β₂ᵗ) against √v̂: 32× eps at the first step. With gradients of 1e-6 the parameters ended 0.025
    away from HIPS autograd's and PyTorch's after 100 steps of lr 0.01 (3.6e-8 with gradients of 1)."""
    optimizers = pytest.importorskip("autograd.misc.optimizers")

    def grad(x, t):
        return scale * (x ** 3 - x + np.sin(3 * t + np.arange(x.size)))
    x0 = np.linspace(-1.0, 1.0, 5)
    want = optimizers.adam(grad, x0.copy(), num_iters=100, step_size=0.01)
    p = nn.Parameter(x0.copy())
    opt = anp.optim.Adam([p], lr=0.01)
    for t in range(100):
        p.grad = grad(p.numpy(), t)
        opt.step()
    np.testing.assert_allclose(p.numpy(), want, rtol=0, atol=1e-14)


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_counts_each_parameter_s_own_updates(decoupled):
    """Adam's t was the optimizer's count of step() calls: a parameter whose first gradient came at the third step
    (a frozen part, a branch the loss did not reach) got the bias correction 1 − β₁³ for a first moment of one
    gradient, a first move 1/(1 + β₁ + β₁²) of Adam's, 0.054 off PyTorch's in four steps. Checked against Algorithm 1
    written out per parameter (t = its own updates, as PyTorch counts), and against PyTorch where installed."""
    rng = np.random.default_rng(0)
    x0 = [rng.normal(size=3), rng.normal(size=2)]
    grads = [[rng.normal(size=3) for _ in range(6)], [rng.normal(size=2) for _ in range(6)]]
    reached = [range(6), (2, 3, 5)]                     # the second parameter has no .grad at steps 0, 1 and 4
    lr, wd, (b1, b2), eps = 0.1, 0.1, (0.9, 0.999), 1e-8
    want = []
    for x, gs, when in zip(x0, grads, reached):         # Algorithm 1 (AdamW: decay first, Loshchilov & Hutter)
        x, m, v, t = x.copy(), 0.0, 0.0, 0
        for s in when:
            x = x - lr * wd * x if decoupled else x
            t, g = t + 1, gs[s]
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            x = x - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        want.append(x)
    ps = [nn.Parameter(x.copy()) for x in x0]
    opt = anp.optim.AdamW(ps, lr=lr, weight_decay=wd) if decoupled else anp.optim.Adam(ps, lr=lr)
    for s in range(6):
        opt.zero_grad()
        for p, gs, when in zip(ps, grads, reached):
            if s in when:
                p.grad = gs[s]
        opt.step()
    for p, w in zip(ps, want):
        np.testing.assert_allclose(p.numpy(), w, rtol=0, atol=1e-15)
    torch = pytest.importorskip("torch")
    tps = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    topt = (torch.optim.AdamW(tps, lr=lr, weight_decay=wd) if decoupled else torch.optim.Adam(tps, lr=lr))
    for s in range(6):
        topt.zero_grad()
        for p, gs, when in zip(tps, grads, reached):
            if s in when:
                p.grad = torch.tensor(gs[s])
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=0, atol=1e-15)


def test_adam_state_saved_before_per_parameter_counts_loads_with_every_count_its_t():
    p = nn.Parameter(np.ones(3))
    opt = anp.optim.Adam([p])
    p.grad = np.ones(3)
    opt.step()
    old = {k: v for k, v in opt.state_dict().items() if k not in ("steps", "steps_set")}
    old["counters"] = {"t": 7}
    fresh = anp.optim.Adam([nn.Parameter(np.ones(3))])
    fresh.load_state_dict(old)
    assert fresh.t == 7 and fresh.steps[0] == 7 and fresh.steps[0].dtype == np.int64
    with pytest.raises(anp.FormatError, match=r"steps\[0\] .* not a count"):
        fresh.load_state_dict({**opt.state_dict(), "steps": [np.array(-1)]})


def test_an_optimizer_refuses_parameters_it_would_step_wrongly():
    """SGD([w, w]) stepped w twice per step (1 − 2·0.1·2 = 0.6 where one step gives 0.8; PyTorch warns and does the
    same, and says it will refuse); SGD(w) iterated w's rows, new Tensors, so the step changed nothing of w; a
    non-leaf parameter (w * 2) never gets a .grad. Each is refused now, naming the position."""
    w = anp.Tensor(np.ones(3), requires_grad=True)
    for params, error, match in [([w, w], ValueError, "positions 0 and 1 are the same Tensor"),
                                 (w, TypeError, r"got one Tensor\(3,\); pass \[t\]"),
                                 ([w * 2.0], ValueError, "position 0 .* not a leaf"),
                                 ([np.ones(3)], TypeError, "position 0 is a ndarray, not a Tensor")]:
        for make in (lambda p: anp.optim.SGD(p, lr=0.1), lambda p: anp.optim.Adam(p)):
            with pytest.raises(error, match=match):
                make(params)
    opt = anp.optim.SGD([w], lr=0.1)
    (w * 2.0).sum().backward()
    opt.step()
    np.testing.assert_array_equal(w.numpy(), 0.8)


def test_clip_grad_norm_counts_each_parameter_once_and_takes_one_tensor():
    """clip_grad_norm([w, w], 1) counted w twice in the norm (√2·6) and scaled its gradient twice: 0.042 per entry
    where clipping the gradient (3, 3, 3, 3) to norm 1 gives 0.5. clip_grad_norm(w, 1) iterated w's rows, which
    have no gradient, and clipped nothing (PyTorch takes one Tensor too)."""
    for params in (lambda w: [w, w], lambda w: w):
        w = anp.Tensor(np.ones(4), requires_grad=True)
        (w * 3.0).sum().backward()
        assert anp.optim.clip_grad_norm(params(w), 1.0) == pytest.approx(6.0)
        np.testing.assert_allclose(w.grad.numpy(), 0.5, rtol=1e-12)


# --------------------------------------------------------------------------- 15. distributions off their support

_OFF_SUPPORT = [  # (name, SciPy's function, autonp's name, arguments after x or k, points), each point off the support
    ("gamma.pdf", "gamma", "pdf", (1.0,), [-1.0, -0.2]), ("gamma.logpdf", "gamma", "logpdf", (2.5,), [-1.0]),
    ("gamma.cdf", "gamma", "cdf", (2.5,), [-1.0]), ("gamma.logpdf loc scale", "gamma", "logpdf", (2.5, 0.5, 2.0),
                                                    [0.0, 0.3]),
    ("chi2.pdf", "chi2", "pdf", (2.0,), [-1.0]), ("chi2.logpdf", "chi2", "logpdf", (5.0,), [-0.5]),
    ("chi2.cdf", "chi2", "cdf", (3.0,), [-2.0]), ("beta.pdf", "beta", "pdf", (1.0, 1.0), [-0.5, 1.5]),
    ("beta.logpdf", "beta", "logpdf", (2.0, 3.0), [-0.5, 1.5]), ("beta.cdf", "beta", "cdf", (2.0, 3.0), [-0.5, 1.5]),
    ("poisson.pmf", "poisson", "pmf", (1.5,), [0.5, 2.5]), ("poisson.logpmf", "poisson", "logpmf", (1.5,), [-1.0, 0.5]),
]


@pytest.mark.parametrize("name, dist, fn, params, points", _OFF_SUPPORT, ids=[c[0] for c in _OFF_SUPPORT])
def test_a_distribution_off_its_support_is_scipys_constant_with_gradient_0(name, dist, fn, params, points):
    """With Tensors the densities are their formulas, which off the support are not the distribution's: gamma's
    pdf at x = −1 with a = 1 was e (SciPy: 0), beta's with a = b = 1 was 1 at x = 1.5, chi2's with ν = 2 was 0.82
    at x = −1, poisson's pmf at k = 0.5 was 0.31; elsewhere NaN, and beta's logpdf had gradient ±2.67 at x = 1.5.
    Now SciPy's 0, −∞ or 1, constant there: gradient 0 in x and in every parameter."""
    scipy_stats = pytest.importorskip("scipy.stats")
    import autonp.scipy.stats as stats
    x = np.array(points + [0.7])  # and one point inside
    want = getattr(getattr(scipy_stats, dist), fn)(x, *params)
    differentiable = params if fn != "cdf" else ()  # a CDF is differentiable in x only (its parameters: refused)
    ts = [anp.Tensor(v, requires_grad=True) for v in (x,) + differentiable]
    got = getattr(getattr(stats, dist), fn)(*ts, *params[len(differentiable):])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    got.sum().backward()
    np.testing.assert_array_equal(ts[0].grad.numpy()[:-1], 0.0)
    assert np.isfinite(ts[0].grad.numpy()[-1])
    for t in ts[1:]:  # the parameters: only the point inside moves the sum, by a finite amount
        assert np.isfinite(t.grad.item()), name


def test_distributions_off_their_support_replay_under_compile():
    """The support masks are traced, not read: a compiled value-and-gradient follows points moving on and off
    the support between calls (an np.asarray of the mask refused to trace), and the simplex check refuses there too."""
    import autonp.scipy.stats as stats

    def f(x, a, alpha):
        return (np.sum(stats.gamma.logpdf(x, a)) + np.sum(stats.beta.cdf(x / 3, 2.0, 3.0))
                + np.sum(stats.poisson.logpmf(x + 1, a)) + stats.dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), alpha))
    eager = anp.value_and_grad(f, (0, 1, 2))
    compiled = anp.compile(eager)
    a, alpha = np.array(2.5), np.array([1.5, 2.0, 3.0])
    for x in ([-1.0, 0.5, 2.0], [0.5, -2.0, 4.0], [1.0, 2.0, 3.5], [-0.5, 1.0, 1.0]):
        (v1, g1), (v2, g2) = compiled(np.array(x), a, alpha), eager(np.array(x), a, alpha)
        assert float(v1) == float(v2)
        for p, q in zip(g1, g2):
            np.testing.assert_array_equal(np.asarray(p), np.asarray(q))
    check = anp.compile(anp.value_and_grad(lambda x, alpha: stats.dirichlet.logpdf(x, alpha)))
    check(np.array([0.2, 0.3, 0.5]), alpha)
    with pytest.raises(ValueError, match="normal simplex"):
        check(np.array([0.2, 0.3, 0.6]), alpha)


def test_beta_and_chi2_take_loc_and_scale_as_scipy_does():
    """SciPy's beta and chi2 take loc and scale (HIPS autograd passes them to SciPy, with gradients that ignore
    them); autonp's refused them with a TypeError. Values against SciPy, gradients against central differences."""
    scipy_stats = pytest.importorskip("scipy.stats")
    import autonp.scipy.stats as stats
    for dist, params, x in [("beta", (2.0, 3.0, 1.0, 2.0), np.array([1.3, 2.1, 2.9])),
                            ("chi2", (3.0, 0.5, 2.0), np.array([1.0, 2.5, 6.0]))]:
        for fn in ("pdf", "logpdf", "cdf"):
            f = getattr(getattr(stats, dist), fn)
            np.testing.assert_allclose(f(anp.Tensor(x), *params).numpy(),
                                       getattr(getattr(scipy_stats, dist), fn)(x, *params), rtol=1e-12)
            if fn == "cdf":
                continue  # differentiable in x only
            for i in range(len(params)):
                def loss(p, i=i):
                    args = list(params)
                    args[i] = p
                    return np.sum(getattr(getattr(scipy_stats, dist), fn)(x, *args))
                got = anp.grad(lambda p, i=i: np.sum(f(x, *(params[:i] + (p,) + params[i + 1:]))))(params[i])
                np.testing.assert_allclose(float(got), central(loss, np.array(params[i])), rtol=1e-6)


def test_dirichlet_refuses_an_x_off_the_simplex_as_scipy_does():
    """SciPy refuses an x whose components do not sum to 1 or are negative; autonp gave 2.06 for [0.2, 0.3, 0.6]
    (and NaN for a negative entry). It also takes SciPy's K − 1 components now, the last being 1 − Σ."""
    import autonp.scipy.stats as stats
    alpha = np.array([1.5, 2.0, 3.0])
    for x, match in [([0.2, 0.3, 0.6], "normal simplex"), ([-0.2, 0.6, 0.6], "greater than or equal to zero")]:
        with pytest.raises(ValueError, match=match):
            stats.dirichlet.logpdf(anp.Tensor(np.array(x), requires_grad=True), alpha)
    t = anp.Tensor(np.array([0.2, 0.3]), requires_grad=True)
    full = np.array([0.2, 0.3, 0.5])
    got = stats.dirichlet.logpdf(t, alpha)
    got.backward()
    assert got.item() == pytest.approx(float(stats.dirichlet.logpdf(full, alpha)), rel=1e-12)
    # ∂/∂xᵢ through x₃ = 1 − x₁ − x₂: (αᵢ − 1)/xᵢ − (α₃ − 1)/x₃
    np.testing.assert_allclose(t.grad.numpy(), (alpha[:2] - 1) / full[:2] - (alpha[2] - 1) / full[2], rtol=1e-12)


# --------------------------------------------------------------------------- 16. broadcast batches in linalg

@pytest.mark.parametrize("a_shape, b_shape", [((2, 3, 4, 4), (3, 4, 2)), ((3, 4, 4), (4, 2)), ((1, 4, 4), (3, 4, 2)),
                                              ((3, 1, 4, 4), (2, 4, 3)), ((3, 4, 4), (4,)), ((2, 3, 4, 4), (4,))])
def test_solve_with_a_broadcast_batch_differentiates_every_position(a_shape, b_shape):
    """solve(A, b) broadcasts the batch dimensions of A and b. A's gradient was −(Σ_batch A⁻ᵀḡ) xᵀ — the adjoint
    already summed to b's shape before the product with x — 0.43 off for A (2, 3, 4, 4) and b (3, 4, 2); with a
    1-D b and a batched A the backward raised (the adjoint solved a 2-D ḡ as a matrix)."""
    rng = np.random.default_rng(7)
    A = rng.normal(size=a_shape) + 4 * np.eye(a_shape[-1])
    b = rng.normal(size=b_shape)
    R = rng.normal(size=np.linalg.solve(A, b).shape)
    for which, x in enumerate((A, b)):
        def loss(v, which=which):
            args = [A, b]
            args[which] = v
            return np.sum(np.linalg.solve(*args) * R)
        np.testing.assert_allclose(np.asarray(anp.grad(loss)(x)), central(lambda v: float(loss(v)), x),
                                   rtol=1e-6, atol=1e-8)
    # second order: H·v against differences of the gradient
    v = rng.normal(size=a_shape)
    hvp = np.asarray(anp.hessian_vector_product(lambda a: np.sum(np.sin(np.linalg.solve(a, b)) * R))(A, v))
    grad_at = lambda s: np.asarray(anp.grad(lambda a: np.sum(np.sin(np.linalg.solve(a, b)) * R))(A + s * v))  # noqa: E731
    np.testing.assert_allclose(hvp, (grad_at(1e-6) - grad_at(-1e-6)) / 2e-6, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("symmetric", [True, False])
def test_svd_and_pinv_with_hermitian_true_are_numpys_and_differentiate_the_triangle_read(symmetric):
    """``np.linalg.svd(A, hermitian=True)`` is computed by NumPy from eigh of A's lower triangle. autonp ignored
    the flag: its U and Vh had other signs than NumPy's for a symmetric A (1.73 apart), its values were of
    another matrix for an A that is not symmetric (0.10 apart), and its gradient (and that of ``pinv(A,
    hermitian=True)``) was the general one, 0.85 and 6.8 off the finite differences of NumPy's own function.
    Now NumPy's result, and the gradient of the matrix it reads (in the lower triangle, as eigh's)."""
    rng = np.random.default_rng(11)
    A = rng.normal(size=(2, 4, 4))
    A = A + np.swapaxes(A, -1, -2) + (0 if symmetric else np.triu(rng.normal(size=(4, 4)), 1))
    for got, want in zip(np.linalg.svd(anp.Tensor(A, requires_grad=True), hermitian=True),
                         np.linalg.svd(A, hermitian=True)):
        np.testing.assert_array_equal(got.numpy(), want)
    W = rng.normal(size=(3, 4, 4))
    for f in (lambda a: np.sum(np.linalg.svd(a, hermitian=True, compute_uv=False) * W[0, 0]),
              lambda a: np.sum(np.linalg.svd(a, hermitian=True)[0] * W[0]),
              lambda a: np.sum(np.linalg.svd(a, hermitian=True)[2] * W[1]),
              lambda a: np.sum(np.linalg.pinv(a, hermitian=True) * W[2])):
        np.testing.assert_allclose(np.asarray(anp.grad(f)(A)), central(lambda a: float(f(a)), A), rtol=1e-6,
                                   atol=1e-7)


def test_cholesky_upper_differentiates_the_upper_triangle():
    """``np.linalg.cholesky(A, upper=True)`` (NumPy ≥ 2.0) returns Lᵀ from A's upper triangle; its forward ran
    and its backward raised a TypeError from inside autonp (the VJP did not take ``upper``)."""
    if "upper" not in np.linalg.cholesky.__doc__:
        pytest.skip("NumPy < 2.0 has no cholesky(upper=True)")
    rng = np.random.default_rng(12)
    B = rng.normal(size=(2, 4, 4))
    A = B @ np.swapaxes(B, -1, -2) + 4 * np.eye(4) + np.tril(rng.normal(size=(4, 4)), -1)  # the lower is not read
    W = rng.normal(size=(4, 4))
    f = lambda a: np.sum(np.linalg.cholesky(a, upper=True) * W)  # noqa: E731
    np.testing.assert_array_equal(np.linalg.cholesky(anp.Tensor(A), upper=True).numpy(),
                                  np.linalg.cholesky(A, upper=True))
    np.testing.assert_allclose(np.asarray(anp.grad(f)(A)), central(lambda a: float(f(a)), A), rtol=1e-6, atol=1e-7)


def test_clip_with_bounds_that_broadcast_x_to_a_larger_shape():
    """np.clip(x, lo, hi) broadcasts x against array bounds; the backward raised NumPy's "non-broadcastable output
    operand" from inside autonp (an in-place mask of x's shape). The gradient is 1 where x is within the bounds,
    summed over the broadcast axes."""
    x = np.array([-1.0, 0.2, 0.6, 2.0])
    lo, hi = np.array([[-2.0], [0.0], [0.5]]), np.array([[1.0], [0.5], [3.0]])
    t = anp.Tensor(x, requires_grad=True)
    out = np.clip(t, lo, hi)
    np.testing.assert_array_equal(out.numpy(), np.clip(x, lo, hi))
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), ((x >= lo) & (x <= hi)).sum(axis=0))


def test_batch_norm_in_training_refuses_one_value_per_channel():
    """With one value per channel the batch variance is 0: every output is 0 whatever the input, and the running
    variance moved towards 0 (the unbiased factor was clamped to 1 where it is 1/0). PyTorch refuses; so does
    autonp now. Eval mode, with the running statistics, is still fine."""
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"more than one value per channel.*\(1, 3, 1, 1\)"):
        bn(anp.Tensor(np.ones((1, 3, 1, 1)), requires_grad=True))
    np.testing.assert_array_equal(bn.running_var, np.ones(3))  # untouched
    with pytest.raises(ValueError, match="more than one value per channel"):
        nn.BatchNorm1d(4)(anp.Tensor(np.ones((1, 4))))
    bn.eval()
    np.testing.assert_allclose(bn(anp.Tensor(np.full((1, 3, 1, 1), 2.0))).numpy(), 2.0 / np.sqrt(1 + 1e-5))


@pytest.mark.parametrize("make, match", [
    (lambda p: anp.optim.SGD(p, lr=-0.1), "lr must be"),
    (lambda p: anp.optim.SGD(p, lr=0.1, momentum=-0.9), "momentum must be"),
    (lambda p: anp.optim.Adam(p, betas=(0.9, 1.0)), r"betas\[1\] must be"),
    (lambda p: anp.optim.Adam(p, betas=0.9), "betas must be a pair"),
    (lambda p: anp.optim.Adam(p, eps=-1e-8), "eps must be"),
    (lambda p: anp.optim.AdamW(p, lr=float("inf")), "lr must be"),
    (lambda p: anp.optim.RMSprop(p, alpha=1.5), "alpha must be"),
    (lambda p: anp.optim.Adagrad(p, weight_decay=-1.0), "weight_decay must be"),
    (lambda p: anp.optim.StepLR(anp.optim.SGD(p, lr=0.1), step_size=0), "step_size must be"),
    (lambda p: anp.optim.CosineLR(anp.optim.SGD(p, lr=0.1), total=0), "total must be"),
    (lambda p: anp.optim.clip_grad_norm(p, -1.0), "max_norm must be"),
])
def test_optimizer_hyperparameters_out_of_range_are_refused(make, match):
    """Accepted before and wrong after: a negative rate ascends, β₂ = 1 makes Adam divide by 1 − β₂ᵗ = 0 (NaN
    parameters), a negative max_norm flips every gradient; a step size or total of 0 divided by zero in the
    schedule's first step. Refused now, as PyTorch refuses them."""
    with pytest.raises(ValueError, match=match):
        make([nn.Parameter(np.ones(2))])


@pytest.mark.parametrize("call, error, match", [
    (lambda F, x: F.conv2d(x, np.ones((4, 3, 3, 3)), padding=-1), ValueError, "padding must be an integer ≥ 0"),
    (lambda F, x: F.conv2d(x, np.ones((4, 3, 3, 3)), padding=(1, -1)), ValueError, "padding must be"),
    (lambda F, x: F.conv2d(x, np.ones((4, 3, 3, 3)), stride=0), ValueError, "stride must be an integer ≥ 1"),
    (lambda F, x: F.conv2d(x, np.ones((4, 3, 3, 3)), dilation=0), ValueError, "dilation must be"),
    (lambda F, x: F.conv2d(x, np.ones((4, 3, 3, 3)), padding=1.5), ValueError, "padding must be an integer ≥ 0"),
    (lambda F, x: F.conv2d(x, np.ones((4, 3, 3, 3)), groups=0), ValueError, "groups must be a positive integer"),
    (lambda F, x: F.max_pool2d(x, 2, stride=0), ValueError, "stride must be"),
    (lambda F, x: F.avg_pool2d(x, 2, 2, padding=2), ValueError, "at most half the kernel"),
    (lambda F, x: F.layer_norm(x, (7,)), ValueError, "not the last axes"),
    (lambda F, x: F.embedding(np.array([0, -1]), anp.Tensor(np.ones((4, 2)))), IndexError, r"\[0, 4\)"),
])
def test_layer_arguments_out_of_range_are_refused(call, error, match):
    """A negative padding made autonp[fast]'s compiled correlation write outside its arrays (glibc aborted the
    process: "double free or corruption"); the primitive's grid refuses it now too. A stride of 0 divided by
    zero; layer_norm over a normalized_shape that is not the input's last axes normalised the axes there were;
    embedding index −1 picked the last row (NumPy's indexing). Each is refused now, as PyTorch refuses them."""
    from autonp.nn import functional as F
    with pytest.raises(error, match=match):
        call(F, anp.Tensor(np.ones((2, 3, 8, 8), np.float32), requires_grad=True))
    from autonp.ops import conv
    with pytest.raises(Exception, match="must be ≥ 0"):
        conv.conv2d(anp.Tensor(np.ones((2, 4, 8, 8), np.float32)), anp.Tensor(np.ones((4, 4, 3, 3), np.float32)),
                    None, (-1, -1))


def test_a_repeated_index_scatters_long_double_gradients():
    """The scatter-add of a repeated fancy index sums by np.bincount, which takes float64 weights only: an 80-bit
    gradient raised a casting error from inside autonp. Other float dtypes add with np.add.at."""
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.longdouble)
    rows, cols = np.array([0, 0, 1]), np.array([1, 1, 0])
    g = anp.grad(lambda t: np.sum(t[rows, cols] ** 2))(x)
    assert np.asarray(g).dtype == np.longdouble
    np.testing.assert_array_equal(np.asarray(g), np.array([[0.0, 8.0], [6.0, 0.0]], dtype=np.longdouble))


def test_xlogy_y_derivative_along_x_zero_is_zero():
    """x·log y is 0 all along x = 0, so ∂/∂y there is 0, at y = 0 too (the one-sided quotient (f(0, h) − f(0, 0))/h
    is 0); x/y gave 0/0 = NaN. The mixed derivative ∂x∂y = 1/y stays right at x = 0, y ≠ 0."""
    import scipy.special as sc

    for f, y0 in ((sc.xlogy, 0.0), (sc.xlog1py, -1.0)):
        g = anp.grad(lambda y: np.sum(f(np.zeros(2), y)))(np.array([y0, 2.0]))
        np.testing.assert_array_equal(np.asarray(g), [0.0, 0.0])
        h = 1e-7
        assert (f(0.0, y0 + h) - f(0.0, y0)) / h == 0.0  # the definition's quotient
        mixed = anp.grad(lambda x: np.sum(anp.grad(lambda y: np.sum(f(x, y)))(np.array([2.0]))))(np.array([0.0]))
        np.testing.assert_allclose(np.asarray(mixed), [1.0 / (2.0 if y0 == 0.0 else 3.0)], rtol=1e-15)


@pytest.mark.parametrize("f, shapes", [
    (lambda a: np.transpose(a, (-1, 0, 1)), [(1, 3, 4)]),  # argsort of (−1, 0, 1) is not the inverse permutation
    (lambda a: np.transpose(a, (1, -1, -3)), [(2, 3, 4)]),
    (lambda a, b: np.einsum("...ij,...jk->...ik", a, b), [(2, 1, 3, 4), (3, 4, 2)]),  # a length 1 broadcast in ...
    (lambda a, b: np.einsum("ij,ij->ij", a, b), [(1, 3), (4, 3)]),  # and in an explicit letter
    (lambda a, b: np.einsum("bij,bj->bi", a, b), [(1, 3, 4), (5, 4)]),
])
def test_transpose_with_negative_axes_and_einsum_with_broadcast_lengths(f, shapes):
    """Negative axes in np.transpose made its VJP transpose back by the wrong permutation; an einsum operand with a
    length 1 that NumPy broadcast against another operand's got a gradient of the broadcast length. Both stopped at
    the VJP's shape check (an internal RuntimeError); they are differentiated now."""
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=s) for s in shapes]
    R = rng.normal(size=np.shape(f(*xs)))
    grads = anp.grad(lambda *ts: np.sum(f(*ts) * R), argnum=tuple(range(len(xs))))(*xs)
    for i, x in enumerate(xs):
        def plain(v, i=i):
            args = list(xs)
            args[i] = v
            return np.sum(f(*args) * R)
        np.testing.assert_allclose(np.asarray(grads[i]), central(plain, x), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("call", [
    lambda a: np.flip(a, axis=(1, 1)), lambda a: np.flip(a, axis=(0, -2)), lambda a: np.expand_dims(a, (0, 0)),
    lambda a: np.squeeze(a[None], axis=(0, 0)), lambda a: np.moveaxis(a, (0, 0), (1, 0)),
])
def test_an_axis_named_twice_is_refused_as_numpy_refuses_it(call):
    """np.flip(x, axis=(1, 1)) flipped once and np.expand_dims(x, (0, 0)) inserted two axes, where NumPy raises."""
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="repeated axis|duplicate value in 'axis'"):
        call(x)
    with pytest.raises(ValueError, match="repeated axis"):
        call(anp.Tensor(x, requires_grad=True))


def test_rollaxis_with_a_negative_start_is_numpys():
    """np.rollaxis(x, -1, -2) on a (2, 3, 4) array is (2, 4, 3): NumPy adds ndim to a negative start. autonp took it
    modulo ndim + 1 and rolled the axis to the end — a wrong array without an error where the lengths agree."""
    x = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    for axis in range(-3, 3):
        for start in range(-3, 4):
            got = np.rollaxis(anp.Tensor(x, requires_grad=True), axis, start)
            np.testing.assert_array_equal(got.numpy(), np.rollaxis(x, axis, start), err_msg=f"{axis}, {start}")
    for start in (-4, 4):
        with pytest.raises(np.exceptions.AxisError):
            np.rollaxis(anp.Tensor(x, requires_grad=True), 0, start)
    R = np.random.default_rng(0).normal(size=(2, 3, 3))
    g = anp.grad(lambda t: np.sum(np.rollaxis(t, -1, -2) * R))(x)
    np.testing.assert_allclose(np.asarray(g), central(lambda v: np.sum(np.rollaxis(v, -1, -2) * R), x), atol=1e-8)


def test_scipy_cholesky_upper_reads_the_upper_triangle():
    """scipy.linalg.cholesky(a) (lower=False) factors a's upper triangle; on a Tensor autonp factored the lower one
    and transposed it: 0.71 off SciPy where the triangles differ, without an error."""
    import scipy.linalg as sl

    import autonp.scipy.linalg as asl
    rng = np.random.default_rng(3)
    B = rng.normal(size=(4, 4))
    A = B @ B.T + 4 * np.eye(4) + np.triu(rng.normal(size=(4, 4)), 1)  # the triangles differ
    W = rng.normal(size=(4, 4))
    for lower in (False, True):
        np.testing.assert_allclose(asl.cholesky(anp.Tensor(A), lower=lower).numpy(), sl.cholesky(A, lower=lower),
                                   rtol=1e-13, atol=1e-13)
        g = anp.grad(lambda a: np.sum(asl.cholesky(a, lower=lower) * W))(A)
        np.testing.assert_allclose(np.asarray(g), central(lambda a: np.sum(sl.cholesky(a, lower=lower) * W), A),
                                   rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("assume_a", ["sym", "her", "pos", "positive definite", "diagonal", "tridiagonal",
                                      "upper triangular", "lower triangular", "gen", None])
@pytest.mark.parametrize("lower, transposed, b_shape", [(False, False, (4, 2)), (True, False, (4,)),
                                                        (False, True, (4, 3)), (True, True, (2, 4, 1))])
def test_scipy_solve_reads_what_scipy_reads(assume_a, lower, transposed, b_shape):
    """scipy.linalg.solve's assume_a and transposed raised an internal TypeError on Tensors; each structure reads
    part of a (a triangle, the bands), so the gradient must reach exactly those entries. Against SciPy's own values
    and central differences of SciPy's function, on a matrix whose triangles differ."""
    import scipy.linalg as sl

    import autonp.scipy.linalg as asl
    rng = np.random.default_rng(7)
    B = rng.normal(size=(4, 4))
    a = B @ B.T + 4 * np.eye(4) + 0.5 * np.triu(rng.normal(size=(4, 4)), 1)  # positive definite by either triangle
    b = rng.normal(size=b_shape)
    kw = dict(assume_a=assume_a, lower=lower, transposed=transposed)
    want = sl.solve(a, b, **kw)
    got = asl.solve(anp.Tensor(a, requires_grad=True), anp.Tensor(b, requires_grad=True), **kw)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    R = rng.normal(size=want.shape)
    ga, gb = anp.grad(lambda a, b: np.sum(asl.solve(a, b, **kw) * R), argnum=(0, 1))(a, b)
    np.testing.assert_allclose(np.asarray(ga), central(lambda v: np.sum(sl.solve(v, b, **kw) * R), a),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(gb), central(lambda v: np.sum(sl.solve(a, v, **kw) * R), b),
                               rtol=1e-6, atol=1e-8)


PLACING = [("circulant", [(4,)]), ("circulant", [(2, 3)]), ("toeplitz", [(4,)]), ("toeplitz", [(3,), (5,)]),
           ("toeplitz", [(2, 3), (2, 4)]), ("toeplitz", [()]), ("hankel", [(4,)]), ("hankel", [(3,), (5,)]),
           ("block_diag", [(2, 3), (3,), ()]), ("block_diag", [(0, 2), (2, 2)])]


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("name, shapes", PLACING, ids=[f"{n}{s}" for n, s in PLACING])
def test_scipy_matrices_built_from_entries(name, shapes, complex_):
    """scipy.linalg.circulant on a Tensor raised SciPy's AttributeError ('strides'); toeplitz, hankel and block_diag
    refused. Each now gathers its entries (SciPy's default row for toeplitz is conj(c)): SciPy's values, batches
    and dtypes, and gradients against central differences of SciPy's own function."""
    import scipy.linalg as sl

    from autonp.scipy import linalg as asl
    from conftest import complex_central_diff
    rng = np.random.default_rng(len(shapes))
    xs = [rng.normal(size=s) + (1j * rng.normal(size=s) if complex_ else 0) for s in shapes]
    want = getattr(sl, name)(*xs)
    got = getattr(asl, name)(*[anp.Tensor(x, requires_grad=True) for x in xs])
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.numpy(), want)
    R = rng.normal(size=want.shape)
    grads = anp.grad(lambda *a: np.real(np.sum(getattr(asl, name)(*a) * R)), argnum=tuple(range(len(xs))))(*xs)
    for i, x in enumerate(xs):
        def loss(v, i=i):
            return np.real(np.sum(getattr(sl, name)(*xs[:i], v, *xs[i + 1:]) * R))
        numeric = complex_central_diff(loss, x) if complex_ else central(loss, x)
        np.testing.assert_allclose(np.asarray(grads[i]), numeric, atol=1e-8, err_msg=f"{name}: argument {i}")


def test_scipy_solve_and_cholesky_check_finite_as_scipy():
    """scipy.linalg.solve on Tensors (autonp's NumPy solve) gave NaN for a NaN in b where SciPy raises
    (check_finite=True): now SciPy's ValueError, eagerly and in a compiled replay; check_finite=False still solves."""
    import autonp.scipy.linalg as asl
    a, b = np.eye(3) + 0.1, np.array([1.0, np.nan, 2.0])
    for f in (lambda: asl.solve(anp.Tensor(a, requires_grad=True), b),
              lambda: asl.cholesky(anp.Tensor(a * np.inf, requires_grad=True))):
        with pytest.raises(ValueError, match="must not contain infs or NaNs"):
            f()
    assert np.isnan(asl.solve(anp.Tensor(a, requires_grad=True), b, check_finite=False).numpy()).all()
    step = anp.compile(anp.grad(lambda a, b: np.sum(asl.solve(a, b))))
    step(a, np.ones(3))
    with pytest.raises(ValueError, match="must not contain infs or NaNs"):
        step(a, b)
    b2 = np.full(3, 2.0)  # ∂ Σ a⁻¹b / ∂a = −a⁻ᵀ1 (a⁻¹b)ᵀ
    np.testing.assert_allclose(step(a, b2), -np.outer(np.linalg.solve(a.T, np.ones(3)), np.linalg.solve(a, b2)))


@pytest.mark.parametrize("kw", [dict(assume_a="pos"), dict(assume_a="sym", lower=True),
                                dict(assume_a="upper triangular", transposed=True), dict(assume_a="tridiagonal")])
def test_scipy_solve_second_order(kw):
    """H·v of a loss through scipy.linalg.solve's structured solvers (their VJPs solve with the same structure),
    against central differences of the gradient."""
    import autonp.scipy.linalg as asl
    rng = np.random.default_rng(1)
    B = rng.normal(size=(3, 3))
    a, b, v = B @ B.T + 3 * np.eye(3) + np.triu(rng.normal(size=(3, 3)), 1), rng.normal(size=3), rng.normal(size=(3, 3))
    grad = anp.grad(lambda A: np.sum(asl.solve(A, b, **kw) ** 3))
    hv = anp.grad(lambda A: np.sum(grad(A) * v))(a)
    np.testing.assert_allclose(np.asarray(hv), central(lambda A: np.sum(np.asarray(grad(A)) * v), a),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("sa, sb, kw", [((2,), (2,), {}), ((4, 2), (2,), {}), ((2,), (3,), {}), ((4, 3), (4, 2), {}),
                                        ((2, 5), (2, 5), dict(axisa=0, axisb=0)),
                                        ((2, 4), (4, 3), dict(axisa=0, axisc=0))])
def test_cross_of_2_vectors_as_numpy(sa, sb, kw):
    """np.cross with 2-vectors (a third component of 0; of two 2-vectors the z component alone) was refused by name;
    now NumPy's values, shapes and deprecation warning, and gradients against central differences."""
    rng = np.random.default_rng(len(sa) + len(sb))
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        want = np.cross(a, b, **kw)
        R = rng.normal(size=want.shape)
        wa = central(lambda v: np.sum(np.cross(v, b, **kw) * R), a)
        wb = central(lambda v: np.sum(np.cross(a, v, **kw) * R), b)
    with pytest.warns(DeprecationWarning, match="2-dimensional vectors") as record:
        got = np.cross(anp.Tensor(a, requires_grad=True), anp.Tensor(b, requires_grad=True), **kw)
    assert record[0].filename == __file__  # at the user's line
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ga, gb = anp.grad(lambda x, y: np.sum(np.cross(x, y, **kw) * R), argnum=(0, 1))(a, b)
    np.testing.assert_allclose(np.asarray(ga), wa, atol=1e-8)
    np.testing.assert_allclose(np.asarray(gb), wb, atol=1e-8)
    with pytest.raises(ValueError, match="dimension must be 2 or 3"):
        np.cross(anp.Tensor(np.ones(4), requires_grad=True), b)


@pytest.mark.parametrize("ord_", [None, 1, 2, -1, -2, np.inf, -np.inf, 0, 3, 0.5, "fro", "nuc"])
def test_norm_of_every_order_and_axis_as_numpy(ord_):
    """np.linalg.norm over every order, axis (negative, a pair, reversed, repeated) and keepdims: NumPy's values,
    shapes and dtypes, or its error type; gradients against central differences. Found: ord=0 (a count) came back
    a plain float64 array for a float32 Tensor, where NumPy's is float32 (and everything else here a Tensor)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 5))
    for axis in [None, 0, -1, (0, 1), (-1, -2), (2, 0), (1, 1)]:
        for keepdims in (False, True):
            xx = x if axis is not None else x[0]
            try:
                want = np.linalg.norm(xx.astype(np.float32), ord_, axis, keepdims)
            except Exception as e:  # noqa: BLE001 - whichever NumPy raises, autonp must raise it too
                with pytest.raises(type(e)):
                    np.linalg.norm(anp.Tensor(xx.astype(np.float32), requires_grad=True), ord_, axis, keepdims)
                continue
            got = np.linalg.norm(anp.Tensor(xx.astype(np.float32), requires_grad=True), ord_, axis, keepdims)
            assert isinstance(got, anp.Tensor) and got.dtype == want.dtype and got.shape == np.shape(want)
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
            R = rng.normal(size=np.shape(want))
            g = anp.grad(lambda v: np.sum(np.linalg.norm(v, ord_, axis, keepdims) * R))(xx)
            np.testing.assert_allclose(g, central(lambda v: np.sum(np.linalg.norm(v, ord_, axis, keepdims) * R), xx),
                                       rtol=1e-4, atol=1e-6, err_msg=f"ord {ord_}, axis {axis}")


def test_fix_rounds_toward_zero_with_gradient_zero():
    x = np.array([-1.7, -0.2, 0.0, 0.4, 2.9])
    got = np.fix(anp.Tensor(x, requires_grad=True))
    np.testing.assert_array_equal(got.numpy(), np.fix(x))
    assert (np.signbit(got.numpy()) == np.signbit(np.fix(x))).all()  # −0.2 → −0, as NumPy
    np.testing.assert_array_equal(anp.grad(lambda v: np.sum(np.fix(v) * v))(x), np.fix(x))  # ∂ fix = 0


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("dtype", [int, np.int32, np.float32, np.float16])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_var_and_std_with_dtype_compute_as_numpy_does(fn, dtype, axis):
    """np.var(x, dtype=int) sums int(x_i) for the mean and int((x_i − μ)²) for the variance: 2 for [1.5, 1.5, 3.9]
    in NumPy, where autonp cast the float variance 1.28 to 1. NumPy's values and dtypes, or its refusal (an integer
    std along an axis: the float root cannot go into the integer variance's array)."""
    x = np.array([[1.5, 1.5, 3.9], [-2.7, 0.4, 8.8]])
    try:
        want = np.asarray(getattr(np, fn)(x, axis=axis, dtype=dtype, ddof=1))
    except TypeError:
        with pytest.raises(TypeError, match="cannot be stored"):
            getattr(np, fn)(anp.Tensor(x, requires_grad=True), axis=axis, dtype=dtype, ddof=1)
        return
    got = getattr(np, fn)(anp.Tensor(x, requires_grad=True), axis=axis, dtype=dtype, ddof=1)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-3 if want.dtype == np.float16 else 1e-6)


@pytest.mark.parametrize("f", [lambda a: np.sum(a, dtype=int), lambda a: np.cumsum(a, axis=1, dtype=int),
                               lambda a: np.prod(a + 1, dtype=int), lambda a: np.cumprod(a, dtype=np.int64),
                               lambda a: a.sum(axis=0, dtype=np.int32), lambda a: np.mean(a, dtype=np.int64),
                               lambda a: np.sum(a, dtype=np.float32), lambda a: np.mean(a, axis=1, dtype=np.float32)])
def test_a_reduction_with_dtype_casts_each_entry_first_as_numpy_does(f):
    """np.sum(x, dtype=int) sums int(x_i): 1 for [0.6, 0.7, −0.2, 1.9]; autonp cast the float sum, 3. A wrong count
    without an error (cumsum and prod the same)."""
    x = np.array([[0.6, 0.7, -0.2, 1.9], [2.5, -1.5, 0.3, 0.2]])
    want = f(x)
    got = f(anp.Tensor(x, requires_grad=True))
    assert got.dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("f", [
    lambda a: np.diff(a, n=-1), lambda a: np.take_along_axis(a, np.zeros((2, 3, 1), int), axis=None),
    lambda a: np.einsum("...k->k", a), lambda a: np.rot90(a, 1, axes=(1, 1)), lambda a: np.rot90(a, 1, axes=(0, -3)),
    lambda a: np.rot90(a, 1, axes=(0, 3)),
])
def test_arguments_numpy_refuses_are_refused(f):
    """Each of these returned an array where NumPy raises: diff of order −1 (the input), take_along_axis with 3-D
    indices and axis=None, an einsum whose output drops the axes '...' stands for (summed), rot90 about one axis."""
    x = np.arange(24.0).reshape(2, 3, 4)
    with pytest.raises(ValueError):
        f(x)
    with pytest.raises(ValueError):
        f(anp.Tensor(x, requires_grad=True))


@pytest.mark.parametrize("f", [lambda a: np.triu(a), lambda a: np.tril(a, -1), lambda a: np.triu(a, 2),
                               lambda a: np.einsum("...k->...", a), lambda a: np.einsum("...k,...k->...", a, a)])
def test_triu_of_a_vector_and_einsum_with_ellipsis_are_numpys(f):
    """np.triu of a 1-D array is the n×n matrix of its rows above the diagonal (autonp raised an internal unpacking
    error); an einsum whose output keeps '...' is unchanged by the refusal above."""
    x = np.random.default_rng(2).normal(size=(2, 4))
    for v in (x[0], x):
        got = f(anp.Tensor(v, requires_grad=True))
        np.testing.assert_array_equal(got.numpy(), f(v))
        R = np.cos(np.arange(got.size)).reshape(got.shape)
        g = anp.grad(lambda t: np.sum(f(t) * R))(v)
        np.testing.assert_allclose(np.asarray(g), central(lambda u: np.sum(f(u) * R), v), atol=1e-8)


@pytest.mark.parametrize("f", [lambda a, b: np.add(a, b, dtype=int, casting="unsafe"),
                               lambda a, b: np.multiply(a, b, dtype=np.float32),
                               lambda a, b: np.exp(a, dtype=np.float32),
                               lambda a, b: np.add.accumulate(a * b, axis=1, dtype=int),
                               lambda a, b: np.multiply.reduce(a * b, axis=1, dtype=np.float32)])
def test_a_ufunc_with_dtype_computes_in_it_as_numpy_does(f):
    """A ufunc's dtype= runs its loop in that dtype, the inputs cast first: np.add(a, b, dtype=int, casting='unsafe')
    is int(a) + int(b) (autonp cast the float sum: 2 where NumPy gives 1), and float32 results are float32 arithmetic,
    not rounded float64. A cast the casting rule forbids is refused, as NumPy refuses it."""
    x = np.array([[0.6, 0.7, -0.2, 1.9], [2.5, -1.5, 0.3, 0.2]])
    y = x[::-1] * 0.5 + 0.1
    want = f(x, y)
    got = f(anp.Tensor(x, requires_grad=True), anp.Tensor(y, requires_grad=True))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(TypeError, match="casting rule 'same_kind'"):
        np.add(anp.Tensor(x, requires_grad=True), y, dtype=int)
    t = anp.Tensor(x, requires_grad=True)
    np.exp(t, dtype=np.float32).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.exp(x), rtol=2e-7)


@pytest.mark.parametrize("f", [lambda a: np.einsum("ij->i", a, dtype=int, casting="unsafe"),
                               lambda a: np.einsum("ij,ij->", a, a, dtype=np.float32, casting="same_kind"),
                               lambda a: np.trace(a, dtype=int), lambda a: np.trace(a, dtype=np.int32),
                               lambda a: np.concatenate([a, a], dtype=np.float32),
                               lambda a: np.stack([a, a], dtype=int, casting="unsafe")])
def test_einsum_trace_and_joins_with_dtype_are_numpys(f):
    """np.trace(x, dtype=int) sums the integer parts (−1 here, where autonp's cast of the float trace gave 0) and
    einsum with dtype= multiplies in it; the casts NumPy's rules forbid (einsum's 'safe', concatenate's 'same_kind')
    are refused."""
    x = np.array([[0.6, 0.7, -0.2, 1.9], [2.5, -1.5, 0.3, 0.2]])
    want, got = f(x), f(anp.Tensor(x, requires_grad=True))
    assert got.dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got.numpy(), want)
    for refused in (lambda a: np.einsum("ij->i", a, dtype=np.float32), lambda a: np.concatenate([a, a], dtype=int)):
        with pytest.raises(TypeError):
            refused(x)
        with pytest.raises(TypeError, match="casting rule"):
            refused(anp.Tensor(x, requires_grad=True))


@pytest.mark.parametrize("running_mean, running_var, training, match", [
    (None, None, False, "evaluation"), (np.zeros(3), None, True, "both"),
    (np.zeros(4), np.ones(4), True, r"shape \(3,\)"), (np.zeros(1), np.ones(1), False, r"shape \(3,\)"),
    (np.zeros(3, int), np.ones(3, int), True, "float array"),
])
def test_batch_norm_refuses_running_statistics_that_do_not_fit(running_mean, running_var, training, match):
    """Evaluation without running statistics raised NumPy's reshape error from inside autonp; one statistic without
    the other, or an integer one, raised from an in-place update; the wrong length, a broadcasting error. Each is
    refused by name now, as PyTorch refuses them."""
    from autonp.nn import functional as F
    x = anp.Tensor(np.random.default_rng(0).normal(size=(4, 3, 2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match=match):
        F.batch_norm(x, running_mean, running_var, training=training)


# --------------------------------------------------------------------------- repeated eigen- and singular values

def test_vectors_read_at_a_repeated_value_have_no_gradient_and_say_so():
    """At x = I every basis is an eigenbasis: the eigenvectors have no derivative, and Σ V³ none at all (it jumps as x
    moves off I). The VJP took a tied pair's term as 0 whenever that entry of VᵀV̄ was 0 — here VᵀV̄ = 3I — and gave
    a zero gradient. NaN now, as for any loss that reads a tied pair's vectors; a function of the values alone, or of
    other vectors (the top one, with a repeated bulk), keeps its exact gradient (central differences)."""
    for loss in (lambda c: np.sum(np.linalg.eigh(c)[1] ** 3), lambda c: np.sum(np.linalg.svd(c)[0] ** 3),
                 lambda c: np.sum(np.linalg.svd(c)[2] ** 3)):
        assert np.isnan(anp.grad(loss)(np.eye(2))).all()
    np.testing.assert_array_equal(anp.grad(lambda c: np.sum(np.linalg.eigvalsh(c)))(np.eye(3)), np.eye(3))
    np.testing.assert_array_equal(anp.grad(lambda c: np.sum(np.linalg.svd(c, compute_uv=False)))(np.eye(3)),
                                  np.eye(3))
    c0 = np.diag([5.0, 1.0, 1.0])
    weights = np.arange(1.0, 4.0)

    def top(c):
        v = np.linalg.eigh(c)[1][:, -1]
        return np.sum(v * weights) ** 2

    lower = np.tril(np.ones((3, 3), bool))  # eigh reads the lower triangle: its gradient is there
    want = np.where(lower, central(top, c0), 0.0)
    np.testing.assert_allclose(anp.grad(top)(c0), want, atol=1e-8)


def test_qr_of_a_rank_deficient_matrix_has_no_gradient_and_says_so():
    """Q's columns past the rank are any orthonormal completion (LAPACK's choice): a loss of Q there has no
    derivative, and the VJP's R⁻ᵀ divided by a rounding-sized pivot. Refused by name in backward; a full-rank
    matrix keeps its gradient (central differences, reading R's upper triangle)."""
    a = np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]])
    weights = np.arange(6.0).reshape(3, 2)
    with pytest.raises(np.linalg.LinAlgError, match="rank-deficient"):
        anp.grad(lambda x: np.sum(np.linalg.qr(x)[0] ** 2 * weights))(a)
    full = np.array([[1.0, 2.0], [2.0, 3.0], [0.5, 1.0]])  # (generic: LAPACK's signs do not flip nearby)
    loss = lambda x: np.sum(np.linalg.qr(x)[0] * weights) + np.sum(np.linalg.qr(x)[1])  # noqa: E731
    np.testing.assert_allclose(anp.grad(loss)(full), central(loss, full), rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- views follow in-place changes

def _view_programs():
    """Programs that change a view in place, or its base after the view was taken, written once for NumPy arrays
    and Tensors alike: (name, f(x, y) -> array)."""
    def through_slice(x, y):
        t = x * 1.0
        v = t[1:, ::2]
        v *= y[:2, 1::2]
        v += 0.5
        return t

    def through_transpose(x, y):
        t = x * 1.0
        v = t.T
        v[0] = v[1] * y[2, 1:]
        return t

    def through_reshape(x, y):
        t = x * 1.0
        r = t.reshape(4, 3)
        r[1:] -= y.reshape(4, 3)[:3] ** 2
        return t

    def base_then_view(x, y):
        t = x * 1.0
        v, row = t[:, ::-1], t[1]
        t *= y
        t[0, 1:3] = y[2, :2]
        return v * row

    def view_of_a_view(x, y):
        t = x * 1.0
        v = t[1:]
        w = v[:, 2:]
        w /= 1.0 + y[:2, :2] ** 2
        t[2, 3] += 7.0
        return np.concatenate([t, v, np.pad(w, ((0, 0), (0, 2)))])

    def fancy_index_is_a_copy(x, y):
        t = x * 1.0
        v = t[[0, 2]]
        v += y[:2]
        u = t.T.reshape(12)  # a transpose's reshape: NumPy copies, so t stays
        u *= 3.0
        flat = t.flatten()  # always a copy (ravel would be a view)
        flat -= 2.0
        return t + v.sum() + u.sum() + flat.sum()

    return [(f.__name__, f) for f in (through_slice, through_transpose, through_reshape, base_then_view,
                                       view_of_a_view, fancy_index_is_a_copy)]


@pytest.mark.parametrize("name,f", _view_programs(), ids=[n for n, _ in _view_programs()])
def test_views_follow_in_place_changes_as_numpys_do(name, f):
    """``v = t[1:]; v *= y`` changes t in NumPy, and ``t *= y`` changes v. Recorded, autonp kept the view and its
    base apart: t (or v) kept its old values, a wrong number without an error (the values and gradients below
    differed, or the gradient came back zero). Values: NumPy's, eagerly, compiled and with plain Tensors; the
    gradient of Σ w·f in x and y: central differences of the NumPy program; second order through the view (a
    nested grad) too."""
    rng = np.random.default_rng(3)
    x0, y0 = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    want = f(x0.copy(), y0.copy())
    w = rng.normal(size=want.shape)
    X, Y = anp.Tensor(x0, requires_grad=True), anp.Tensor(y0, requires_grad=True)
    np.testing.assert_allclose(f(X, Y).numpy(), want, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(f(anp.Tensor(x0), anp.Tensor(y0)).numpy(), want, rtol=1e-13, atol=1e-13)
    def loss(x, y):  # (a plain array stays a Tensor: t = x * 1.0 then takes the Tensor y in place)
        return np.sum(f(*(a if isinstance(a, anp.Tensor) else anp.Tensor(a) for a in (x, y))) * w)

    def loss_np(x, y):
        return np.sum(f(x.copy(), y.copy()) * w)
    for argnum, at in ((0, x0), (1, y0)):
        def along(v, argnum=argnum):
            return loss_np(v, y0) if argnum == 0 else loss_np(x0, v)
        want_grad = central(along, at.copy())
        np.testing.assert_allclose(np.asarray(anp.grad(loss, argnum)(x0, y0)), want_grad, rtol=1e-6, atol=1e-7)
    compiled = anp.compile(anp.value_and_grad(loss, (0, 1)))
    for _ in range(3):
        x1, y1 = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
        value, (gx, gy) = compiled(x1, y1)
        eager, (ex, ey) = anp.value_and_grad(loss, (0, 1))(x1, y1)
        assert float(value) == float(eager) == loss_np(x1, y1)
        np.testing.assert_array_equal(np.asarray(gx), np.asarray(ex))
        np.testing.assert_array_equal(np.asarray(gy), np.asarray(ey))
    # second order: ∂/∂x of Σ u·∂loss/∂y, which reads x through the view
    u = rng.normal(size=(3, 4))
    nested = np.asarray(anp.grad(lambda x: np.sum(anp.grad(loss, 1)(x, y0) * u))(x0))
    inner = lambda x: np.sum(central(lambda y: loss_np(x, y), y0.copy(), 1e-5) * u)  # noqa: E731
    np.testing.assert_allclose(nested, central(inner, x0.copy(), 1e-4), rtol=1e-4, atol=1e-4)  # (differences of
    # differences: ~1e-5 of rounding where the second derivative is 0)


def test_a_change_through_a_view_is_refused_where_it_would_reach_what_must_not_change():
    """A view of a leaf that requires grad, changed while recording: in NumPy the leaf changes, and its gradient
    would be ambiguous (PyTorch refuses it too). Under no_grad, a view of a result of recorded ops. Nothing changes
    before the refusal. Under no_grad a view of a parameter changes the parameter, as NumPy's does."""
    W = anp.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    row = W[0]
    for change in (lambda: row.__iadd__(1.0), lambda: row.__setitem__(1, 5.0)):
        with pytest.raises(anp.LeafAssignmentError, match="view of a leaf"):
            change()
        np.testing.assert_array_equal(W.numpy(), np.arange(6.0).reshape(2, 3))
        np.testing.assert_array_equal(row.numpy(), [0.0, 1.0, 2.0])
    mid = W * 1.0
    view = mid.T
    with anp.no_grad(), pytest.raises(RuntimeError, match="result of recorded ops"):
        view += 1.0
    with anp.no_grad():
        row = W[1]
        row -= 10.0
    np.testing.assert_array_equal(W.numpy(), [[0.0, 1.0, 2.0], [-7.0, -6.0, -5.0]])


def test_a_parameter_stepped_in_place_is_seen_by_its_live_views():
    """An optimizer's step under no_grad changes a parameter; a view of it taken while recording (W.T in a layer)
    shows the new values afterwards, as NumPy's and PyTorch's views do, and the graph it belongs to still
    differentiates the values it was built from."""
    W = anp.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x = np.ones((4, 3))
    Wt = W.T
    loss = np.sum((x @ Wt) ** 2)
    with anp.no_grad():
        W -= 1.0
    np.testing.assert_array_equal(Wt.numpy(), (np.arange(6.0).reshape(2, 3) - 1.0).T)
    loss.backward()
    np.testing.assert_allclose(W.grad.numpy(), 2 * (x @ np.arange(6.0).reshape(2, 3).T).T @ x)


def test_a_long_lived_base_does_not_keep_a_record_of_every_view_it_ever_had():
    """A loop that slices one Tensor 10,000 times (an RNN's h[t], a data Tensor's batches) leaves its list of live
    views short: dead ones are dropped as it grows. And views of views keep their bases alive (as NumPy's do) and
    nothing more."""
    import gc
    import weakref
    t = anp.Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True) * 1.0
    for i in range(10_000):
        v = t[i % 3]
        assert v.numpy()[0] == 4.0 * (i % 3)
    assert len(t._views) <= 16
    base = anp.Tensor(np.ones((3, 4))) * 2.0
    w = base.T[1:]
    alive = weakref.ref(base)
    del base
    gc.collect()
    assert alive() is not None and w._base[0]._base[0] is alive()
    del w
    gc.collect()
    assert alive() is None


SHARES_OR_COPIES = {  # what NumPy returns a view of (or the array itself) and what it copies, changed in place
    "split": lambda t: np.split(t, 2, axis=1)[1], "array_split": lambda t: np.array_split(t, 3)[2],
    "flip": lambda t: np.flip(t, 0), "rot90": lambda t: np.rot90(t), "fliplr": lambda t: np.fliplr(t),
    "moveaxis": lambda t: np.moveaxis(t, 0, 1), "ravel": lambda t: t.ravel(), "atleast_3d": np.atleast_3d,
    "expand_dims": lambda t: np.expand_dims(t, 0), "unstack": lambda t: np.unstack(t)[0],
    "hsplit": lambda t: np.hsplit(t, 2)[0], "real": lambda t: t.real, "np.real": np.real, "slice": lambda t: t[1:],
    "T": lambda t: t.T, "reshape": lambda t: t.reshape(4, 3), "swapaxes": lambda t: np.swapaxes(t, 0, 1),
    "conj of real": lambda t: t.conj(), "astype(copy=False)": lambda t: t.astype(np.float64, copy=False),
    "T.ravel": lambda t: t.T.ravel(), "flatten": lambda t: t.flatten(), "take": lambda t: np.take(t, [0], axis=0),
    "fancy": lambda t: t[[0, 2]], "mask": lambda t: t[t > 3], "copy": lambda t: t.copy(), "np.copy": np.copy,
    "positive": lambda t: +t, "np.positive": np.positive, "np.conj": np.conj, "astype": lambda t: t.astype(float),
    "np.array": np.array, "tile": lambda t: np.tile(t, 1), "repeat": lambda t: np.repeat(t, 1, axis=0),
    "roll": lambda t: np.roll(t, 0), "sort": lambda t: np.sort(t, axis=0), "concatenate": lambda t: np.concatenate([t]),
    # read-only views in NumPy (a change through them raises there and here), and copies made from broadcasts
    "diagonal": np.diagonal, "diag": np.diag, "broadcast_to": lambda t: np.broadcast_to(t[0], (2, 4)),
    "reshaped diagonal": lambda t: np.diagonal(t).reshape(3, 1), "tile of a row": lambda t: np.tile(t[0, :1], 3),
    "tile twice": lambda t: np.tile(t, (2, 1)), "interp of one point": lambda t: np.interp([0.5, 1.5], [1.0], t[0, :1]),
    "compress": lambda t: np.compress([1, 0, 1], t, axis=0), "take along 1": lambda t: np.take(t, [0, 2], axis=1),
    "piecewise": lambda t: np.piecewise(t, [np.ones((3, 4), bool)], [lambda v: v]),
    "meshgrid": lambda t: np.meshgrid(t[0], t[1])[0], "meshgrid sparse": lambda t: np.meshgrid(t[0], sparse=True)[0],
    "meshgrid copy=False": lambda t: np.meshgrid(t[0], t[1], copy=False, sparse=True)[1],
    # NumPy's scalars (an entry, a full reduction) and ravel's copies of what is not contiguous
    "one entry": lambda t: t[1, 2], "entry of a row": lambda t: t[1][2], "raveled sum": lambda t: np.ravel(np.sum(t)),
    "raveled column": lambda t: np.ravel(t[:, 1]), "raveled diagonal": lambda t: np.ravel(np.diagonal(t)),
    "raveled reversed": lambda t: t[::-1].ravel(), "column reshaped": lambda t: t[:, 1].reshape(-1),
}


@pytest.mark.parametrize("name", list(SHARES_OR_COPIES))
def test_what_numpy_shares_autonp_shares_and_what_it_copies_autonp_copies(name):
    """``r = f(t); r += 100``: t changes exactly where it changes for a NumPy array — views and the array itself
    share, copies do not. Found: ``+t`` returned t itself (``u = +t; u += 1`` changed t), ``np.array(t)`` handed
    NumPy t's own array as its copy, ``t.flatten()`` became a view with views; and ``t.conj()`` of a real array and
    ``astype(copy=False)`` of the same dtype, which are the array itself in NumPy, were copies."""
    f = SHARES_OR_COPIES[name]
    a = np.arange(12.0).reshape(3, 4) + 1
    r = f(a)
    read_only = isinstance(r, np.ndarray) and not r.flags.writeable  # (a NumPy scalar: r += 100 makes a new one)
    if not read_only:
        r += 100.0
    for requires_grad in (False, True):
        t = anp.Tensor(np.arange(12.0).reshape(3, 4) + 1, requires_grad=requires_grad) * 1.0
        try:
            r = f(t)
        except TypeError:  # np.array of a Tensor that requires grad: refused (it would drop the gradient)
            assert requires_grad and name == "np.array"
            continue
        if read_only:  # NumPy's read-only view: changing it is refused here too, and it follows t
            with pytest.raises(ValueError, match="read-only"):
                r += 100.0
            t += 1000.0
            np.testing.assert_array_equal(np.asarray(r.numpy()), f(a + 1000.0))
            continue
        r += 100.0
        np.testing.assert_array_equal(t.numpy(), a, err_msg=f"{name}, requires_grad={requires_grad}")


FOLLOWING = {  # views NumPy makes that autonp copied: after the base changed in place they kept the old values
    "diagonal": lambda np_, y: np_.diagonal(y, 1), "diag": lambda np_, y: np_.diag(y),
    "diagonal of T": lambda np_, y: np_.diagonal(y.T, -1),
    "reshaped diagonal": lambda np_, y: np_.diagonal(y).reshape(2, 2),
    "broadcast_to": lambda np_, y: np_.broadcast_to(y[0], (2, 6)),
    "broadcast_arrays": lambda np_, y: np_.broadcast_arrays(y[:1], y)[0],
    "real": lambda np_, y: (y * (1 + 0.5j)).real, "imag": lambda np_, y: np_.imag(y * (1 - 2j)),
    # laid out as NumPy lays them out (C order): a reshape of the result is a view that follows it
    "take along 1": lambda np_, y: np_.take(y, [0, 2, 2, 5], axis=1), "repeat": lambda np_, y: np_.repeat(y, 2, 1),
    "compress": lambda np_, y: np_.compress([1, 0, 1, 1, 0, 1], y, axis=1),
}


@pytest.mark.parametrize("name", list(FOLLOWING))
def test_a_view_numpy_makes_follows_its_base_and_differentiates(name):
    """``v = f(y); y *= x; y[0, 1:3] = ...``, then v used: the values NumPy gives, and gradients (central differences).
    np.diagonal, np.diag and np.broadcast_to (read-only views in NumPy), and z.real and z.imag were copies in autonp,
    so v kept y's old values. np.take, np.compress and np.repeat along a later axis were laid out otherwise than
    NumPy's, so a reshape of their result was a copy where NumPy's is a view (the fuzzer's find)."""
    f = FOLLOWING[name]
    x0 = np.arange(1.0, 25.0).reshape(4, 6) / 7

    def program(np_, x):
        if name in ("take along 1", "repeat", "compress"):  # a fresh result, and a reshape of it
            y = f(np_, x * 1.0)
            v = y.reshape(-1)[:8]
        else:
            y = x * 1.0
            v = f(np_, y)
        y *= 1.5 + x[:, :1]
        y[0, 1:3] = x[2, :2]
        return np_.sum(np_.real(v) * np.arange(1.0, np.size(v) + 1).reshape(np.shape(v)))

    want = program(np, x0)
    assert float(program(np, anp.Tensor(x0))) == pytest.approx(want, rel=1e-14)
    got = anp.grad(lambda x: program(np, x))(x0)
    np.testing.assert_allclose(got, central(lambda x: float(program(np, x)), x0), rtol=1e-7, atol=1e-7)


def changed_through_a_part(x, part: str):
    """z.real or z.imag changed in place; then a diagonal and a broadcast of z, which follow z's next change."""
    z = x * (1 + 0.5j)
    v = getattr(z, part)
    v *= 2.0
    v[0] = 0.25 * x[1]
    d, b = np.diagonal(z), np.broadcast_to(z[1], (2, 6))
    z *= 1.5
    return np.sum(np.abs(z) ** 2 * np.arange(1.0, 25.0).reshape(4, 6)) + np.sum(np.abs(d)) + np.sum(np.real(b))


@pytest.mark.parametrize("part", ["real", "imag"])
def test_a_change_through_the_real_or_imaginary_part_reaches_the_complex_array(part):
    """``v = z.real; v *= 2; v[0] = ...`` changes z's real parts and keeps its imaginary ones, as in NumPy; its
    gradient (central differences) was zero: the new z was not an in-place entry, so the ops that read the earlier z
    sent their gradient to the new one, a cycle the backward pass never left."""
    x0 = np.arange(1.0, 25.0).reshape(4, 6) / 7
    assert float(changed_through_a_part(anp.Tensor(x0), part)) == pytest.approx(changed_through_a_part(x0, part),
                                                                                rel=1e-14)
    np.testing.assert_allclose(anp.grad(changed_through_a_part)(x0, part),
                               central(lambda x: changed_through_a_part(x, part), x0), rtol=1e-6, atol=1e-5)


def test_views_of_complex_values_that_record_nothing_follow_too():
    """A complex Tensor that requires no grad took NumPy's own functions (its answer is the answer there), whose views
    were not linked to their base: z.reshape, np.transpose, z.real, z.imag, np.diagonal kept old values."""
    views = [lambda z: z[0], lambda z: z.T, lambda z: z.reshape(3, 2), lambda z: np.transpose(z), lambda z: z.real,
             lambda z: np.real(z), lambda z: z.imag, lambda z: np.diagonal(z), lambda z: z.ravel(),
             lambda z: np.moveaxis(z, 0, 1), lambda z: np.flip(z), lambda z: np.squeeze(z[None])]

    def program(z):
        vs = [f(z) for f in views]
        z += 1
        z[1, 1] = 100
        return [np.asarray(v.numpy() if isinstance(v, anp.Tensor) else v) for v in vs]
    a = np.arange(6.0).reshape(2, 3) * (1 + 1j)
    for got, want in zip(program(anp.Tensor(a)), program(a.copy())):
        np.testing.assert_array_equal(got, want)


def test_a_view_changed_in_place_stays_laid_out_as_numpys():
    """``r = y[:, ::-1]; r += 2`` gave r a new array of positive strides, so ``np.ravel(r)`` was a view of it where
    NumPy's is a copy, and ``f *= 1.5`` then reached y (found by the fuzzer's chains of views). After a change
    each view is NumPy's view of its base again."""
    x0 = np.arange(1.0, 13.0).reshape(3, 4) / 5

    def program(x):
        y = x * 1.0
        r = y[:, ::-1]
        r += 2.0 * x[0, 0]
        f = np.ravel(r)
        f *= 1.5 + x[1, 1]
        return np.sum(y * np.cos(np.arange(12.0)).reshape(3, 4)) + np.sum(f * np.sin(np.arange(12.0)))
    for requires_grad in (False, True):
        assert float(program(anp.Tensor(x0, requires_grad=requires_grad))) == pytest.approx(program(x0), rel=1e-14)
    np.testing.assert_allclose(anp.grad(program)(x0), central(program, x0), rtol=1e-7, atol=1e-8)


def test_a_change_through_a_read_only_view_is_refused_as_numpy_refuses_it():
    # (the broadcast of one entry, a scalar in NumPy and a 0-d Tensor here, was writable: found by the long fuzzer)
    for f in (np.diagonal, lambda t: np.broadcast_to(t[0], (2, 4)), lambda t: np.diagonal(t).reshape(3, 1),
              lambda t: np.broadcast_to(t[1, 2], (2,)), lambda t: np.broadcast_to(t.reshape(-1)[0], (3, 2))[1:]):
        for requires_grad in (False, True):
            t = anp.Tensor(np.ones((3, 4)), requires_grad=requires_grad) * 1.0
            for change in (lambda v: v.__iadd__(1.0), lambda v: v.__setitem__(0, 5.0)):
                with pytest.raises(ValueError, match="read-only"):
                    change(f(np.ones((3, 4))))
                with pytest.raises(ValueError, match="read-only"):
                    change(f(t))
            np.testing.assert_array_equal(t.numpy(), np.ones((3, 4)))


def test_views_taken_by_threads_at_once_all_follow_their_base():
    """Four threads slice one recorded Tensor 20,000 times each, keeping every tenth view, while the interpreter
    switches between them every microsecond: a later in-place change to the base reaches every view kept (a prune of
    the base's list that replaced it whole dropped references other threads appended meanwhile, leaving those views
    with their old values)."""
    x = anp.Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    t = x * 1.0
    kept: list[list] = [[] for _ in range(4)]

    def slice_many(k):
        for i in range(20_000):
            v = t[i % 3]
            if i % 10 == 0:  # the others die at once: the base's list is pruned again and again
                kept[k].append((i % 3, v))
    run_threads_switching(slice_many, 4)
    t += 100.0
    stale = [(i, v.numpy()) for views in kept for i, v in views if not np.array_equal(v.numpy(), t.numpy()[i])]
    assert not stale, f"{len(stale)} of 8,000 views kept their old values"


@pytest.mark.parametrize("f", [lambda m: __import__("math").exp(m) * m, lambda m: float(m) * m,
                               lambda m: complex(m).real * m, lambda m: np.float64(float(m) ** 2) + m],
                         ids=["math.exp", "float", "complex", "float_then_numpy"])
def test_a_number_taken_from_a_differentiated_tensor_is_refused_inside_the_function(f):
    """Inside a function a transform differentiates, float(t) leaves the tape: math.exp(m) * m came back with the
    derivative exp(m) (1.65 at 0.5) where it is exp(m)(1 + m) (2.47), with no error and no warning (the output still
    depended on m). HIPS autograd and JAX refuse it; so does autonp now. Outside transforms float(loss) stays the
    value (logging), and t.item() is the explicit way inside."""
    with pytest.raises(TypeError, match="inside a function being differentiated"):
        anp.grad(f)(0.5)
    with pytest.raises(TypeError, match="inside a function being differentiated"):
        anp.jacobian(lambda m: f(m) * np.ones(2))(0.5)
    x = anp.Tensor(np.array(0.5), requires_grad=True)
    loss = np.exp(x) * x
    assert float(loss) == np.exp(0.5) * 0.5 and "%.3f" % loss == "0.824"
    assert anp.grad(lambda m: np.exp(m) * m + m.item())(0.5) == pytest.approx(np.exp(0.5) * 1.5, rel=1e-15)


@pytest.mark.parametrize("scale", [1.0, 1e8, 5.8e13])
def test_the_log_sum_exp_family_differentiates_exactly_at_large_magnitudes(scale):
    """∂ logsumexp = exp(x − ans) computed as written carries ans's rounding — an ulp of the largest x, 0.0078 at
    5.8e13 — into the exponent: the gradient came out 0.1% off there (the compiled-training long run's seed
    1831439223: a weighted logsumexp of ~6e13; autonp's eager gradient was as far off as the compiled one, and
    central differences agreed with the complex step to 4e-10). Now exp((x − m) − log Σ exp(x − m)), and
    logaddexp's σ(x − y): against the same formulas in exact shifts (σ of the differences; SciPy's complex step)."""
    from scipy.special import expit
    from scipy.special import logsumexp as scipy_lse

    from autonp.scipy.special import logsumexp
    from conftest import complex_step
    rng = np.random.default_rng(0)
    x = scale + rng.normal(size=(3, 4)) * 2.0
    b = np.array([[1.0, 0.0, 2.0, 0.5], [0.3, 1.0, 0.0, 2.0], [0.0, 1.5, 1.0, 0.7]])
    w = rng.normal(size=(1, 4))
    for weights in (None, b):
        got = anp.grad(lambda v: np.sum(logsumexp(v, axis=0, b=weights, keepdims=True) * w))(x)
        want = complex_step(lambda v: np.sum(scipy_lse(v, axis=0, b=weights, keepdims=True) * w), x)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13, atol=1e-15)
    second = anp.grad(lambda v: np.sum(anp.grad(lambda u: np.sum(logsumexp(u, axis=0) * w))(v) * b))(x)
    e = np.exp(x - x.max(axis=0))
    p = e / e.sum(axis=0)  # ∂²/∂x² of Σ w·lse along b: w·(p⊙b − p·Σ p⊙b)
    np.testing.assert_allclose(np.asarray(second), w * (p * b - p * np.sum(p * b, axis=0)), rtol=1e-12, atol=1e-15)
    gx, gy = anp.grad(lambda u, v: np.sum(np.logaddexp(u, v)), (0, 1))(x[0], x[1])
    np.testing.assert_allclose([gx, gy], [expit(x[0] - x[1]), expit(x[1] - x[0])], rtol=1e-14)
    gx = anp.grad(lambda u: np.sum(np.logaddexp2(u, x[1])))(x[0])
    np.testing.assert_allclose(gx, expit((x[0] - x[1]) * np.log(2.0)), rtol=1e-14)


def test_a_list_of_tensors_as_an_operand_is_stacked_on_the_tape_as_numpy_makes_an_array_of_it():
    """py_wake divides by a list it built of Tensors (``sc / mc``, ``mc = [ct0, np.maximum(mc[-1], ct1)]``): NumPy
    makes an array of a sequence operand, which refused the Tensors that require grad inside it. The list is stacked
    on the tape instead: the gradient against central differences, each way round and through np.maximum."""
    def f(np_, x):
        mc = [x * 2, x ** 2]
        return np_.sum(x / mc) + np_.sum(np_.maximum(mc, x + 1) * [[1.0], [2.0]]) + np_.sum(mc / (x + 3))
    import autonp.numpy as anpn
    x0 = np.array([1.0, 2.0, 3.5])
    got = anp.grad(lambda x: f(anpn, x))(x0)
    np.testing.assert_allclose(got, central(lambda x: f(np, x), x0.copy()), rtol=1e-7)
    with pytest.raises(TypeError, match="converted to a NumPy array implicitly"):  # not every sequence is an operand
        anp.grad(lambda x: anpn.sum(x * anp.Tensor(np.ones(3))) + float(np.sum(np.array([x, x]))))(x0)


def test_copy_copy_and_deepcopy_of_a_tensor_being_differentiated_stay_on_the_tape():
    """paragami folds an unconstrained parameter with ``copy.copy(free_array)``: the copy was detached (through
    ``__reduce__``), the gradient through it zero with a warning — HIPS's is right. A copy of a result that requires
    grad, or of any Tensor inside a differentiated function, is a recorded copy now; a leaf's copy elsewhere stays a
    new leaf (``copy.deepcopy(model)``). Oracle: central differences, and HIPS."""
    import copy

    def f(np_, x):
        a = copy.copy(x[:3])
        b = copy.deepcopy(x * x)
        return np_.sum(a ** 2 * b[1:4]) + np_.sum(copy.deepcopy(x))
    x0 = np.array([0.1, -0.2, 0.3, 5.0])
    got = anp.grad(lambda x: f(anp, x))(x0)
    np.testing.assert_allclose(got, central(lambda x: f(np, x), x0.copy()), rtol=1e-7)
    hips = pytest.importorskip("autograd")  # (HIPS's deepcopy of a box drops some paths: only copy.copy is compared)
    import autograd.numpy as hnp
    g = lambda np_, x: np_.sum(copy.copy(x[:3]) ** 2 * x[1:4])  # noqa: E731
    np.testing.assert_allclose(anp.grad(lambda x: g(anp, x))(x0), hips.grad(lambda x: g(hnp, x))(x0), rtol=1e-13)
    p = nn.Parameter(np.ones(2))
    q = copy.deepcopy(p)
    assert type(q) is nn.Parameter and q.is_leaf and q.requires_grad and q is not p
    assert not np.shares_memory(q.numpy(), p.numpy())
