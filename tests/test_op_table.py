"""Every row of the op table (tests/op_db.py), run through NumPy's own names on Tensors, against
three oracles: central finite differences of the same function in plain NumPy (first order),
finite differences of the verified first derivative (second order, Hessian-vector products),
and HIPS autograd running the same function; plus float32 runs."""
import itertools
import warnings

import numpy as np
import pytest

import autonp as anp
from conftest import central_diff, complex_central_diff
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


def test_results_are_laid_out_as_numpy_lays_them_out():
    """Each row's result is C- or Fortran-contiguous exactly where NumPy's is: a later reshape or ravel is then a
    view where NumPy's is one, and follows in-place changes as NumPy's does. np.take, np.compress and np.repeat
    along a later axis were laid out as fancy indexing lays them out (Fortran order here), so a reshape of their
    result was a copy, and a view of it kept its old values after the result changed in place (found by the fuzzer:
    compress, then a reshape of a product of it that changed in place); np.quantile's was transposed."""
    differ = []
    for case in CASES:
        xs = case.inputs()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = case.f(np, *xs)
            got = case.f(np, *[anp.Tensor(x, requires_grad=True) for x in xs])
        if isinstance(want, np.ndarray) and isinstance(got, anp.Tensor):
            w, g = want.flags, got.numpy().flags
            if (w.c_contiguous, w.f_contiguous) != (g.c_contiguous, g.f_contiguous):
                differ.append(f"{case.name}: NumPy's strides {want.strides}, autonp's {got.numpy().strides}")
    assert not differ, "\n".join(differ)


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


# Where a non-finite input makes autonp and HIPS autograd differ, by a rule of autonp's (tested against HIPS below)
_INF, _NAN = (np.inf, -np.inf), (np.nan,)
NON_FINITE_RULES = {
    "sqrt": ((-np.inf,), "sqrt(−∞) is NaN, and so is its gradient (HIPS: 0.5·(−∞)^−½ = 0)"),
    "arccosh": ((-np.inf,), "arccosh(−∞) is NaN, and so is its gradient 1/(√(x − 1)·√(x + 1)) (HIPS: 1/√(x² − 1) = 0)"),
    "abs": (_INF, "∂|x| = sign(x) = ±1 at ±∞ (HIPS: ∞/∞ = NaN)"),
    "absolute": (_INF, "as abs"),
    "clip": (_NAN, "a NaN is not within the bounds: gradient 0, as PyTorch (HIPS passes g)"),
    "prod": (_INF + _NAN, "∂/∂xᵢ Π x is the product of the others: finite at the non-finite entry (HIPS: Π/xᵢ)"),
    "prod_axis1": (_INF + _NAN, "as prod"),
    "prod_axes02_keepdims": (_INF + _NAN, "as prod"),
    "var": (_INF, "the value is NaN (∞ − ∞ about the mean): so is every entry of the gradient (HIPS: ±∞)"),
    "var_axis1": (_INF, "as var"),
    "var_axes02_keepdims": (_INF, "as var"),
    "var_ddof": (_INF, "as var"),
    "scipy.special.gammainc": ((-np.inf,), "outside the domain: the value is NaN, and so is the gradient"),
    "scipy.special.gammaincc": ((-np.inf,), "as gammainc"),
    "scipy.special.betainc": ((-np.inf,), "as gammainc"),
    "scipy.special.betaln": ((np.inf,), "∂/∂a at a = ∞ is the limit of ψ(a) − ψ(a + b), 0, from ψ's asymptotic series "
                                        "(HIPS: ∞ − ∞ = NaN)"),
    "scipy.special.beta": ((np.inf,), "as betaln"),
    "logaddexp": ((np.inf,), "∂x = σ(x − y), 1 at x = ∞ and 0 for the other argument, the limits (HIPS: exp(∞ − ∞) "
                             "= NaN); σ(x − y), not exp(x − ans), so that ans's rounding stays out of the exponent"),
    "logaddexp2": ((np.inf,), "as logaddexp"),
}
_LAPACK = {"inv", "det", "det_batched", "slogdet", "solve", "solve_vec", "cholesky", "eigh_values", "eigh_vectors",
           "eigvalsh", "svd_values", "svd_vectors_tall", "svd_vectors_wide", "norm_nuc", "norm_2_matrix",
           "matrix_power"}  # LAPACK's iterations may not return on a non-finite matrix: not swept


