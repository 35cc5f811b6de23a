"""Complex numbers, in HIPS autograd's convention: the gradient of a real f at z = x + iy is ∂f/∂x − i·∂f/∂y (of a
holomorphic f, f′(z)); a real input gets the real part. Oracles: central differences along every real and imaginary
coordinate (``conftest.complex_central_diff``), HIPS autograd where its rule is right, NumPy's values. Ops whose VJPs
are written for real values only refuse complex values that require grad."""
import numpy as np
import pytest
import scipy.special

import autonp as anp
import autonp.numpy as anpn
from autonp.test_util import check_grads
from conftest import central_diff, complex_central_diff

hips = pytest.importorskip("autograd")
import autograd.numpy as hnp  # noqa: E402

RNG = np.random.default_rng(11)
Z = RNG.normal(size=(2, 3)) + 1j * RNG.normal(size=(2, 3))
M = RNG.normal(size=(3, 3)) + 1j * RNG.normal(size=(3, 3)) + 2 * np.eye(3)
X = RNG.normal(size=(2, 3))
W = RNG.normal(size=(2, 3)) + 1j * RNG.normal(size=(2, 3))


def _weighted(y):
    """A real loss that reads real and imaginary parts of y with different weights."""
    w = np.cos(np.arange(np.size(y))).reshape(np.shape(y)) + 1j * np.sin(0.7 * np.arange(np.size(y))).reshape(
        np.shape(y))
    return y, w


def elementwise(name):
    def program(np_, z):
        y = getattr(np_, name)(z)
        _, w = _weighted(np.empty(np.shape(z)))
        return np_.real(np_.sum(y * w)) + 0.1 * np_.sum(np_.abs(y) ** 2)
    return program


HOLOMORPHIC = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "square", "reciprocal", "sin", "cos",
               "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "negative",
               "positive", "conj"]

