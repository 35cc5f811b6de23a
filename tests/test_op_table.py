"""Every row of the op table (tests/op_db.py), run through NumPy's own names on Tensors, against
three oracles: central finite differences of the same function in plain NumPy (first order),
finite differences of the verified first derivative (second order, Hessian-vector products),
and HIPS autograd running the same function; plus float32 runs."""
import numpy as np
import pytest

import autonp as anp
from conftest import central_diff
from op_db import CASES, value

IDS = [c.name for c in CASES]


def _weights(case, out_shape):
    return np.random.default_rng(len(case.name)).normal(size=out_shape)


def _autonp_grads(case, xs, create_graph=False):
    """∂ Σ f(xs)⊙R / ∂xs through autonp, with NumPy's names dispatching to it."""
    ts = [anp.Tensor(x, requires_grad=True) for x in xs]
    out = case.f(np, *ts)
    assert isinstance(out, anp.Tensor), f"{case.name}: returned {type(out).__name__}, not a Tensor"
    R = _weights(case, out.shape)
    loss = (out * R).sum()
    grads = anp.gradients(loss, ts, create_graph=create_graph)
    return ts, out, grads, R


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_first_order_matches_finite_differences(case):
    xs = case.inputs()
    _, out, grads, R = _autonp_grads(case, xs)
    np.testing.assert_allclose(out.numpy(), case.f(np, *xs), rtol=1e-12, atol=1e-12, err_msg="forward")
    for i, x in enumerate(xs):
        def f(v, i=i):
            args = list(xs)
            args[i] = v
            return float(np.sum(case.f(np, *args) * R))
        assert grads[i] is not None, f"{case.name}: input {i} got no gradient"
        np.testing.assert_allclose(grads[i].numpy(), central_diff(f, x), rtol=case.rtol, atol=case.atol,
                                   err_msg=f"{case.name}: input {i}")


@pytest.mark.parametrize("case", [c for c in CASES if c.second_order], ids=[c.name for c in CASES if c.second_order])
def test_second_order_matches_finite_differences_of_the_gradient(case):
    """H·v by create_graph against (∇f(x + εv) − ∇f(x − εv)) / 2ε, the gradients from backward."""
    xs = case.inputs()
    rng = np.random.default_rng(1)
    vs = [rng.normal(size=x.shape) for x in xs]
    ts, out, grads, R = _autonp_grads(case, xs, create_graph=True)
    gv = sum((g * v).sum() for g, v in zip(grads, vs) if g is not None)
    if not getattr(gv, "requires_grad", False):  # the gradient does not depend on the inputs: H = 0
        hvp = [np.zeros_like(x) for x in xs]
    else:
        hvp = [np.zeros_like(x) if h is None else h.numpy() for x, h in zip(xs, anp.gradients(gv, ts))]
    eps = 1e-5

    def grads_at(shift):
        moved = [x + shift * v for x, v in zip(xs, vs)]
        ts2 = [anp.Tensor(m, requires_grad=True) for m in moved]
        return [g.numpy() for g in anp.gradients((case.f(np, *ts2) * R).sum(), ts2)]
    numeric = [(a - b) / (2 * eps) for a, b in zip(grads_at(eps), grads_at(-eps))]
    for i in range(len(xs)):
        np.testing.assert_allclose(hvp[i], numeric[i], rtol=1e-4, atol=1e-5, err_msg=f"{case.name}: input {i}")


@pytest.mark.parametrize("case", [c for c in CASES if c.float32], ids=[c.name for c in CASES if c.float32])
def test_float32_stays_float32_and_agrees(case):
    xs32 = case.inputs(np.float32)
    _, out32, g32, _ = _autonp_grads(case, xs32)
    _, _, g64, _ = _autonp_grads(case, [x.astype(np.float64) for x in xs32])
    expected_dtype = np.asarray(case.f(np, *xs32)).dtype  # NumPy's promotion rules (constants may be float64)
    assert out32.dtype == expected_dtype, f"{case.name}: float32 inputs gave {out32.dtype}, NumPy {expected_dtype}"
    for a, b in zip(g32, g64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("case", [c for c in CASES if c.hips], ids=[c.name for c in CASES if c.hips])
def test_agrees_with_hips_autograd(case):
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as hnp
    xs = case.inputs()
    _, _, grads, R = _autonp_grads(case, xs)
    for i in range(len(xs)):
        def f(v, i=i):
            args = list(xs)
            args[i] = v
            return hnp.sum(case.f(hnp, *args) * R)
        try:
            expected = autograd.grad(f)(xs[i])
        except NotImplementedError as e:
            pytest.skip(f"HIPS autograd has no gradient here: {e}")
        np.testing.assert_allclose(grads[i].numpy(), value(expected), rtol=1e-10, atol=1e-12,
                                   err_msg=f"{case.name}: input {i}")


ISSUE_LIST = """sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh arctanh sign log2 log10 log1p expm1 exp2
square reciprocal fabs floor ceil mod remainder logaddexp logaddexp2 hypot arctan2 fmax fmin deg2rad rad2deg sinc
prod var std cumsum cumprod diff sort dot inner outer tensordot einsum kron trace diag diagonal tril triu
linalg.norm linalg.inv linalg.det linalg.slogdet linalg.solve linalg.cholesky linalg.eigh linalg.svd ravel squeeze
expand_dims moveaxis rollaxis repeat tile roll flip fliplr flipud rot90 atleast_1d atleast_2d atleast_3d split
array_split hsplit vsplit dsplit hstack vstack dstack column_stack append pad select nan_to_num""".split()
PIECEWISE_CONSTANT = {"sign", "floor", "ceil"}  # gradient 0: no second order to check


def test_every_op_a_numpy_user_expects_has_a_row_checked_to_second_order():
    covered = {name for c in CASES for name in c.covers}
    second = {name for c in CASES if c.second_order for name in c.covers}
    assert not set(ISSUE_LIST) - covered, f"no op-table row for {sorted(set(ISSUE_LIST) - covered)}"
    missing = set(ISSUE_LIST) - second - PIECEWISE_CONSTANT
    assert not missing, f"no second-order check for {sorted(missing)}"
