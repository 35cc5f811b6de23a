"""``autonp.ops._blas.gemm``: NumPy's own BLAS called for ``out (+)= a @ b`` into strided views, against
``np.matmul`` (the oracle), and the NumPy path it falls back to."""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autonp as anp
from autonp.nn import functional as F
from autonp.ops import _blas
from conftest import python_output


def blas_or_skip():
    _blas._blas_can(np.zeros((1, 1)), np.ones((1, 1)), np.ones((1, 1)))  # loads the library
    if not _blas._kernels:
        if os.environ.get("AUTONP_REQUIRE_TOOLS") == "1":
            pytest.fail("NumPy's bundled OpenBLAS was not found: make test runs both paths")
        pytest.skip("NumPy's bundled OpenBLAS was not found")


def laid_out(r, shape, how, dtype):
    """An array of ``shape``: C-ordered, column-major (a transposed copy), or a strided view (every row
    of a wider array, or every column of a taller one)."""
    m, n = shape
    if how == "C":
        return r.normal(size=shape).astype(dtype)
    if how == "F":
        return r.normal(size=(n, m)).astype(dtype).T
    if how == "rows apart":
        return r.normal(size=(m, n + 3)).astype(dtype)[:, 2:2 + n]
    return r.normal(size=(n, m + 2)).astype(dtype).T[1:1 + m]  # columns apart


LAYOUTS = st.sampled_from(["C", "F", "rows apart", "columns apart"])


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(m=st.integers(1, 6), k=st.integers(1, 6), n=st.integers(1, 6), dtype=st.sampled_from([np.float32, np.float64]),
       la=LAYOUTS, lb=LAYOUTS, accumulate=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gemm_into_a_strided_view_equals_matmul(m, k, n, dtype, la, lb, accumulate, seed):
    """Every layout of each operand, into a view of a wider array whose other elements must not change;
    length-one dimensions included (their stride means nothing; BLAS still checks the leading dimension)."""
    blas_or_skip()
    r = np.random.default_rng(seed)
    a, b = laid_out(r, (m, k), la, dtype), laid_out(r, (k, n), lb, dtype)
    whole = r.normal(size=(m + 2, n + 4)).astype(dtype)
    before = whole.copy()
    out = whole[1:1 + m, 2:2 + n]
    assert _blas._blas_can(out, a, b)  # this test is about the BLAS call, not the fallback
    _blas.gemm(a, b, out=out, accumulate=accumulate)
    expected = np.matmul(a, b) + (before[1:1 + m, 2:2 + n] if accumulate else 0)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol)
    outside = np.ones(whole.shape, bool)
    outside[1:1 + m, 2:2 + n] = False
    assert np.array_equal(whole[outside], before[outside])