PROGRAMS = {
    **{name: (elementwise(name), Z) for name in HOLOMORPHIC},
    "abs": (lambda np_, z: np_.sum(np_.abs(z) * np.arange(6).reshape(2, 3)), Z),
    "abs squared": (lambda np_, z: np_.sum(np_.abs(z) ** 2), Z),
    "angle": (lambda np_, z: np_.sum(np_.angle(z) * np.arange(6).reshape(2, 3)), Z),
    "angle in degrees": (lambda np_, z: np_.sum(np_.angle(z, deg=True)), Z),
    "real and imag": (lambda np_, z: np_.sum(np_.real(z) ** 2 * 3.0 + np_.imag(z) ** 3), Z),
    "real_if_close": (lambda np_, z: np_.sum(np_.real_if_close(np_.real(z) * (1 + 0j)) ** 2), Z),
    "conjugate times z": (lambda np_, z: np_.real(np_.sum(np_.conjugate(z) * z * (1 + 2j))), Z),
    "power with real exponent": (lambda np_, z: np_.real(np_.sum(z ** 2.5 * W)), Z),
    "power z**z": (lambda np_, z: np_.imag(np_.sum(z ** z)), Z),
    "power of a number": (lambda np_, z: np_.real(np_.sum(2.0 ** z * W)), Z),
    "division": (lambda np_, z: np_.imag(np_.sum(1 / z + z / (z + 2.0) - z * W)), Z),
    "sum mean prod": (lambda np_, z: np_.abs(np_.sum(z, axis=0)).sum() + np_.abs(np_.mean(z)) + np_.real(np_.prod(z)),
                      Z),
    "cumsum and cumprod": (lambda np_, z: np_.real(np_.sum(np_.cumsum(z, axis=1) * W + np_.cumprod(z, axis=1))), Z),
    "max and min": (lambda np_, z: np_.imag(np_.max(z) + 2.0 * np_.min(z, axis=0).sum()), Z),
    "var and std": (lambda np_, z: np_.var(z) + np_.std(z, axis=1).sum() + np_.var(z, axis=0, ddof=1).sum(), Z),
    "matmul and dot": (lambda np_, z: np_.real(np_.sum((z @ z.T) * (1 - 1j)) + np_.dot(z[0], z[1])), Z),
    "einsum and tensordot": (lambda np_, z: np_.abs(np_.einsum("ij,kj->", z, z)) + np_.real(np_.tensordot(z, W, 2)), Z),
    "inner outer kron": (lambda np_, z: np_.real(np_.inner(z[0], z[1]) + np_.sum(np_.outer(z[0], W[1]))
                                                  + np_.sum(np_.kron(z[0], z[1]) ** 2)), Z),
    "vdot": (lambda np_, z: np_.real(np_.vdot(z, W)) + np_.imag(np_.vdot(W, z)), Z),
    "trace": (lambda np_, m: np_.real(np_.trace(m @ m)), M),
    "inv": (lambda np_, m: np_.real(np_.sum(np_.linalg.inv(m) * (1 + 1j))), M),
    "det": (lambda np_, m: np_.abs(np_.linalg.det(m)), M),
    "solve": (lambda np_, m: np_.imag(np_.sum(np_.linalg.solve(m, np.arange(3.0) + 1j))), M),
    "matrix_power": (lambda np_, m: np_.real(np_.sum(np_.linalg.matrix_power(m, 3))), M),
    "norm": (lambda np_, z: np_.linalg.norm(z) + np_.linalg.norm(z, axis=0).sum(), Z),
    "norm 1, inf and 3": (lambda np_, z: np_.linalg.norm(z[0], 1) + np_.linalg.norm(z[1], np.inf)
                          + np_.linalg.norm(z[0], 3), Z),
    "indexing with repeats": (lambda np_, z: np_.real(np_.sum(z[[0, 0, 1], [2, 2, 0]] ** 2)), Z),
    "concatenate stack reshape": (lambda np_, z: np_.real(np_.sum(np_.concatenate([z, np_.stack([z[0], z[1]])]) ** 3)
                                                          + np_.sum(np_.reshape(z, (3, 2)).T * W)), Z),
    "roll pad where": (lambda np_, z: np_.real(np_.sum(np_.roll(z, 1, axis=1) * W) + np_.sum(np_.pad(z, 1) ** 2)
                                               + np_.sum(np_.where(np.real(Z) > 0, z, z * z))), Z),
    "real input, complex inside": (lambda np_, x: np_.sum(np_.abs(x * (1 + 2j) + np_.exp(1j * x)) ** 3), X),
    "real input, complex power of a negative base": (lambda np_, x: np_.real(np_.sum((-2.0) ** (x * 1j))), X),
}
HIPS_DIFFERS = {
    "arccosh": "HIPS's 1/√(z² − 1) is the other branch's derivative where Re z < 0",
    "real input, complex power of a negative base": "HIPS takes log x of the real x < 0: NaN",
    "norm 1, inf and 3": "HIPS refuses the gradient of norm for ord 1",
    "max and min": "HIPS ranks complex numbers by their real parts only",
    "positive": "HIPS has no VJP for positive",
    "angle in degrees": "HIPS's angle VJP takes no deg",
    **{name: "HIPS has no VJP for it" for name in ("cumsum and cumprod", "matrix_power", "vdot", "roll pad where")},
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradient_equals_central_differences_and_hips(name):
    program, z = PROGRAMS[name]
    got = np.asarray(anp.grad(lambda v: program(anpn, v))(z))
    oracle = complex_central_diff(lambda v: program(np, v), z) if np.iscomplexobj(z) else \
        central_diff(lambda v: program(np, v), z)
    assert got.dtype == z.dtype
    np.testing.assert_allclose(got, oracle, rtol=1e-6, atol=1e-6)
    if name not in HIPS_DIFFERS:
        np.testing.assert_allclose(got, hips.grad(lambda v: program(hnp, v))(z), rtol=1e-10, atol=1e-12)


def test_where_hips_differs_autonp_is_the_central_differences():
    """The programs HIPS gets wrong or refuses: the differences are HIPS's (checked, so the list stays true)."""
    for name in ["arccosh", "real input, complex power of a negative base"]:
        program, z = PROGRAMS[name]
        with np.errstate(all="ignore"):
            theirs = hips.grad(lambda v: program(hnp, v))(z)
        oracle = complex_central_diff(lambda v: program(np, v), z) if np.iscomplexobj(z) else \
            central_diff(lambda v: program(np, v), z)
        assert not np.allclose(theirs, oracle, rtol=1e-6, atol=1e-6), name


FFTS = [
    *[(name, {"norm": norm}) for name in ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn")
      for norm in (None, "backward", "ortho", "forward")],
    ("fft", {"n": 2}), ("fft", {"n": 5, "axis": 0}), ("ifft", {"n": 7}), ("fftn", {"s": (3, 2), "axes": (0, 1)}),
    ("ifftn", {"s": (1, 5), "axes": (1, 0)}), ("fft2", {"s": (4, 4), "norm": "ortho"}),
    ("fftshift", {}), ("ifftshift", {"axes": 0}), ("fftshift", {"axes": (1,)}),
    # an axis named twice is transformed twice, each time to its own length in s (NumPy's order: the last first)
    ("fftn", {"axes": (1, 1)}), ("ifftn", {"axes": (0, 1, 0), "norm": "ortho"}),
    ("fftn", {"s": (3, 8), "axes": (1, 1)}), ("ifftn", {"s": (5, 2, 3), "axes": (0, 1, 0)}),
    ("fftn", {"s": (-1, 5), "axes": (0, 1)}),  # -1: the input's own length
]
REAL_FFTS = [
    *[(name, {"norm": norm}) for name in ("rfft", "rfft2", "rfftn") for norm in (None, "ortho", "forward")],
    ("rfft", {"n": 5}), ("rfft", {"n": 2}), ("rfft", {"axis": 0}), ("rfftn", {"axes": (1, 0)}),
    ("rfft2", {"s": (3, 5)}), ("rfftn", {"s": (2, 3), "axes": (0, 1)}),  # an odd last length: HIPS refuses it
    ("rfftn", {"axes": (1, 1)}), ("rfftn", {"axes": (0, 1, 0)}), ("rfftn", {"s": (5, 3, 7), "axes": (1, 0, 1)}),
    ("rfftn", {"s": (3, -1), "axes": (0, 1)}),
]
INVERSE_REAL_FFTS = [
    *[(name, {"norm": norm}) for name in ("irfft", "irfft2", "irfftn") for norm in (None, "ortho", "forward")],
    ("irfft", {"n": 5}), ("irfft", {"n": 9}), ("irfft", {"n": 3}), ("irfft", {"axis": 0}),
    ("irfftn", {"axes": (1, 0)}), ("irfft2", {"s": (3, 7)}), ("irfftn", {"s": (4, 5), "axes": (0, 1)}),
    ("irfftn", {"axes": (1, 1)}), ("irfftn", {"axes": (0, 0)}), ("irfftn", {"axes": (1, 0, 1), "norm": "ortho"}),
    ("irfftn", {"s": (3, 8), "axes": (1, 1)}), ("irfftn", {"s": (-1, 5), "axes": (0, 1)}),
]

HERMITIAN_FFTS = [  # hfft of complex input, ihfft of real input (refused before 2026-12-05)
    *[(name, {"norm": norm}) for name in ("hfft", "ihfft") for norm in (None, "backward", "ortho", "forward")],
    ("hfft", {"n": 5}), ("hfft", {"n": 12, "axis": 0}), ("hfft", {"n": 3, "norm": "forward"}),
    ("ihfft", {"n": 5}), ("ihfft", {"n": 9, "axis": 0}), ("ihfft", {"n": 2, "norm": "ortho"}),
]


def _fft_loss(np_, name, kwargs):
    def loss(v):
        y = getattr(np_.fft, name)(v, **kwargs)
        _, w = _weighted(np.empty(np.shape(y)))
        return np_.real(np_.sum(y * w)) + 0.1 * np_.sum(np_.abs(y) ** 2)
    return loss


@pytest.mark.parametrize("name, kwargs", FFTS + REAL_FFTS + INVERSE_REAL_FFTS + HERMITIAN_FFTS)
def test_fft_gradients_equal_central_differences(name, kwargs):
    """Each transform of a (4, 6) array, every norm, lengths cut and padded, odd and even; real input for the rfft
    family and ihfft. Values are NumPy's."""
    real_input = name.startswith("rfft") or name == "ihfft"
    z = RNG.normal(size=(4, 6)) + (0 if real_input else 1j * RNG.normal(size=(4, 6)))
    t = anp.Tensor(z, requires_grad=True)
    np.testing.assert_array_equal(getattr(np.fft, name)(t, **kwargs).numpy(), getattr(np.fft, name)(z, **kwargs))
    got = np.asarray(anp.grad(_fft_loss(anpn, name, kwargs))(z))
    diff = central_diff if real_input else complex_central_diff
    np.testing.assert_allclose(got, diff(_fft_loss(np, name, kwargs), z), rtol=1e-6, atol=1e-6)


def test_fft_of_a_real_signal_has_a_real_gradient():
    """|fft(x)|² summed is n·Σx² (Parseval): its gradient is 2n·x, real."""
    x = RNG.normal(size=8)
    g = anp.grad(lambda v: np.sum(np.abs(np.fft.fft(v)) ** 2))(x)
    assert np.asarray(g).dtype == np.float64
    np.testing.assert_allclose(np.asarray(g), 16 * x, rtol=1e-13)


def test_rfft_of_complex_input_and_out_are_refused():
    z = anp.Tensor(Z, requires_grad=True)
    with pytest.raises(TypeError, match="real input"):
        np.fft.rfft(z)
    with pytest.raises(TypeError, match="out="):
        np.fft.fft(z, out=np.empty((2, 3), complex))


@pytest.mark.parametrize("name", ["exp", "power z**z", "matmul and dot", "var and std", "abs", "angle", "vdot",
                                  "inv", "real input, complex inside"])
def test_second_order_by_check_grads(name):
    """autonp.test_util.check_grads to order 2, both modes: complex directions, HIPS's adjoint."""
    program, z = PROGRAMS[name]
    np.random.seed(3)
    check_grads(lambda v: program(anpn, v), modes=["fwd", "rev"], order=2)(z)


def test_check_grads_fails_on_a_wrong_complex_vjp():
    """A conj whose VJP forgets to conjugate: right for real values, wrong for complex ones; check_grads says so."""
    wrong = anp.primitive(np.conjugate)
    wrong.defvjp(lambda g, ans, z: g)
    wrong.complex_ok = True
    np.random.seed(0)
    check_grads(lambda v: wrong(v) * 2.0, modes=["rev"], order=1)(X)
    with pytest.raises(AssertionError, match="VJP"):
        check_grads(lambda v: wrong(v) * 2.0, modes=["rev"], order=1)(Z)


def test_holomorphic_grad_is_the_complex_derivative():
    z = Z[0]
    np.testing.assert_allclose(np.asarray(anp.elementwise_grad(lambda v: np.real(np.exp(v)))(z)), np.exp(z),
                               rtol=1e-14)
    np.testing.assert_allclose(np.asarray(anp.holomorphic_grad(lambda v: v ** 3 + 2 * v)(z[1])), 3 * z[1] ** 2 + 2,
                               rtol=1e-14)


def test_values_of_composed_functions_are_numpys():
    """var, std, norm and vdot are built from other ops: on complex values that require grad they read |x|² and
    conj(a), as NumPy's do (Σ(x − μ)² and Σa·b would be complex and wrong)."""
    t = anp.Tensor(Z, requires_grad=True)
    for got, want in [(np.var(t), np.var(Z)), (np.std(t, axis=0), np.std(Z, axis=0)),
                      (np.linalg.norm(t), np.linalg.norm(Z)), (np.linalg.norm(t, axis=1), np.linalg.norm(Z, axis=1)),
                      (np.vdot(t, W), np.vdot(Z, W)), (t.conj(), Z.conj()), (np.abs(t), np.abs(Z))]:
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-14)


