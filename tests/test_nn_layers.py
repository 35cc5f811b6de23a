"""Convolution, pooling, dropout, normalisation, embedding and recurrent layers: forwards against
loops written here, gradients against central finite differences (first order) and finite differences
of the verified gradient (second order), and against backward passes derived by hand."""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autonp as anp
from autonp import nn
from autonp.nn import functional as F
from conftest import central_diff, python_output

rng = np.random.default_rng(0)


def conv_loops(x, w, b, stride, padding, dilation, groups):
    """The definition, one output element at a time."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dilation * (kh - 1) - 1) // stride + 1
    wo = (wd + 2 * pw - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, f, ho, wo))
    fg = f // groups
    for ni in range(n):
        for fi in range(f):
            g = fi // fg
            for i in range(ho):
                for j in range(wo):
                    patch = xp[ni, g * cg:(g + 1) * cg, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                               j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
                    out[ni, fi, i, j] = np.sum(patch * w[fi]) + (b[fi] if b is not None else 0)
    return out


CONV_CASES = [  # (stride, padding, dilation, groups, x shape, w shape)
    (1, 1, 1, 1, (2, 3, 6, 5), (4, 3, 3, 3)),
    (2, 0, 1, 1, (2, 2, 7, 7), (3, 2, 3, 2)),
    (1, 2, 2, 1, (1, 2, 6, 6), (2, 2, 3, 3)),
    (1, 1, 1, 2, (2, 4, 5, 5), (6, 2, 3, 3)),
    (1, 0, 1, 1, (3, 2, 5, 6), (3, 2, 2, 3)),        # stride 1 (one product on the padded grid): no padding,
    (1, (2, 1), 1, 1, (2, 3, 4, 7), (2, 3, 3, 1)),   # a non-square kernel, padding that differs by axis
    (1, 2, 1, 1, (1, 1, 3, 3), (2, 1, 5, 5)),        # a kernel as large as the padded input
    (1, 2, 1, 1, (2, 2, 4, 5), (3, 2, 3, 3)),        # images share margins: padding k−1, outputs fill the block
    (1, 1, 1, 1, (2, 1, 3, 4), (2, 1, 5, 3)),        # a kernel taller than image + padding: margins of its own
    (1, (0, 2), 1, 1, (2, 1, 2, 1), (2, 1, 2, 5)),   # ... or wider
]


@pytest.mark.parametrize("stride, padding, dilation, groups, xs, ws", CONV_CASES)
def test_conv2d_forward_and_gradients(stride, padding, dilation, groups, xs, ws):
    x, w, b = rng.normal(size=xs), rng.normal(size=ws), rng.normal(size=ws[0])
    expected = conv_loops(x, w, b, stride, padding, dilation, groups)
    tx, tw, tb = (anp.Tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    R = rng.normal(size=expected.shape)
    (out * R).sum().backward()
    for t, a, k in ((tx, x, 0), (tw, w, 1), (tb, b, 2)):
        def f(v, k=k):
            args = [x, w, b]
            args[k] = v
            return float(np.sum(conv_loops(*args, stride, padding, dilation, groups) * R))
        np.testing.assert_allclose(t.grad.numpy(), central_diff(f, a), rtol=1e-6, atol=1e-7)


def test_conv2d_second_order():
    x, w = rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(2, 2, 3, 3))
    anp.gradgradcheck(lambda a, k: anp.sum(F.conv2d(a, k, padding=1, stride=2) ** 2),
                      [anp.Tensor(x, requires_grad=True), anp.Tensor(w, requires_grad=True)])


@pytest.mark.parametrize("padding", [0, 1, (1, 2)])
def test_conv2d_stride_1_second_order_in_every_pair_of_arguments(padding):
    """The stride-1 path's three primitives are each other's VJPs: Hessian-vector products in x, w and b
    against finite differences of the verified gradient."""
    x, w, b = rng.normal(size=(2, 2, 5, 4)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)
    anp.gradgradcheck(lambda a, k, c: anp.sum(anp.tanh(F.conv2d(a, k, c, padding=padding)) ** 2),
                      [anp.Tensor(v, requires_grad=True) for v in (x, w, b)])


def test_conv2d_stride_1_float32_equals_the_loops_to_float32_rounding():
    """The layer sizes of the benchmarks, in float32: forward and both gradients against the loops in float64."""
    x = rng.normal(size=(4, 8, 12, 12)).astype(np.float32)
    w = rng.normal(size=(16, 8, 3, 3)).astype(np.float32)
    b = rng.normal(size=16).astype(np.float32)
    R = rng.normal(size=(4, 16, 12, 12))
    tx, tw, tb = (anp.Tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(tx, tw, tb, padding=1)
    assert out.dtype == np.float32
    expected = conv_loops(x.astype(float), w.astype(float), b.astype(float), 1, 1, 1, 1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-4)
    (out * R.astype(np.float32)).sum().backward()
    xp = np.pad(x.astype(float), ((0, 0), (0, 0), (1, 1), (1, 1)))
    dw = np.einsum("nfij,ncpqij->fcpq", R, np.lib.stride_tricks.sliding_window_view(xp, (12, 12), axis=(2, 3)))
    np.testing.assert_allclose(tw.grad.numpy(), dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(tb.grad.numpy(), R.sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 5e-5)])  # f32: sums of ~4,000 terms
def test_conv2d_weight_gradient_summed_in_chunks_equals_the_definition(dtype, rtol):
    """A first layer (1 channel in, few out) on more grid positions than one chunk of the weight gradient's
    chunked product (2048), with a remainder: ∂w against Σ dout · windows in float64."""
    x = rng.normal(size=(9, 1, 20, 21))  # the grid has 9·21·22 = 4158 positions: two chunks and 62 more
    w, dout = rng.normal(size=(4, 1, 3, 3)), rng.normal(size=(9, 4, 20, 21))
    tw = anp.Tensor(w.astype(dtype), requires_grad=True)
    (F.conv2d(x.astype(dtype), tw, padding=1) * dout.astype(dtype)).sum().backward()
    xp = np.pad(x.astype(dtype).astype(float), ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (20, 21), axis=(2, 3))
    dw = np.einsum("nfij,ncpqij->fcpq", dout.astype(dtype).astype(float), windows)
    np.testing.assert_allclose(tw.grad.numpy(), dw, rtol=rtol, atol=rtol)


def test_conv2d_matches_the_hand_derived_backward():
    """dW = Σ dout ⊗ windows, dx = col2im(Wᵀ dout), db = Σ dout: written out with loops here."""
    x, w, b = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    dout = rng.normal(size=(2, 4, 5, 4))
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(5):
        for j in range(4):
            patch = xp[:, :, i:i + 3, j:j + 3]
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], patch)
            dxp[:, :, i:i + 3, j:j + 3] += np.einsum("nf,fchw->nchw", dout[:, :, i, j], w)
    tx, tw, tb = (anp.Tensor(a, requires_grad=True) for a in (x, w, b))
    (F.conv2d(tx, tw, tb, padding=1) * dout).sum().backward()
    report = anp.compare_gradients({"x": dxp[:, :, 1:-1, 1:-1], "w": dw, "b": dout.sum(axis=(0, 2, 3))},
                                   {"x": tx, "w": tw, "b": tb}, rtol=1e-12)
    assert report.passed, report


def conv_definition(x, w, b, padding, dout):
    """(y, dx, dw, db) of a stride-1 convolution from its definition in float64, a kernel offset at a time:
    y = Σ_{p,q} w[:,:,p,q] · x_pad shifted by (p, q) (+ b); dw = Σ dout · shifted x_pad; dx_pad = Σ wᵀ dout
    placed at (p, q)."""
    (ph, pw), (kh, kw) = padding, w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    y = np.zeros((x.shape[0], w.shape[0], ho, wo)) + (0 if b is None else b[:, None, None])
    dw, dxp = np.zeros_like(w), np.zeros_like(xp)
    for p in range(kh):
        for q in range(kw):
            window = xp[:, :, p:p + ho, q:q + wo]
            y += np.einsum("fc,ncij->nfij", w[:, :, p, q], window)
            dw[:, :, p, q] = np.einsum("nfij,ncij->fc", dout, window)
            dxp[:, :, p:p + ho, q:q + wo] += np.einsum("fc,nfij->ncij", w[:, :, p, q], dout)
    return y, dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("wanted", ["xwb", "xb", "wb", "xw", "b", "w", "x"])
@pytest.mark.parametrize("transposed", [False, True])
def test_conv2d_gradients_of_any_subset_of_arguments_equal_the_definition(wanted, transposed):
    """The backward shares work between the gradients (the output gradient placed on the grid once, the bias
    gradient a column of the weight gradient's product) and falls back when a part is not asked for: every
    subset, with the output gradient C-ordered or a transposed view (as it arrives through a transpose)."""
    x, w, b = rng.normal(size=(3, 2, 6, 5)), rng.normal(size=(4, 2, 3, 3)), rng.normal(size=4)
    dout = rng.normal(size=(3, 4, 6, 5))
    tensors = {n: anp.Tensor(a, requires_grad=n in wanted) for n, a in zip("xwb", (x, w, b))}
    out = F.conv2d(tensors["x"], tensors["w"], tensors["b"], padding=1)
    if transposed:
        (anp.transpose(out, (1, 0, 2, 3)) * np.ascontiguousarray(dout.transpose(1, 0, 2, 3))).sum().backward()
    else:
        (out * dout).sum().backward()
    for n, want in zip("xwb", conv_definition(x, w, b, (1, 1), dout)[1:]):
        if n in wanted:
            np.testing.assert_allclose(tensors[n].grad.numpy(), want, rtol=1e-12, atol=1e-12, err_msg=n)
        else:
            assert tensors[n].grad is None


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_conv2d_fuzzed_against_its_definition(data):
    """Random shapes, kernels and paddings (on both sides of the grid's shared-margin condition), with or
    without a bias, any subset of arguments requiring grad, the output gradient C-ordered or a transposed
    view, NumPy's BLAS adding into the grid or NumPy's products and additions: the output and each
    gradient against the definition."""
    from autonp.ops import _blas
    blas_was = _blas.ENABLED
    _blas.ENABLED = data.draw(st.booleans())
    try:
        conv2d_against_its_definition(data)
    finally:
        _blas.ENABLED = blas_was


def conv2d_against_its_definition(data):
    n, c, f = (data.draw(st.integers(1, 3)) for _ in range(3))
    kh, kw = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    ph, pw = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))
    h = data.draw(st.integers(max(1, kh - 2 * ph), max(1, kh - 2 * ph) + 3))  # near the smallest that fits:
    w_ = data.draw(st.integers(max(1, kw - 2 * pw), max(1, kw - 2 * pw) + 3))  # where the grid's cases change
    with_bias = data.draw(st.booleans())
    wanted = data.draw(st.sets(st.sampled_from("xwb" if with_bias else "xw"), min_size=1))
    transposed = data.draw(st.booleans())
    r = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, w, b = r.normal(size=(n, c, h, w_)), r.normal(size=(f, c, kh, kw)), r.normal(size=f) if with_bias else None
    y, dx, dw, db = conv_definition(x, w, b, (ph, pw), dout := r.normal(size=(n, f, h + 2 * ph - kh + 1,
                                                                               w_ + 2 * pw - kw + 1)))
    tensors = {k: anp.Tensor(v, requires_grad=k in wanted) for k, v in zip("xwb", (x, w, b)) if v is not None}
    out = F.conv2d(tensors["x"], tensors["w"], tensors.get("b"), padding=(ph, pw))
    np.testing.assert_allclose(out.numpy(), y, rtol=1e-12, atol=1e-12)
    if transposed:  # the gradient reaches conv2d as a transposed view
        (anp.transpose(out, (1, 0, 2, 3)) * np.ascontiguousarray(dout.transpose(1, 0, 2, 3))).sum().backward()
    else:
        (out * dout).sum().backward()
    for k, want in zip("xwb", (dx, dw, db)):
        if k in tensors:
            got = tensors[k].grad
            if k in wanted:
                np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12, err_msg=k)
            else:
                assert got is None


@pytest.mark.parametrize("pool, reduce", [(F.max_pool2d, np.max), (F.avg_pool2d, np.mean)])
@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), (2, 1, 0)])
def test_pooling_forward_and_gradients(pool, reduce, kernel, stride, padding):
    x = rng.permutation(np.arange(2 * 3 * 6 * 5, dtype=float)).reshape(2, 3, 6, 5) / 10  # no ties
    s = kernel if stride is None else stride
    fill = -np.inf if pool is F.max_pool2d else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2), constant_values=fill)

    def loops(a):
        ap = np.pad(a, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2), constant_values=fill)
        ho, wo = (ap.shape[2] - kernel) // s + 1, (ap.shape[3] - kernel) // s + 1
        return np.array([[[[reduce(ap[n, c, i * s:i * s + kernel, j * s:j * s + kernel]) for j in range(wo)]
                           for i in range(ho)] for c in range(3)] for n in range(2)])
    tx = anp.Tensor(x, requires_grad=True)
    out = pool(tx, kernel, stride, padding)
    np.testing.assert_allclose(out.numpy(), loops(x), rtol=1e-12)
    R = rng.normal(size=out.shape)
    (out * R).sum().backward()
    np.testing.assert_allclose(tx.grad.numpy(), central_diff(lambda a: float(np.sum(loops(a) * R)), x),
                               rtol=1e-6, atol=1e-7)
    assert xp is not None


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("size, kernel, stride, padding", [((5, 5), 7, 1, 0), ((2, 1), (2, 3), 1, 0),
                                                          ((1, 6), (2, 3), (2, 1), 0), ((4, 1), 3, (2, 1), (1, 0))])
def test_pooling_refuses_a_kernel_larger_than_the_padded_input(pool, size, kernel, stride, padding):
    """As conv2d and PyTorch: no window fits, so there is no output. max_pool2d gave an empty result for some of
    these and NumPy's broadcasting error for others (its slices' negative ends counted from the far edge)."""
    x = anp.Tensor(rng.normal(size=(1, 2) + size), requires_grad=True)
    with pytest.raises(ValueError, match="kernel .*does not fit an input of spatial size") as info:
        pool(x, kernel, stride, padding)
    assert "broadcast" not in str(info.value)


def test_max_pool_ties_share_and_second_order():
    x = anp.Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((1, 1, 2, 2), 0.25))
    y = anp.Tensor(rng.permutation(np.arange(16.0)).reshape(1, 1, 4, 4) + 1, requires_grad=True)
    anp.gradgradcheck(lambda a: anp.sum(F.max_pool2d(a * a, 2) ** 2), [y])


@pytest.mark.parametrize("path", ["compiled", "NumPy"])
@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 2), (2, 1)])
def test_a_nan_wins_its_max_pool_window_and_takes_its_gradient(path, kernel, stride, monkeypatch):
    """A NaN is its window's maximum (NumPy's maximum); the window's gradient goes to its NaNs, shared as ties are
    (PyTorch's rule). Before, the compiled kernel raised ZeroDivisionError (no element equal to a NaN maximum)
    and the NumPy path gave the whole window NaN. The rule is written here, window by window; second order
    (create_graph) follows it too."""
    _numba = numba_or_skip()
    monkeypatch.setattr(_numba, "ENABLED", path == "compiled")
    x = rng.normal(size=(2, 3, 6, 6))
    x[0, 1, 0, 0] = x[1, 2, 3, 4] = x[1, 2, 3, 5] = x[0, 0, 5, 5] = np.nan
    g = rng.normal(size=(2, 3, (6 - kernel) // stride + 1, (6 - kernel) // stride + 1))
    want = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*g.shape):
        win = x[n, c, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
        top = np.nan if np.isnan(win).any() else win.max()
        hit = np.isnan(win) if np.isnan(top) else win == top
        want[n, c, i * stride:i * stride + kernel, j * stride:j * stride + kernel] += g[n, c, i, j] * hit / hit.sum()
    for create_graph in (False, True):
        t = anp.Tensor(x, requires_grad=True)
        y = F.max_pool2d(t, kernel, stride)
        assert np.isnan(y.numpy()).sum() == sum(np.isnan(x[n, c, i * stride:i * stride + kernel,
                                                            j * stride:j * stride + kernel]).any()
                                                for n, c, i, j in np.ndindex(*g.shape)) > 0
        (got,) = anp.gradients([y], [t], grad_outputs=[g], create_graph=create_graph)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-14, atol=0)
        assert not np.isnan(np.asarray(got)).any()


def test_dropout_train_eval_and_seed():
    x = anp.Tensor(np.ones((200, 50)), requires_grad=True)
    d = nn.Dropout(0.3, seed=7)
    y = d(x)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7)
    np.testing.assert_array_equal(nn.Dropout(0.3, seed=7)(x).numpy(), y.numpy())  # seeded: the same masks
    d.eval()
    assert d(x) is x


def batchnorm_backward(dout, x, gamma, axes, eps=1e-5):
    """dx = γ/(m σ) · (m·dy − Σdy − x̂·Σ(dy·x̂)), the sums over the normalised axes."""
    m = int(np.prod([x.shape[a] for a in axes]))
    shape = [1] * x.ndim
    shape[1] = -1
    sigma = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - x.mean(axis=axes, keepdims=True)) / sigma
    dsum = dout.sum(axis=axes, keepdims=True)
    dx = gamma.reshape(shape) / (m * sigma) * (m * dout - dsum - xhat * (dout * xhat).sum(axis=axes, keepdims=True))
    return dx, (dout * xhat).sum(axis=axes), dout.sum(axis=axes)


@pytest.mark.parametrize("layer, shape, axes", [(nn.BatchNorm1d, (8, 5), (0,)), (nn.BatchNorm2d, (4, 3, 5, 4),
                                                                                     (0, 2, 3))])
def test_batchnorm_train_and_eval(layer, shape, axes):
    x = rng.normal(size=shape) * 3 + 1
    bn = layer(shape[1])
    bn.weight.data = rng.normal(size=shape[1])
    tx = anp.Tensor(x, requires_grad=True)
    out = bn(tx)
    dout = rng.normal(size=shape)
    (out * dout).sum().backward()
    dx, dgamma, dbeta = batchnorm_backward(dout, x, bn.weight.numpy(), axes)
    report = anp.compare_gradients({"x": dx, "gamma": dgamma, "beta": dbeta},
                                   {"x": tx, "gamma": bn.weight, "beta": bn.bias}, rtol=1e-10)
    assert report.passed, report
    m = int(np.prod([shape[a] for a in axes]))
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=axes) * m / (m - 1), rtol=1e-12)
    bn.eval()
    bshape = [1] * len(shape)
    bshape[1] = -1
    expected = (x - bn.running_mean.reshape(bshape)) / np.sqrt(bn.running_var.reshape(bshape) + 1e-5) \
        * bn.weight.numpy().reshape(bshape) + bn.bias.numpy().reshape(bshape)
    np.testing.assert_allclose(bn(x).numpy(), expected, rtol=1e-12)
    anp.gradcheck(lambda a: anp.sum(bn(a) ** 3), [anp.Tensor(x, requires_grad=True)])


def test_batchnorm_running_statistics_hold_no_graph_and_memory_is_flat():
    import tracemalloc
    bn = nn.BatchNorm1d(4)
    x = anp.Tensor(rng.normal(size=(16, 4)), requires_grad=True)
    assert isinstance(bn.running_mean, np.ndarray) and not isinstance(bn.running_mean, anp.Tensor)
    for _ in range(50):
        anp.sum(bn(x) ** 2).backward()
    tracemalloc.start()
    for _ in range(100):
        anp.sum(bn(x) ** 2).backward()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(900):
        anp.sum(bn(x) ** 2).backward()
    last, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert last - first < 20_000, f"grew by {last - first} bytes over 900 steps"


def test_layernorm_gradients_first_and_second_order():
    ln = nn.LayerNorm(5)
    ln.weight.data = rng.normal(size=5)
    x = rng.normal(size=(3, 5))
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * ln.weight.numpy()
    np.testing.assert_allclose(ln(x).numpy(), expected, rtol=1e-12)
    anp.gradcheck(lambda a: anp.sum(ln(a) ** 3), [anp.Tensor(x, requires_grad=True)])
    anp.gradgradcheck(lambda a: anp.sum(ln(a) ** 3), [anp.Tensor(x, requires_grad=True)])


def test_embedding_accumulates_repeated_rows():
    emb = nn.Embedding(5, 3, rng=np.random.default_rng(1))
    out = emb(np.array([[1, 3], [1, 1]]))
    np.testing.assert_array_equal(out.numpy()[0, 0], emb.weight.numpy()[1])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [0, 3, 0, 1, 0])


def test_rnn_cell_matches_hand_derived_backward_and_lstm_finite_differences():
    cell = nn.RNNCell(3, 4, rng=np.random.default_rng(2))
    x, h = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    tx, th = anp.Tensor(x, requires_grad=True), anp.Tensor(h, requires_grad=True)
    dout = rng.normal(size=(2, 4))
    (cell(tx, th) * dout).sum().backward()
    wi, wh = cell.weight_ih.numpy(), cell.weight_hh.numpy()
    hn = np.tanh(x @ wi + h @ wh + cell.bias.numpy())
    dz = dout * (1 - hn ** 2)
    report = anp.compare_gradients({"x": dz @ wi.T, "h": dz @ wh.T, "wi": x.T @ dz, "wh": h.T @ dz, "b": dz.sum(0)},
                                   {"x": tx, "h": th, "wi": cell.weight_ih, "wh": cell.weight_hh, "b": cell.bias},
                                   rtol=1e-12)
    assert report.passed, report
    lstm = nn.LSTMCell(3, 2, rng=np.random.default_rng(3))
    c = rng.normal(size=(2, 2))

    def f(a, hh):
        hn, cn = lstm(a, (hh, c))
        return anp.sum(hn * hn) + anp.sum(cn)
    anp.gradcheck(f, [anp.Tensor(x, requires_grad=True), anp.Tensor(rng.normal(size=(2, 2)), requires_grad=True)])
    anp.gradgradcheck(f, [anp.Tensor(x, requires_grad=True), anp.Tensor(rng.normal(size=(2, 2)), requires_grad=True)])


def test_adamw_schedules_and_clipping_follow_their_formulas():
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = anp.optim.AdamW([p], lr=0.1, weight_decay=0.5)
    ref, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for t in range(1, 4):
        g = 2 * ref
        p.grad = 2 * p.numpy()
        ref = ref - 0.1 * 0.5 * ref
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        ref = ref - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)  # Algorithm 1's m̂, v̂
        opt.step()
    np.testing.assert_allclose(p.numpy(), ref, rtol=1e-12)
    sched = anp.optim.CosineLR(opt, total=4, min_lr=0.0)
    assert [round(sched.step(), 12) for _ in range(5)] == [round(0.1 * (1 + np.cos(np.pi * k / 4)) / 2, 12)
                                                           for k in (1, 2, 3, 4, 4)]
    step = anp.optim.StepLR(anp.optim.SGD([p], lr=1.0), step_size=2, gamma=0.5)
    assert [step.step() for _ in range(4)] == [1.0, 0.5, 0.5, 0.25]
    q = nn.Parameter(np.zeros(2))
    p.grad, q.grad = np.array([3.0, 0.0]), np.array([0.0, 4.0])
    assert anp.optim.clip_grad_norm([p, q], 1.0) == 5.0
    np.testing.assert_allclose(np.concatenate([p.grad.numpy(), q.grad.numpy()]), [0.6, 0, 0, 0.8], rtol=1e-9)


def test_conv_layers_state_dict_and_train_eval_modes():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=np.random.default_rng(0)), nn.BatchNorm2d(2), nn.ReLU(),
                        nn.Dropout(0.5, seed=0), nn.Flatten())
    state = net.state_dict()
    assert set(state) == {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                          "layers.1.running_mean", "layers.1.running_var", "layers.3.rng"}
    x = rng.normal(size=(4, 1, 5, 5))
    net.eval()
    a, b = net(x).numpy(), net(x).numpy()
    np.testing.assert_array_equal(a, b)  # eval: no dropout, running statistics
    net.train()
    assert not np.array_equal(net(x).numpy(), a)


def test_layernorm_and_max_pool_match_hand_derived_backward_passes():
    x, gamma = rng.normal(size=(4, 6)), rng.normal(size=6)
    ln = nn.LayerNorm(6)
    ln.weight.data = gamma
    tx = anp.Tensor(x, requires_grad=True)
    dout = rng.normal(size=(4, 6))
    (ln(tx) * dout).sum().backward()
    sigma = np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    xhat = (x - x.mean(-1, keepdims=True)) / sigma
    dxhat = dout * gamma
    dx = (6 * dxhat - dxhat.sum(-1, keepdims=True) - xhat * (dxhat * xhat).sum(-1, keepdims=True)) / (6 * sigma)
    report = anp.compare_gradients({"x": dx, "gamma": (dout * xhat).sum(0), "beta": dout.sum(0)},
                                   {"x": tx, "gamma": ln.weight, "beta": ln.bias}, rtol=1e-10)
    assert report.passed, report
    # max pooling: each window's gradient goes to its argmax
    x = rng.permutation(np.arange(2 * 2 * 4 * 4, dtype=float)).reshape(2, 2, 4, 4)
    tx = anp.Tensor(x, requires_grad=True)
    dout = rng.normal(size=(2, 2, 2, 2))
    (F.max_pool2d(tx, 2) * dout).sum().backward()
    expected = np.zeros_like(x)
    for n in range(2):
        for c in range(2):
            for i in range(2):
                for j in range(2):
                    win = x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                    p, q = np.unravel_index(np.argmax(win), (2, 2))
                    expected[n, c, 2 * i + p, 2 * j + q] = dout[n, c, i, j]
    np.testing.assert_array_equal(tx.grad.numpy(), expected)


@pytest.mark.parametrize("layer_fn, shape", [
    (lambda a: F.avg_pool2d(a, 2, 1), (2, 2, 3, 3)),
    (lambda a: F.batch_norm(a, None, None, training=True), (2, 2, 3, 3)),
    (lambda a: F.dropout(a, 0.5, rng=np.random.default_rng(0)), (2, 2, 3, 3)),
    (lambda a: F.embedding(np.array([[0, 2], [2, 1]]), a), (4, 3)),
])
def test_second_order_of_the_remaining_layers(layer_fn, shape):
    x = anp.Tensor(rng.normal(size=shape), requires_grad=True)
    anp.gradgradcheck(lambda a: anp.sum(layer_fn(a) ** 3), [x])


def test_lstm_cell_and_avg_pool_match_hand_derived_backward_passes():
    lstm = nn.LSTMCell(3, 2, rng=np.random.default_rng(4))
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    tx, th, tc = (anp.Tensor(a, requires_grad=True) for a in (x, h, c))
    dh, dc = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    hn, cn = lstm(tx, (th, tc))
    (anp.sum(hn * dh) + anp.sum(cn * dc)).backward()
    wi, wh = lstm.weight_ih.numpy(), lstm.weight_hh.numpy()
    z = x @ wi + h @ wh + lstm.bias.numpy()
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = sig(z[:, :2]), sig(z[:, 2:4]), np.tanh(z[:, 4:6]), sig(z[:, 6:])
    c_next = f * c + i * g
    do = dh * np.tanh(c_next)
    dcn = dc + dh * o * (1 - np.tanh(c_next) ** 2)
    dz = np.concatenate([dcn * g * i * (1 - i), dcn * c * f * (1 - f), dcn * i * (1 - g ** 2), do * o * (1 - o)], 1)
    report = anp.compare_gradients(
        {"x": dz @ wi.T, "h": dz @ wh.T, "c": dcn * f, "wi": x.T @ dz, "wh": h.T @ dz, "b": dz.sum(0)},
        {"x": tx, "h": th, "c": tc, "wi": lstm.weight_ih, "wh": lstm.weight_hh, "b": lstm.bias}, rtol=1e-12)
    assert report.passed, report
    xa = anp.Tensor(rng.normal(size=(1, 2, 4, 4)), requires_grad=True)
    dout = rng.normal(size=(1, 2, 2, 2))
    (F.avg_pool2d(xa, 2) * dout).sum().backward()
    np.testing.assert_allclose(xa.grad.numpy(), np.repeat(np.repeat(dout, 2, axis=2), 2, axis=3) / 4, rtol=1e-15)


def numba_or_skip():
    from autonp.ops import _numba
    if not _numba.ENABLED:
        if os.environ.get("AUTONP_REQUIRE_TOOLS") == "1":
            pytest.fail("numba is not installed: make test runs both paths (the dev extra installs autonp[fast])")
        pytest.skip("numba is not installed")
    return _numba


def test_the_numba_max_pool_backward_equals_the_numpy_path_bit_for_bit():
    """autonp[fast]'s kernel against the NumPy code it replaces, ties included (each shares the gradient)."""
    from autonp.ops.nn import _max_pool_vjp
    _numba = numba_or_skip()
    for dtype in (np.float32, np.float64):
        x = rng.integers(0, 3, size=(3, 4, 8, 6)).astype(dtype)  # small integers: many ties
        ans = x.reshape(3, 4, 4, 2, 3, 2).max(axis=(3, 5))
        g = rng.normal(size=ans.shape).astype(dtype)
        fast = _numba.max_pool_backward(x, ans, g, (2, 2), (2, 2))
        transposed_g = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)  # as conv2d's dx arrives
        assert np.array_equal(_numba.max_pool_backward(x, ans, transposed_g, (2, 2), (2, 2)), fast)
        _numba.ENABLED = False
        try:
            slow = _max_pool_vjp(g, ans, x, (2, 2), (2, 2))
        finally:
            _numba.ENABLED = True
        assert fast.dtype == dtype and np.array_equal(fast, slow)
        windows = x.reshape(3, 4, 4, 2, 3, 2)
        hits = windows == ans[:, :, :, None, :, None]
        expected = (hits * (g / hits.sum(axis=(3, 5)))[:, :, :, None, :, None]).reshape(x.shape)
        np.testing.assert_allclose(fast, expected, rtol=1e-6)  # the rule, written here