def _same_or_both_not_finite(got, want) -> bool:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    fin = np.isfinite(want)
    return (got.shape == want.shape and np.array_equal(np.isnan(got), np.isnan(want))
            and np.array_equal(got[~fin], want[~fin], equal_nan=True) and bool(np.isfinite(got[fin]).all())
            and np.allclose(got[fin], want[fin], rtol=1e-6, atol=1e-9))


SWEPT = [c for c in CASES if c.hips and c.name not in _LAPACK]


@pytest.mark.parametrize("case", SWEPT, ids=[c.name for c in SWEPT])
def test_a_non_finite_input_gives_hips_autograds_value_and_gradient_or_a_stated_rule(case):
    """±∞ and NaN at the first, middle and last entry of each input in turn: the value and every gradient equal
    HIPS autograd's — the same NaNs and infinities, the finite entries to rounding — except where
    ``NON_FINITE_RULES`` states autonp's own rule. This sweep found ∂(x^y)/∂y = 0 at a negative x (HIPS and
    PyTorch: NaN; now NaN)."""
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as hnp
    rule = NON_FINITE_RULES.get(case.name, ((), ""))[0]
    base = case.inputs()
    for i, x in enumerate(base):
        for pos, v in itertools.product(sorted({0, x.size // 2, x.size - 1}), (np.inf, -np.inf, np.nan)):
            xs = [a.copy() for a in base]
            xs[i].flat[pos] = v
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    want = case.f(hnp, *xs)
                    R = _weights(case, np.shape(want))
                    want_grads = [autograd.grad(lambda a, j=j: hnp.sum(case.f(hnp, *xs[:j], a, *xs[j + 1:]) * R))(xs[j])
                                  for j in range(len(xs))]
                except (NotImplementedError, TypeError, ValueError):
                    continue  # HIPS has no gradient here
                _, out, grads, _ = _autonp_grads(case, xs)
            where = f"{case.name}: input {i}[{pos}] = {v}"
            assert _same_or_both_not_finite(out.numpy(), value(want)), f"{where}: value"
            if any(v == r or (np.isnan(v) and np.isnan(r)) for r in rule):
                continue
            for j, (got, expected) in enumerate(zip(grads, want_grads)):
                assert _same_or_both_not_finite(got.numpy(), value(expected)), f"{where}: gradient of input {j}"


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


def _complex_inputs(case):
    """The row's inputs with imaginary parts of 0.3 times their size: near the row's real domain."""
    rng = np.random.default_rng(7)
    return [x + 0.3j * np.abs(x) * rng.uniform(-1, 1, size=np.shape(x)) for x in case.inputs()]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_complex_inputs_are_differentiated_right_or_refused(case):
    """Every row on complex inputs that require grad: either an error (the op's VJP is written for real values, or
    NumPy has no complex version), or HIPS's convention's gradient, ∂/∂x − i·∂/∂y of Re Σ f·W, equal to central
    differences of NumPy's own function along every real and imaginary coordinate. Never a silent wrong number."""
    zs = _complex_inputs(case)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            plain = case.f(np, *zs)
        except (TypeError, ValueError, np.linalg.LinAlgError):
            plain = None  # NumPy (or SciPy) has no complex version: autonp must raise too, below
    if plain is not None and not np.all(np.isfinite(plain)):
        pytest.skip("not finite on these complex inputs")
    ts = [anp.Tensor(z, requires_grad=True) for z in zs]
    try:
        out = case.f(np, *ts)
        W = _weights(case, np.shape(out)) * (1 + 0.5j)
        loss = np.real(np.sum(out * W))
        grads = anp.gradients(loss, ts)
    except (TypeError, ValueError, NotImplementedError) as e:
        assert plain is None or "complex" in str(e), f"{case.name}: {type(e).__name__}: {e}"
        return
    assert plain is not None, f"{case.name}: NumPy refuses complex inputs, autonp gave {out}"
    np.testing.assert_allclose(out.numpy(), plain, rtol=1e-12, atol=1e-12, err_msg=f"{case.name}: forward")
    for i, z in enumerate(zs):
        def f(v, i=i):
            args = list(zs)
            args[i] = v
            return np.real(np.sum(case.f(np, *args) * W))
        assert grads[i] is not None, f"{case.name}: input {i} got no gradient"
        np.testing.assert_allclose(grads[i].numpy(), complex_central_diff(f, z), rtol=case.rtol, atol=1e-6,
                                   err_msg=f"{case.name}: input {i}")