@pytest.mark.parametrize("program", [
    lambda z: np.maximum(z, 0.5),
    lambda z: np.sign(z),
    lambda z: np.sinc(z),
    lambda z: np.linalg.cholesky(z[:, :2] @ z[:, :2].conj().T),
    lambda z: np.linalg.slogdet(z[:, :2]),
    lambda z: anp.ops.relu(z),
    lambda z: scipy.special.gammaln(z),
    lambda z: np.cbrt(z),
])
def test_ops_written_for_real_values_refuse_complex_ones(program):
    """Not a NumPy error from inside, not a silent real-only VJP: the op names itself, the dtypes and the line."""
    with pytest.raises((TypeError, ValueError), match=r"(?s)complex.*test_complex\.py|complex"):
        program(anp.Tensor(Z, requires_grad=True))


def test_a_complex_result_is_not_a_loss():
    z = anp.Tensor(Z, requires_grad=True)
    with pytest.raises(TypeError, match="complex value"):
        anp.grad(lambda v: np.sum(v * v))(Z)
    with pytest.raises(TypeError, match="complex tensor"):
        np.sum(z * z).backward()
    np.sum(z * z).backward(grad=np.array(1.0 + 0j))  # an explicit cotangent: HIPS's VJP, 2z
    np.testing.assert_allclose(z.grad.numpy(), 2 * Z, rtol=1e-15)