def conv_by_windows(x, w, b, pad):
    """The 3×3 correlation, its input, weight and bias gradients for an output gradient g, in float64
    from sliding windows (the definition, nothing of autonp's)."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # (N, C, Ho, Wo, 3, 3)
    y = np.einsum("ncijpq,fcpq->nfij", win, w.astype(np.float64)) + (0 if b is None else b[None, :, None, None])

    def grads(g):
        g = g.astype(np.float64)
        dxp = np.zeros_like(xp)
        for p in range(3):
            for q in range(3):
                dxp[:, :, p:p + g.shape[2], q:q + g.shape[3]] += np.einsum("nfij,fc->ncij", g, w[:, :, p, q])
        return (dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]], np.einsum("nfij,ncijpq->fcpq", g, win),
                g.sum(axis=(0, 2, 3)))
    return y, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_convolution_equals_the_blas_path_and_the_definition(dtype, monkeypatch):
    """autonp[fast]'s 3×3 correlation (the forward, and the input gradient as the flipped kernel's) and the
    weight gradient from the saved grid, against the BLAS path and against windows in float64: paddings 0-2,
    odd sizes, channel counts that are not multiples of four, one image and many, with and without bias,
    both ways to the weight gradient (from the grid, from rows) and a grid long enough for its products to be
    split with the helper thread (``shifted_long_products``)."""
    _numba = numba_or_skip()
    calls = []
    kernel = _numba.correlate_3x3
    monkeypatch.setattr(_numba, "correlate_3x3", lambda *a: calls.append(a[-1]) or kernel(*a))
    tol = 2e-5 if dtype == np.float32 else 1e-13
    for (n, c, h, wd), f, pad, with_bias in [((1, 1, 3, 3), 1, 0, True), ((3, 5, 7, 6), 6, 1, False),
                                               ((2, 4, 5, 9), 5, 2, True), ((5, 2, 4, 4), 4, 1, True),
                                               ((4, 8, 10, 12), 16, 1, True), ((2, 7, 3, 8), 5, 0, False),
                                               ((3, 4, 6, 5), 7, 1, True), ((2, 16, 6, 7), 20, 1, True),
                                               ((2, 32, 5, 5), 64, 1, True),  # (C + 1)·F > 2048: from rows
                                               ((24, 8, 27, 27), 16, 1, True)]:  # 9 pieces of 2048 positions
        x = rng.normal(size=(n, c, h, wd)).astype(dtype)
        w = rng.normal(size=(f, c, 3, 3)).astype(dtype)
        b = rng.normal(size=f).astype(dtype) if with_bias else None
        g = rng.normal(size=(n, f, h + 2 * pad - 2, wd + 2 * pad - 2)).astype(dtype)
        expected_y, expected_grads = conv_by_windows(x, w, b, pad)
        got = {}
        for path in ("compiled", "BLAS"):
            _numba.ENABLED = path == "compiled"
            try:
                calls.clear()
                tx, tw = anp.Tensor(x, requires_grad=True), anp.Tensor(w, requires_grad=True)
                tb = None if b is None else anp.Tensor(b, requires_grad=True)
                y = F.conv2d(tx, tw, tb, padding=pad)
                (y * g).sum().backward()
                got[path] = [y.numpy(), tx.grad.numpy(), tw.grad.numpy()] + ([] if b is None else [tb.grad.numpy()])
                compiled = (f >= 4) + (c >= 4)  # the forward, the input gradient: 4 output channels or more
                assert len(calls) == (compiled if path == "compiled" else 0), (path, calls)
            finally:
                _numba.ENABLED = True
        expected = [expected_y, *expected_grads(g)][:len(got["BLAS"])]
        for fast, slow, want in zip(got["compiled"], got["BLAS"], expected):
            assert fast.dtype == dtype and fast.shape == want.shape
            scale = np.abs(want).max()
            assert np.abs(fast - want).max() <= tol * scale and np.abs(fast - slow).max() <= tol * scale


def assert_equal_where_not_finite(got, want, tol):
    """NaN where ``want`` has NaN, the same infinities, and the finite entries within tol of the largest."""
    got = np.asarray(got)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    finite = np.isfinite(want)
    assert np.isfinite(got[finite]).all()
    assert np.abs(got[finite] - want[finite]).max(initial=0) <= tol * max(1.0, np.abs(want[finite]).max(initial=0))


NON_FINITE_CASES = [  # (what is changed, index, value, padding): each would meet a zero the definition does not have
    ("x", (1, 0, 0, 0), np.inf, 1), ("x", (0, 2, 5, 6), -np.inf, 1), ("x", (1, 1, 3, 0), np.nan, 1),
    ("x", (0, 0, 5, 2), np.inf, 0), ("x", (1, 3, 0, 6), np.inf, 2),
    ("w", (2, 1, 2, 2), np.inf, 1), ("w", (0, 0, 0, 1), -np.inf, 0), ("w", (4, 3, 1, 0), np.nan, 2)]


@pytest.mark.parametrize("path", ["compiled", "BLAS"])
@pytest.mark.parametrize("changed, index, value, pad", NON_FINITE_CASES)
def test_an_infinite_value_meets_only_the_terms_of_the_definition(path, changed, index, value, pad, monkeypatch):
    """An infinite input at an image's edge (the weight gradient's grid reaches it from positions past the
    valid edge, where the output gradient is zero) and an infinite weight (it meets the output gradient's zero
    margins in the input gradient): the gradients equal the definition in float64 — the same infinities and
    NaNs, and no NaN from 0·inf where the definition has no term. Before, 40–80 weight-gradient entries were
    NaN for one infinite pixel."""
    _numba = numba_or_skip()
    monkeypatch.setattr(_numba, "ENABLED", path == "compiled")
    x = rng.normal(size=(2, 4, 6, 7)).astype(np.float32)
    w = rng.normal(size=(5, 4, 3, 3)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    (x if changed == "x" else w)[index] = value
    expected_y, expected_grads = conv_by_windows(x, w, b, pad)
    g = rng.normal(size=expected_y.shape).astype(np.float32)
    tx, tw, tb = (anp.Tensor(a, requires_grad=True) for a in (x, w, b))
    with np.errstate(invalid="ignore"):  # the definition's own 0·inf (the padding) and inf − inf
        y = F.conv2d(tx, tw, tb, padding=pad)
        y.backward(g)
        want = [expected_y, *expected_grads(g)]
    for got, expected in zip([y, tx.grad, tw.grad, tb.grad], want):
        assert_equal_where_not_finite(got.numpy(), expected, 2e-5)
    assert not np.isfinite(tw.grad.numpy() if changed == "x" else tx.grad.numpy()).all()  # the case reaches them


def test_the_recheck_of_a_weight_gradient_is_a_guard_in_a_compiled_replay():
    """anp.compile of the gradients: finite, then an infinite pixel at the edge, then finite again; each call
    equals the definition (the finiteness checks are guards: the replay traces again when they change)."""
    w = rng.normal(size=(3, 2, 3, 3))
    g = rng.normal(size=(2, 3, 5, 5))

    def grads(x, w):
        (F.conv2d(x, w, padding=1) * g).sum().backward()
        return x.grad, w.grad

    compiled = anp.compile(grads)
    for k, (where, value) in enumerate([(None, 0), ((1, 1, 4, 0), np.inf), (None, 0), ((0, 0, 2, 4), -np.inf)]):
        x = rng.normal(size=(2, 2, 5, 5))
        ww = w.copy()
        if where is not None:
            x[where] = value
        if k == 2:
            ww[1, 1, 2, 0] = np.inf
        _, expected_grads = conv_by_windows(x, ww, None, 1)
        with np.errstate(invalid="ignore"):
            got = compiled(anp.Tensor(x, requires_grad=True), anp.Tensor(ww, requires_grad=True))
            want = expected_grads(g)[:2]
        for a, b in zip(got, want):
            assert_equal_where_not_finite(a.numpy(), b, 1e-12)
    assert compiled.traces >= 3


@pytest.mark.parametrize("path", ["compiled", "BLAS"])
def test_a_padding_wider_than_the_kernel_reach(path, monkeypatch):
    """Padding 3 around a 3×3 kernel: outputs wider than the input, and an input gradient whose margins on its
    own grid would be negative (kh − 1 − p), so the compiled correlation leaves it to the BLAS path; both
    against windows in float64."""
    _numba = numba_or_skip()
    monkeypatch.setattr(_numba, "ENABLED", path == "compiled")
    x = rng.normal(size=(2, 4, 5, 6)).astype(np.float32)
    w = rng.normal(size=(6, 4, 3, 3)).astype(np.float32)
    b = rng.normal(size=6).astype(np.float32)
    expected_y, expected_grads = conv_by_windows(x, w, b, 3)
    g = rng.normal(size=expected_y.shape).astype(np.float32)
    tx, tw, tb = (anp.Tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(tx, tw, tb, padding=3)
    (y * g).sum().backward()
    for got, want in zip([y, tx.grad, tw.grad, tb.grad], [expected_y, *expected_grads(g)]):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=2e-5 * np.abs(want).max())


def test_the_compiled_convolution_gives_each_thread_its_own_answer():
    """Threads that convolve at once share the one helper thread (their halves of the correlation and of the
    weight gradient's products queue there) and keep their own grids: each gets, every time, what it got
    alone."""
    import threading
    numba_or_skip()

    def layer(seed):
        r = np.random.default_rng(seed)
        x = anp.Tensor(r.normal(size=(20, 8, 28, 28)).astype(np.float32), requires_grad=True)  # 8 pieces: split
        w = anp.Tensor(r.normal(size=(12, 8, 3, 3)).astype(np.float32), requires_grad=True)
        y = F.conv2d(x, w, padding=1)
        (y * y).sum().backward()
        return y.numpy(), x.grad.numpy(), w.grad.numpy()

    alone = [layer(seed) for seed in range(4)]
    failures = []

    def worker(seed):
        for _ in range(10):
            if not all(np.array_equal(a, b) for a, b in zip(layer(seed), alone[seed])):
                failures.append(seed)
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def _halves_in_a_forked_child(queue):
    from autonp.ops import _blas_threads
    queue.put(_blas_threads.on_two_threads(lambda i0, i1: list(range(i0, i1)), 6))


def test_a_forked_child_gets_a_helper_thread_of_its_own(monkeypatch):
    """The helper thread that takes half of a convolution's work does not come along into a forked child
    (a DataLoader or a Dask worker), but its executor would, counting it as idle: the child's first
    convolution waited forever. The child now starts its own helper and gets both halves."""
    import multiprocessing

    from autonp.ops import _blas_threads
    monkeypatch.setattr(_blas_threads, "CPUS", 2)
    assert _blas_threads.on_two_threads(lambda i0, i1: (i0, i1), 4) == [(0, 2), (2, 4)]  # the parent's helper runs
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_halves_in_a_forked_child, args=(queue,))
    child.start()
    child.join(30)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child waited for its parent's helper thread")
    assert child.exitcode == 0 and queue.get(timeout=5) == [[0, 1, 2], [3, 4, 5]]


def test_the_compiled_convolution_stays_off_while_openblas_threads_spin():
    """With OPENBLAS_THREAD_TIMEOUT set by the user to OpenBLAS's default, autonp leaves it, and the BLAS path
    runs (the compiled kernel's helper would share a core with OpenBLAS's spinning worker); unset, autonp
    sets a short spin, and OpenBLAS's idle threads use (almost) no CPU time after a product."""
    numba_or_skip()
    code = ("import time, numpy as np, autonp\n"
            "from autonp.ops import _blas_threads, _numba\n"
            "a = np.ones((512, 512), np.float32)\n"
            "a @ a\n"
            "start = time.process_time()\n"
            "time.sleep(0.4)\n"
            "print(_blas_threads.spin(), _numba.correlates(a, a, kernel=(3, 3), channels=4),\n"
            "      time.process_time() - start < 0.03)\n")
    assert python_output(code, OPENBLAS_THREAD_TIMEOUT="28").split()[:2] == ["28", "False"]
    assert python_output(code, OPENBLAS_THREAD_TIMEOUT=None) == "20 True True"
    assert python_output(code, OPENBLAS_THREAD_TIMEOUT=None, AUTONP_NUMBA="0").split()[:2] == ["28", "False"]


def same_bits(a, b) -> bool:
    """Equal values, NaNs where NaNs are, and the same sign on zeros."""
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_numba_max_pool_and_relu_backward_equal_numpy_bit_for_bit(dtype):
    """autonp[fast]'s one-pass 2×2 max-pool and ReLU backward against NumPy's own calls: ties, NaNs, ±0 and
    ±inf included (a NaN in a window wins, as np.maximum keeps it; a NaN or −0 in g stays, as g · mask keeps it)."""
    _numba = numba_or_skip()
    x = rng.integers(-2, 3, size=(4, 3, 16, 18)).astype(dtype) / 2  # many ties
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, 40, replace=False)
    flat[picks[:10]], flat[picks[10:20]], flat[picks[20:30]], flat[picks[30:]] = np.nan, -0.0, np.inf, -np.inf
    windows = x.reshape(4, 3, 8, 2, 9, 2)
    expected = np.maximum(np.maximum(np.maximum(windows[:, :, :, 0, :, 0], windows[:, :, :, 0, :, 1]),
                                     windows[:, :, :, 1, :, 0]), windows[:, :, :, 1, :, 1])
    assert same_bits(_numba.max_pool_2x2(x, (2, 2), (2, 2)), expected)
    flipped = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)  # the same values, another layout
    assert same_bits(_numba.max_pool_2x2(flipped, (2, 2), (2, 2)), expected)
    assert _numba.max_pool_2x2(x, (2, 2), (1, 1)) is None and _numba.max_pool_2x2(x[:, :, :15], (2, 2), (2, 2)) is None
    x = rng.normal(size=(64, 32, 32)).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    x.reshape(-1)[:50], g.reshape(-1)[50:100], g.reshape(-1)[100:150], x.reshape(-1)[100:125] = 0.0, np.nan, -0.0, -1
    assert same_bits(_numba.relu_backward(g, x), g * (x > 0))
    tx = anp.Tensor(x, requires_grad=True)
    (anp.relu(tx) * g).sum().backward()  # the op's VJP takes the kernel
    assert same_bits(tx.grad.numpy(), g * (x > 0))
    tx = anp.Tensor(x.reshape(256, 256), requires_grad=True)
    (anp.relu(tx).T * g.reshape(256, 256)).sum().backward()  # the VJP gets a transposed gradient: not the kernel's
    assert same_bits(tx.grad.numpy(), g.reshape(256, 256).T * (x.reshape(256, 256) > 0))  # flat read (NaN before)