def test_gemm_takes_numpys_path_where_blas_cannot_and_gets_the_same_result():
    """Mixed or integer dtypes, byte-swapped data, an output that overlaps an operand, an ndarray subclass,
    a column-major output, empty operands: NumPy's matmul, with np.matmul's result."""
    blas_or_skip()
    r = np.random.default_rng(1)
    a, b = r.normal(size=(4, 3)), r.normal(size=(3, 5))
    cases = {
        "mixed dtypes": (np.zeros((4, 5)), a.astype(np.float32), b),
        "integers": (np.zeros((4, 5), np.int64), np.arange(12).reshape(4, 3), np.arange(15).reshape(3, 5)),
        "byte-swapped": (np.zeros((4, 5)), a.astype(">f8"), b),
        "subclass": (np.zeros((4, 5)), a.view(np.matrix), b),
        "column-major out": (np.zeros((5, 4)).T, a, b),
        "empty": (np.zeros((4, 5)), np.zeros((4, 0)), np.zeros((0, 5))),
    }
    for name, (out, x, y) in cases.items():
        assert not _blas._blas_can(out, x, y), name
        for accumulate in (False, True):
            o = out.copy() if name != "column-major out" else np.zeros((5, 4)).T
            o[...] = 1
            _blas.gemm(x, y, out=o, accumulate=accumulate)
            np.testing.assert_allclose(np.asarray(o), np.asarray(x) @ np.asarray(y) + (1 if accumulate else 0),
                                       rtol=1e-6, err_msg=name)
    whole = np.ones((4, 8))
    x = whole[:, :3]  # the output shares the memory of the operand it reads
    out = whole[:, 3:8]
    assert not _blas._blas_can(out, x, b)
    expected = x @ b + 1
    _blas.gemm(x, b, out=out, accumulate=True)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_gemm_refuses_mismatched_shapes_naming_them():
    with pytest.raises(ValueError, match=r"\(4, 3\) @ \(2, 5\) product into \(4, 5\)"):
        _blas.gemm(np.ones((4, 3)), np.ones((2, 5)), out=np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(4, 3\) @ \(3, 5\) product into \(5, 4\)"):
        _blas.gemm(np.ones((4, 3)), np.ones((3, 5)), out=np.zeros((5, 4)))


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-14)])
def test_convolution_with_blas_switched_off_equals_it_switched_on(monkeypatch, dtype, rtol):
    """The two paths of the convolution (BLAS adding into the grid, and NumPy's products and additions) give
    the same output and gradients, with a bias and a padding where the images share margins and where not."""
    blas_or_skip()
    r = np.random.default_rng(2)
    for padding, xs in ((1, (3, 4, 9, 8)), (3, (2, 4, 5, 6))):
        x, w, b = r.normal(size=xs), r.normal(size=(6, 4, 3, 3)), r.normal(size=6)
        dout = r.normal(size=(xs[0], 6, xs[2] + 2 * padding - 2, xs[3] + 2 * padding - 2))
        results = []
        for on in (True, False):
            monkeypatch.setattr(_blas, "ENABLED", on)
            t = [anp.Tensor(v.astype(dtype), requires_grad=True) for v in (x, w, b)]
            out = F.conv2d(*t, padding=padding)
            (out * dout.astype(dtype)).sum().backward()
            results.append([out.numpy()] + [v.grad.numpy() for v in t])
        for got, want in zip(*results):
            scale = np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale * 10)