def test_casts_and_assignments_that_would_drop_imaginary_parts_are_refused():
    z = anp.Tensor(Z, requires_grad=True)
    with pytest.raises(TypeError, match="imaginary part"):
        z.astype(np.float64)
    x = anp.Tensor(X, requires_grad=True)
    with pytest.raises(TypeError, match="imaginary parts"):
        y = x * 1.0
        y[0] = z[0]
    # real → complex is differentiable: the real input gets the real part
    g = anp.grad(lambda v: np.sum(np.abs(v.astype(np.complex128) * (1 + 1j)) ** 2))(X)
    np.testing.assert_allclose(np.asarray(g), 4 * X, rtol=1e-14)


def test_optimizers_refuse_complex_parameters():
    """A step along HIPS's gradient ∂x − i·∂y would climb in y."""
    p = anp.Tensor(Z.copy(), requires_grad=True)
    for make in (lambda: anp.optim.SGD([p], lr=0.1), lambda: anp.optim.Adam([p])):
        with pytest.raises(TypeError, match="complex"):
            make()
    from autonp.misc.optimizers import adam, sgd
    for opt in (sgd, adam):
        with pytest.raises(TypeError, match="complex"):
            opt(lambda v, i: v, Z.copy(), num_iters=1)


def test_compiled_complex_training_replays_eagerly_exact():
    """anp.compile of a backward through complex ops: each replay equal to eager, values changed between calls."""
    z = anp.Tensor(Z.copy(), requires_grad=True)
    w = RNG.normal(size=(3, 3)) + 1j * RNG.normal(size=(3, 3))

    def step():
        y = np.fft.fft(np.exp(0.1 * z @ w), axis=0)
        loss = np.sum(np.abs(y) ** 2) + np.real(np.sum(np.conj(z) * z * 1j)) + np.var(z)
        loss.backward()
        g = z.grad
        z.grad = None
        return loss, g

    compiled = anp.compile(step)
    for k in range(3):
        z._arr[...] = Z * (1 + 0.1 * k)
        want_loss, want_grad = step()
        got_loss, got_grad = compiled()
        assert got_loss.numpy() == want_loss.numpy()
        np.testing.assert_array_equal(got_grad.numpy(), want_grad.numpy())
    assert compiled.traces == 1