def test_the_numpy_path_runs_when_numba_is_switched_off():
    """AUTONP_NUMBA=0 (and the default install, which has no numba) take the NumPy path, with the same gradient."""
    code = ("import numpy as np, autonp as anp\n"
            "from autonp.ops import _numba\n"
            "from autonp.nn import functional as F\n"
            "assert not _numba.ENABLED\n"
            "x = anp.Tensor(np.arange(32.0).reshape(1, 2, 4, 4), requires_grad=True)\n"
            "y = F.max_pool2d(x, 2)\n"
            "assert y.numpy().reshape(-1).tolist() == [5.0, 7.0, 13.0, 15.0, 21.0, 23.0, 29.0, 31.0]\n"
            "anp.sum(y * np.arange(8.0).reshape(1, 2, 2, 2)).backward()\n"
            "print(x.grad.numpy()[0, 1].tolist())\n")
    assert python_output(code, AUTONP_NUMBA="0") == str([[0.0] * 4, [0.0, 4.0, 0.0, 5.0], [0.0] * 4,
                                                        [0.0, 6.0, 0.0, 7.0]])


def test_a_kernel_larger_than_the_padded_input_is_a_clear_error():
    x, w = anp.Tensor(np.ones((1, 1, 3, 3)), requires_grad=True), anp.Tensor(np.ones((1, 1, 5, 5)), requires_grad=True)
    with pytest.raises(anp.OpError, match=r"conv2d.*5×5 kernel does not fit an input of spatial size 3×3"):
        F.conv2d(x, w)
    assert F.conv2d(x, w, padding=1).shape == (1, 1, 1, 1)