def test_the_numpy_path_runs_when_blas_is_switched_off():
    """AUTONP_BLAS=0: no library is looked for, and the convolution takes NumPy's products."""
    code = ("import numpy as np, autonp as anp\n"
            "from autonp.ops import _blas\n"
            "from autonp.nn import functional as F\n"
            "assert not _blas.ENABLED\n"
            "x = anp.Tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)\n"
            "y = F.conv2d(x, np.ones((1, 1, 3, 3)), padding=1)\n"
            "y.sum().backward()\n"
            "assert _blas._kernels is None\n"
            "print(y.numpy()[0, 0, 0].tolist(), x.grad.numpy()[0, 0].tolist())\n")
    # the first output row sums 2×2, 2×3, 2×3, 2×2 windows of 0..15; each input counts the windows it is in
    assert python_output(code, AUTONP_BLAS="0") == (str([10.0, 18.0, 24.0, 18.0]) + " "
                                  + str([[4.0, 6.0, 6.0, 4.0], [6.0, 9.0, 9.0, 6.0], [6.0, 9.0, 9.0, 6.0],
                                         [4.0, 6.0, 6.0, 4.0]]))


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-15)])
def test_subtract_scaled_is_the_sgd_update_in_one_pass(dtype, rtol):
    """out -= c·d by axpy on large C-ordered arrays, against NumPy's two passes (to the last bit but one: a
    fused multiply-add may round once); below the size, strided, sharing memory, or with a NumPy scale of
    another float type (NumPy then computes c·d in the wider one): NumPy's own calls, bit for bit."""
    blas_or_skip()
    r = np.random.default_rng(4)
    w, d = r.normal(size=(300, 100)).astype(dtype), r.normal(size=(300, 100)).astype(dtype)
    assert w.size >= _blas.AXPY_MIN
    want = w - 0.01 * d
    got = w.copy()
    _blas.subtract_scaled(0.01, d, out=got)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    assert not np.array_equal(got, w)
    other = np.float64 if dtype == np.float32 else np.float32
    cases = {"small": (w[:10].copy(), d[:10], 0.01), "strided": (w[:, ::2].copy(), d[:, ::2], 0.01),
             "a view of out": (w.copy(), None, 0.01), "another float's scale": (w.copy(), d, other(1 / 3))}
    for name, (out, dd, c) in cases.items():
        dd = out.T.T if dd is None else dd  # shares out's memory
        expected = out.copy()
        expected -= c * (dd.copy() if name == "a view of out" else dd)
        _blas.subtract_scaled(c, dd, out=out)
        assert np.array_equal(out, expected), name


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
def test_subtract_scaled_product_adds_the_scaled_product_into_out(monkeypatch, dtype, rtol):
    """out -= c·(a @ b): one BLAS call (alpha = −c, beta = 1) from AXPY_MIN elements of out, with a a transposed
    view (an SGD step's xᵀ·g); NumPy's own calls below that, bit for bit. The oracle: float64 by NumPy."""
    blas_or_skip()
    calls = []
    real_gemm = _blas._gemm
    monkeypatch.setattr(_blas, "_gemm", lambda *a: calls.append(a[1].shape) or real_gemm(*a))
    r = np.random.default_rng(6)
    for (m, k, n), blas in (((256, 128, 128), True), ((300, 64, 60), True), ((256, 128, 10), False)):
        x, g = r.normal(size=(k, m)).astype(dtype), r.normal(size=(k, n)).astype(dtype)
        w = r.normal(size=(m, n)).astype(dtype)
        got = w.copy()
        calls.clear()
        _blas.subtract_scaled_product(0.01, x.T, g, out=got)
        assert calls == ([(m, n)] if blas else []), (m, k, n)
        want = w.astype(np.float64) - 0.01 * (x.T.astype(np.float64) @ g.astype(np.float64))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
        if not blas:
            expected = w.copy()
            expected -= 0.01 * np.matmul(x.T, g)
            assert np.array_equal(got, expected)


def test_sgd_on_a_large_parameter_follows_the_update_formula():
    """optim.SGD takes the one-pass update for parameters of AXPY_MIN elements or more: p − lr·g to rounding,
    with momentum too."""
    r = np.random.default_rng(5)
    for momentum in (0.0, 0.9):
        p0, g1, g2 = (r.normal(size=(200, 100)).astype(np.float32) for _ in range(3))
        p = anp.nn.Parameter(p0.copy())
        opt = anp.optim.SGD([p], lr=0.05, momentum=momentum)
        v = np.zeros_like(p0)
        want = p0.astype(np.float64)
        for g in (g1, g2):
            p.grad = anp.Tensor(g)
            opt.step()
            v = momentum * v + g if momentum else g
            want = want - 0.05 * v.astype(np.float64)
        np.testing.assert_allclose(p.numpy(), want, rtol=1e-5, atol=1e-6)