HERMITIAN_AND_SVD = {
    "eigh values and |vectors|": lambda np_, m: np_.sum(np_.linalg.eigh(m)[0] * np.arange(1.0, 4.0))
    + np_.sum(np_.abs(np_.linalg.eigh(m)[1]) * np.arange(9.0).reshape(3, 3)),
    "eigh upper, |v|²": lambda np_, m: np_.sum(np_.abs(np_.linalg.eigh(m, "U")[1][:, 0]) ** 2 * np.arange(3.0))
    + np_.linalg.eigh(m, "U")[0][2],
    "eigvalsh": lambda np_, m: np_.sum(np_.linalg.eigvalsh(m) ** 3),
    "svd values": lambda np_, m: np_.sum(np_.linalg.svd(m, compute_uv=False) ** 2 * np.arange(1.0, 4.0)),
    "svd |U|, s, |Vh| (square)": lambda np_, m: np_.sum(np_.abs(np_.linalg.svd(m)[0]) * np.arange(9.0).reshape(3, 3))
    + np_.sum(np_.abs(np_.linalg.svd(m)[2]) ** 2 * np.arange(9.0).reshape(3, 3)),
    "svd U·Vh (phase-free)": lambda np_, m: (lambda usv: np_.real(np_.sum(usv[0] @ usv[2] * M.T)))(np_.linalg.svd(m)),
    "nuclear and 2-norm": lambda np_, m: np_.linalg.norm(m, "nuc") + np_.linalg.norm(m, 2),
}
WIDE = RNG.normal(size=(2, 4)) + 1j * RNG.normal(size=(2, 4))


@pytest.mark.parametrize("name", sorted(HERMITIAN_AND_SVD))
def test_eigh_and_svd_of_complex_matrices(name):
    """Losses that do not depend on the vectors' free phases (|v|, U·Vh, the values): central differences of
    NumPy's own; eigh reads one triangle, and the imaginary part of its diagonal not at all."""
    program = HERMITIAN_AND_SVD[name]
    got = np.asarray(anp.grad(lambda v: program(anpn, v))(M))
    np.testing.assert_allclose(got, complex_central_diff(lambda v: program(np, v), M), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 4), (4, 2)])
def test_reduced_svd_of_a_rectangular_complex_matrix(shape):
    a = RNG.normal(size=shape) + 1j * RNG.normal(size=shape)

    def program(np_, m):
        u, s, vh = np_.linalg.svd(m, full_matrices=False)
        return np_.sum(np_.abs(u) * np.arange(1.0, 1.0 + u.size).reshape(u.shape)) + np_.sum(s ** 3) \
            + np_.sum(np_.abs(vh) ** 2 * np.arange(vh.size).reshape(vh.shape))

    got = np.asarray(anp.grad(lambda v: program(anpn, v))(a))
    np.testing.assert_allclose(got, complex_central_diff(lambda v: program(np, v), a), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, hips.grad(lambda v: program(hnp, v))(a), rtol=1e-9, atol=1e-12)


def test_scipy_erf_erfc_and_sqrtm_of_complex_values():
    """erf and erfc are entire (f′ = ±2/√π·exp(−z²) for complex z too); sqrtm of an indefinite real matrix is
    complex, and its real input gets the real part."""
    import scipy.linalg as sl

    import autonp.scipy.linalg as asl
    a = RNG.normal(size=(3, 3))
    a = a + a.T
    cases = [  # (autonp's program, NumPy/SciPy's for the differences, the point)
        (lambda z: np.real(np.sum(scipy.special.erf(z) * W + scipy.special.erfc(z) ** 2)), None, 0.5 * Z),
        (lambda m: np.real(np.sum(asl.sqrtm(m) * M)), lambda m: np.real(np.sum(sl.sqrtm(m) * M)), a),
        (lambda m: np.imag(np.sum(asl.sqrtm(m))), lambda m: np.imag(np.sum(sl.sqrtm(m))), M),
    ]
    for program, plain, x in cases:
        plain = plain or program
        oracle = complex_central_diff(plain, x) if np.iscomplexobj(x) else central_diff(plain, x)
        np.testing.assert_allclose(np.asarray(anp.grad(program)(x)), oracle, rtol=1e-6, atol=1e-6)


def test_a_primitive_of_ones_own_refuses_complex_values_until_it_says_its_vjp_holds():
    """A VJP written for real values only (here cube's, which is right for complex z too) is not trusted with
    complex values until ``complex_ok`` is set; then it is differentiated, checkpointed too."""
    cube = anp.primitive(lambda x: x ** 3)
    cube.defvjp(lambda g, ans, x: g * 3 * x ** 2)
    z = Z[0]
    with pytest.raises(TypeError, match=r"(?s)written for real values only.*complex_ok = True.*test_complex\.py"):
        anp.grad(lambda v: np.real(np.sum(cube(v))))(z)
    cube.complex_ok = True
    np.testing.assert_allclose(np.asarray(anp.grad(lambda v: np.real(np.sum(cube(v) * W[0])))(z)),
                               3 * z ** 2 * W[0], rtol=1e-14)
    ck = anp.checkpoint(lambda v: np.sum(np.exp(v) * np.conj(v)))
    np.testing.assert_allclose(np.asarray(anp.grad(lambda v: np.real(ck(v) * 1j))(z)),
                               complex_central_diff(lambda v: np.real(np.sum(np.exp(v) * np.conj(v)) * 1j), z),
                               rtol=1e-6, atol=1e-6)


EIG = {
    "values, |vectors|": lambda np_, m: np_.real(np_.sum(np_.linalg.eig(m)[0] * W[0, 0]))
    + np_.sum(np_.abs(np_.linalg.eig(m)[1]) * np.arange(np.size(m)).reshape(np.shape(m))),
    "eigvals": lambda np_, m: np_.sum(np_.abs(np_.linalg.eigvals(m)) ** 2),
    "|v|² of one vector": lambda np_, m: np_.sum(np_.abs(np_.linalg.eig(m)[1][..., 1]) ** 2 * np.arange(3.0)),
}


@pytest.mark.parametrize("name", sorted(EIG))
@pytest.mark.parametrize("matrix", ["complex", "real with complex eigenvalues", "real with real eigenvalues",
                                    "batched"])