def test_convolutions_in_threads_equal_the_same_convolutions_one_after_another():
    """Four threads each running their own convolution's forward and backward (BLAS called from all of them at
    once, each adding into its own grid): the results of a sequential run, bit for bit."""
    import threading
    blas_or_skip()
    r = np.random.default_rng(6)
    shapes = ((4, 3, 12, 11), (5, 3, 3, 3), (5,), (4, 5, 12, 11))  # x, w, b, the output's gradient
    jobs = [tuple(r.normal(size=s) for s in shapes) for _ in range(4)]

    def run(x, w, b, dout):
        t = [anp.Tensor(v, requires_grad=True) for v in (x, w, b)]
        out = F.conv2d(*t, padding=1)
        (out * dout).sum().backward()
        return [out.numpy()] + [v.grad.numpy() for v in t]

    alone = [run(*job) for job in jobs]
    together: list = [None] * len(jobs)
    errors: list = []

    def worker(i):
        try:
            for _ in range(5):
                together[i] = run(*jobs[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, want in zip(together, alone):
        for g, w in zip(got, want):
            assert np.array_equal(g, w)


def test_a_convolution_of_mixed_dtypes_and_odd_layouts_equals_its_definition():
    """float32 input with float64 weights (NumPy's promotion: a float64 result), and inputs that are flipped,
    transposed or strided views: BLAS takes none of the mixed products, and each result equals the loops."""
    from test_nn_layers import conv_definition
    r = np.random.default_rng(7)
    x, w, b = r.normal(size=(2, 3, 7, 6)), r.normal(size=(4, 3, 3, 3)), r.normal(size=4)
    dout = r.normal(size=(2, 4, 7, 6))
    want = conv_definition(x, w, b, (1, 1), dout)
    views = {"mixed": (x.astype(np.float32).astype(np.float64), x.astype(np.float32), w),
             "flipped": (x, np.ascontiguousarray(x[:, :, ::-1])[:, :, ::-1], w),
             "transposed": (x, np.ascontiguousarray(x.transpose(3, 2, 1, 0)).transpose(3, 2, 1, 0), w),
             "strided weights": (x, x, np.repeat(w, 2, axis=3)[:, :, :, ::2])}
    for name, (exact, laid_out_x, weights) in views.items():
        tx, tw, tb = anp.Tensor(laid_out_x, requires_grad=True), anp.Tensor(weights, requires_grad=True), anp.Tensor(b)
        out = F.conv2d(tx, tw, tb, padding=1)
        y, dx, dw, _ = conv_definition(exact, w, b, (1, 1), dout) if name == "mixed" else want
        assert out.dtype == np.float64, name
        tol = 1e-6 if name == "mixed" else 1e-12
        np.testing.assert_allclose(out.numpy(), y, rtol=tol, atol=tol, err_msg=name)
        (out * dout).sum().backward()
        np.testing.assert_allclose(tw.grad.numpy(), dw, rtol=tol, atol=tol, err_msg=name)
        np.testing.assert_allclose(tx.grad.numpy(), dx, rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("k, f, length, kh, kw, split", [
    (9, 16, 8 * 64 + 37, 3, 3, True),     # eight pieces and a tail, halves on two threads
    (9, 16, 8 * 64 + 37, 3, 3, False),    # the same on one thread
    (5, 3, 11 * 64, 2, 3, True),          # no tail
    (25, 16, 50, 3, 1, True),             # shorter than one piece: the tail alone
    (300, 16, 640, 3, 3, True),           # K·F > 2048: one long_product per offset
])
def test_shifted_long_products_equal_each_offsets_product(monkeypatch, dtype, rtol, k, f, length, kh, kw, split):
    """Every (p, q) entry is ``a`` read from column p·step + q on, times ``b``, as float64 products made one
    by one here (the oracle), whether the pieces are split with the helper thread or not."""
    from autonp.ops import _blas_threads, _kernels
    r = np.random.default_rng(k + f + length)
    step = 13
    a = r.normal(size=(k, (kh - 1) * step + kw - 1 + length + 5)).astype(dtype)[:, :-2]  # rows apart
    b = r.normal(size=(f, length)).astype(dtype).T  # a transposed view, as the convolution passes g
    monkeypatch.setattr(_blas_threads, "short_spin", lambda: split)
    halves = []
    two_threads = _blas_threads.on_two_threads
    monkeypatch.setattr(_blas_threads, "on_two_threads", lambda work, n: halves.append(n) or two_threads(work, n))
    got = _kernels.shifted_long_products(a, b, length, kh, kw, step, chunk=64)
    want = np.empty((kh, kw, k, f))
    for p in range(kh):
        for q in range(kw):
            want[p, q] = a[:, p * step + q:p * step + q + length].astype(np.float64) @ b.astype(np.float64)
    assert got.shape == want.shape and got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    assert bool(halves) == (split and length >= 8 * 64 and k * f <= 2048)