def test_eig_of_general_matrices(name, matrix):
    """Losses blind to the eigenvectors' phases, against central differences of NumPy's eig (a real matrix gets
    the real part; its eigenvalues may be real, then NumPy's are float)."""
    a = {"complex": M, "real with complex eigenvalues": np.array([[0.0, -2.0, 0.5], [1.5, 0.3, 0.0], [0.2, 0.1, 1.0]]),
         "real with real eigenvalues": np.array([[2.0, 0.3, 0.1], [0.0, -1.0, 0.4], [0.5, 0.0, 0.7]]),
         "batched": np.stack([M, M.T * 0.5 + 1j])}[matrix]
    program = EIG[name]
    got = np.asarray(anp.grad(lambda v: program(anpn, v))(a))
    oracle = complex_central_diff(lambda v: program(np, v), a) if np.iscomplexobj(a) else \
        central_diff(lambda v: program(np, v), a)
    assert got.dtype == a.dtype
    np.testing.assert_allclose(got, oracle, rtol=1e-6, atol=1e-6)


def test_a_complex_tensor_that_requires_grad_is_saved_and_loaded(tmp_path):
    z = anp.Tensor(Z, requires_grad=True, name="z")
    anp.save({"z": z}, tmp_path / "z.npz")
    back = anp.load(tmp_path / "z.npz")["z"]
    assert back.requires_grad and back.name == "z" and back.dtype == np.complex128
    np.testing.assert_array_equal(back.numpy(), Z)


@pytest.mark.parametrize("name, f, real_input", [
    ("exp", lambda v: np.exp(v), False), ("conj", lambda v: np.conj(v), False), ("abs", lambda v: np.abs(v), False),
    ("z·conj z", lambda v: v * np.conj(v), False), ("fft of z²", lambda v: np.fft.fft(v * v), False),
    ("angle", lambda v: np.angle(v), False), ("real input, complex output", lambda v: np.exp(1j * v) * v, True),
    ("singular values", lambda v: np.linalg.svd(v[:, None] * v[None, :] + np.eye(3), compute_uv=False), False),
])
def test_jvp_is_the_directional_derivative(name, f, real_input):
    """Forward mode by transposing the pullback: J·t equals (f(z + ht) − f(z − ht))/2h for holomorphic and
    non-holomorphic f alike."""
    z, t = (X[0], X[1]) if real_input else (Z[0], W[0])
    h = 1e-6
    out, jt = anp.jvp(f, (z,), (t,))
    np.testing.assert_allclose(np.asarray(jt), (f(z + h * t) - f(z - h * t)) / (2 * h), atol=1e-7)


def test_pytrees_with_complex_leaves():
    """A dict of a complex and a real leaf: each gradient in its own dtype, HIPS's values."""
    params = {"z": Z[0], "x": X[0]}

    def loss(np_, p):
        return np_.sum(np_.abs(p["z"] * p["x"] + 1j) ** 2) + np_.real(np_.sum(p["z"] ** 2))

    got = anp.grad(lambda p: loss(anpn, p))(params)
    want = hips.grad(lambda p: loss(hnp, p))(params)
    assert np.asarray(got["z"]).dtype == np.complex128 and np.asarray(got["x"]).dtype == np.float64
    for k in params:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-12)


def test_a_complex_cotangent_for_a_real_output_is_its_real_part():
    """As everywhere a complex gradient reaches a real value; NumPy's cast would drop the imaginary part with a
    ComplexWarning (an error in this suite)."""
    x = anp.Tensor(X[0], requires_grad=True)
    (x * 3.0).backward(grad=np.array([1 + 5j, 2 - 1j, 0.5j]))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0, 0.0])
    _, pullback = anp.vjp(lambda v: v * 2.0, X[0])
    np.testing.assert_array_equal(np.asarray(pullback(np.array([1j, 1.0, 2 + 2j]))), [0.0, 2.0, 4.0])


@pytest.mark.parametrize("loss", [
    lambda m: np.real(np.sum(np.linalg.eigh(m)[1] * M.T)),
    lambda m: np.imag(np.sum(np.linalg.eig(m)[1][0])),
    lambda m: np.real(np.sum(np.linalg.svd(m)[0])),
    lambda m: np.imag(np.sum(np.linalg.svd(m)[2] * (1 + 2j))),
])
def test_a_loss_that_depends_on_the_vectors_phases_is_refused(loss):
    """Each complex eigen- or singular vector is defined up to e^(iφ), and NumPy's choice is not differentiable:
    the formulas (which assume a loss blind to it) would give another function's gradient. Refused, as PyTorch
    refuses it; the blind losses above pass the same check."""
    with pytest.raises(ValueError, match="phases"):
        anp.grad(loss)(M)
